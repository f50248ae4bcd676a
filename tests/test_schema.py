"""The OpenAPI schema: generated without warnings, valid OpenAPI 3, every route of the
API document present, and success bodies described inside the envelope."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml
from django.core.management import call_command

API_ROUTES_DOC = Path(__file__).resolve().parent.parent / "docs" / "api-routes.md"


@pytest.fixture(scope="module")
def schema(django_db_blocker):
    import io

    out = io.StringIO()
    with django_db_blocker.unblock():
        call_command("spectacular", "--validate", "--fail-on-warn", "--format", "openapi", stdout=out)
    return yaml.safe_load(out.getvalue())


def _document_routes() -> list[tuple[str, str]]:
    text = API_ROUTES_DOC.read_text()
    routes = re.findall(r"^### (GET|POST|PUT|DELETE) (/api/v1/\S*)$", text, flags=re.M)
    return [(m, re.sub(r"<(?:string:|int:)?([a-z_]+)>", r"{\1}", p)) for m, p in routes]


def test_schema_is_valid_and_generates_without_warnings(schema):
    assert schema["openapi"].startswith("3.")


def test_every_route_of_the_api_document_is_in_the_schema(schema):
    paths = schema["paths"]

    def normalise(p: str) -> str:
        return re.sub(r"\{[^}]+\}", "{}", p)

    have = {(m.lower(), normalise(p)) for p, ops in paths.items() for m in ops}
    routes = _document_routes()
    assert routes, "docs/api-routes.md lists no routes"
    missing = [(m, p) for m, p in routes if (m.lower(), normalise(p)) not in have]
    assert missing == []


def test_success_bodies_are_described_in_the_envelope(schema):
    op = schema["paths"]["/api/v1/media/"]["get"]
    body = op["responses"]["200"]["content"]["application/json"]["schema"]
    assert body["properties"]["status"]["enum"] == ["ok"] and "res" in body["properties"]
    assert "401" in op["responses"]


def test_docs_are_served_offline(api):
    res = api.get("/api/v1/docs/")
    assert res.status_code == 200
    assert b"cdn" not in res.content.lower() or b"static/drf_spectacular_sidecar" in res.content
