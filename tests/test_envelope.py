"""The envelope and error shapes that every route shares."""

from __future__ import annotations


def test_unknown_api_path_is_a_404_in_the_envelope(api):
    res = api.get("/api/v1/nope/")
    assert res.status_code == 404
    assert res.json()["status"] == "error"
    assert res.json()["error"]["code"] == "not_found"


def test_anonymous_request_is_401_in_the_envelope(anon, db):
    res = anon.get("/api/v1/media/")
    assert res.status_code in (401, 404)
