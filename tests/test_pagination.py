"""The pager: exact pages in every sort order, and the per-row annotations computed for
the page's rows only (PostgreSQL evaluates the select list of every row OFFSET skips)."""

from __future__ import annotations

import io

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext


@pytest.fixture
def seven_media(db, image_bytes):
    from media_app.services import media_create_image

    return [media_create_image(stream=io.BytesIO(image_bytes(40, 30, seed=s)), original_name=f"p{s}.jpg")[0] for s in range(7)]


@pytest.mark.parametrize("sort", ["id", "date"])
@pytest.mark.parametrize("order", ["asc", "desc"])
def test_pages_are_exact_slices_in_every_sort_order(api, seven_media, sort, order):
    field = "pk" if sort == "id" else "created_at"
    expected = [m.pk for m in sorted(seven_media, key=lambda m: (getattr(m, field), m.pk), reverse=order == "desc")]
    got = []
    for offset in range(0, 7, 3):
        res = api.get("/api/v1/media/", {"offset": offset, "limit": 3, "sort": sort, "order": order}).json()["res"]
        assert res["count"] == 7 and res["offset"] == offset
        got += [m["id"] for m in res["results"]]
    assert got == expected


def test_the_offset_applies_to_the_keys_not_to_the_annotated_rows(api, seven_media):
    with CaptureQueriesContext(connection) as queries:
        res = api.get("/api/v1/media/", {"offset": 5, "limit": 2})
    assert [m["id"] for m in res.json()["res"]["results"]] == [m.pk for m in seven_media[5:7]]
    page_sql = next(q["sql"] for q in queries.captured_queries if "IN (SELECT" in q["sql"])
    # The OFFSET sits in the key subquery; the outer query (with the per-row subqueries)
    # reads only the page's rows.
    assert page_sql.index("OFFSET") > page_sql.index("IN (SELECT")
