"""Who may do what: every cell of the access matrix, for token and session clients.

MATRIX is the one source: the table in docs/access-matrix.md is generated from it
(``python tests/test_permissions.py`` prints it) and a test fails when the two differ.
Each row is one route and method with the status an anonymous client, a curator (an
authenticated non-staff user) and a staff user get. Rows marked "someone else's" act
on a row another curator created; "own" on one the acting user created (staff act on
the curator's). Every request runs against fresh rows in the test's database; task
starts never reach a worker (their enqueue waits for a commit that never comes here).
"""

from __future__ import annotations

import io
import re
from dataclasses import dataclass, field
from pathlib import Path

import pytest

ACCESS_MATRIX_DOC = Path(__file__).resolve().parent.parent / "docs" / "access-matrix.md"


@dataclass(frozen=True)
class Cell:
    method: str
    path: str  # {name} placeholders are filled from the `world` fixture
    what: str
    curator: int
    staff: int
    anonymous: int = 401
    body: dict | None = field(default=None, hash=False)
    multipart: bool = False
    token: bool = True  # False: a page, signed into with the session only (a token gets what anonymous gets)
    group: str = ""

    @property
    def label(self) -> str:
        return f"{self.method} {self.path}"


def _rows(group: str, *cells: Cell) -> list[Cell]:
    return [Cell(**{**c.__dict__, "group": group}) for c in cells]


C = Cell
MATRIX: list[Cell] = [
    *_rows(
        "Collections: every curator sees and exports every collection; only its creator or staff change it",
        C("GET", "/api/v1/collection/", "list collections", 200, 200),
        C("POST", "/api/v1/collection/", "create a collection", 201, 201, body={"title": "new"}),
        C("GET", "/api/v1/collection/{collection}/", "fetch someone else's collection", 200, 200),
        C("PUT", "/api/v1/collection/{own_collection}/", "edit own collection", 200, 200, body={"title": "renamed"}),
        C("PATCH", "/api/v1/collection/{own_collection}/", "edit own collection", 200, 200, body={"notes": "seen"}),
        C("POST", "/api/v1/collection/{own_collection}/media/", "add media to own collection", 201, 201, body={"media_id": "{media2}"}),
        C("DELETE", "/api/v1/collection/{own_collection}/media/{media}/", "remove media from own collection", 200, 200),
        C("PUT", "/api/v1/collection/{collection}/", "edit someone else's collection", 403, 200, body={"title": "renamed"}),
        C("PATCH", "/api/v1/collection/{collection}/", "edit someone else's collection", 403, 200, body={"notes": "seen"}),
        C("POST", "/api/v1/collection/{collection}/media/", "add media to someone else's collection", 403, 201, body={"media_id": "{media2}"}),
        C("DELETE", "/api/v1/collection/{collection}/media/{media}/", "remove media from someone else's collection", 403, 200),
        C("GET", "/api/v1/collection/{collection}/export/", "export someone else's collection (ZIP)", 200, 200),
        C("DELETE", "/api/v1/collection/{own_collection}/", "delete own collection", 200, 200),
        C("DELETE", "/api/v1/collection/{collection}/", "delete someone else's collection", 403, 200),
    ),
    *_rows(
        "Media: everyone reads; deleting removes files and index entries for everyone",
        C("GET", "/api/v1/media/", "list media", 200, 200),
        C("GET", "/api/v1/media/id/{media}/", "fetch a media", 200, 200),
        C("GET", "/api/v1/media/sha256/{sha256}/", "fetch a media by sha256", 200, 200),
        C("GET", "/api/v1/media/info/", "counts and disk space", 200, 200),
        C("GET", "/api/v1/media/random/", "a random media", 200, 200),
        C("GET", "/api/v1/media/id/{media}/duplicates/", "a media's near-duplicates (latest run)", 200, 200),
        C("DELETE", "/api/v1/media/id/{media}/", "delete a media", 403, 200),
        C("GET", "/files/{file}", "a stored file (original or thumbnail)", 200, 200),
        C("GET", "/files/{folder}", "a stored folder (hidden: 404)", 404, 404),
        C("GET", "/files/{own_batch_report}", "the report file of an own batch search", 200, 200),
        C("GET", "/files/{batch_report}", "the report file of someone else's batch search (hidden: 404)", 404, 200),
    ),
    *_rows(
        "Uploads: shared query images (the same bytes are stored once for everyone)",
        C("GET", "/api/v1/upload/", "list uploads", 200, 200),
        C("POST", "/api/v1/upload/", "upload a query image (rate-limited: upload)", 201, 201, body={"image": "new"}, multipart=True),
        C("GET", "/api/v1/upload/{upload}/", "fetch someone else's upload", 200, 200),
        C("DELETE", "/api/v1/upload/{own_upload}/", "delete own upload", 200, 200),
        C("DELETE", "/api/v1/upload/{upload}/", "delete someone else's upload", 403, 200),
    ),
    *_rows(
        "Search (rate-limited: search)",
        C("GET", "/api/v1/search/media/{media}/", "search by media", 200, 200),
        C("GET", "/api/v1/search/sha256/{sha256}/", "search by sha256", 200, 200),
        C("GET", "/api/v1/search/upload/{upload}/", "search by upload", 200, 200),
        C("GET", "/api/v1/search/text/", "search by words (text read on pictures, labels)", 200, 200, body={"q": "sign"}),
        C("GET", "/api/v1/search/random/{seed}/", "search by a random media", 200, 200),
        C("GET", "/api/v1/search/detections/", "media by a label of their stored detections", 200, 200, body={"label": "munition"}),
        C("GET", "/api/v1/search/detections/media/{media}/", "the stored detections of a media", 200, 200),
        C("GET", "/api/v1/search/info/", "default feature, index, memory", 200, 200),
        C("GET", "/api/v1/search/records/", "the search record: every search, by whom, with its results", 403, 200),
        C("POST", "/api/v1/search/batch/", "start a batch reverse search from uploaded images", 202, 202, multipart=True),
        C("GET", "/api/v1/search/batch/{own_batch}/report.html", "report of an own batch search", 200, 200),
        C("GET", "/api/v1/search/batch/{own_batch}/report.csv", "report of an own batch search (CSV)", 200, 200),
        C("GET", "/api/v1/search/batch/{batch}/report.zip", "report of someone else's batch search (hidden: 404)", 404, 200),
        C("POST", "/api/v1/search/load/{feature}/", "make a feature the default for everyone", 403, 200),
        C("POST", "/api/v1/search/load_detection_model/{detector}/", "select the detection model for everyone", 403, 200),
        C("GET", "/api/v1/search/load/{feature}/", "a GET changes nothing (POST only)", 403, 405),
        C("GET", "/api/v1/search/load_detection_model/{detector}/", "a GET changes nothing (POST only)", 403, 405),
    ),
    *_rows(
        "Features and models: features decide what every search answers and cost a full embedding pass",
        C("GET", "/api/v1/feature/", "list features", 200, 200),
        C("GET", "/api/v1/feature/{feature}/", "fetch a feature", 200, 200),
        C("POST", "/api/v1/feature/", "create a feature (schedules its build)", 403, 201, body={"modelzoo_name": "tiny-random", "index_type": "flat"}),
        C("PUT", "/api/v1/feature/{feature}/", "change a feature", 403, 200, body={"active": False}),
        C("DELETE", "/api/v1/feature/{feature}/", "delete a feature, its vectors and index", 403, 200),
        C("GET", "/api/v1/feature/{feature}/duplicates/", "browse or export a feature's near-duplicate groups", 200, 200),
        C("POST", "/api/v1/feature/{feature}/duplicates/", "start a near-duplicate run (only reads the index)", 202, 202, body={"threshold": 0.95, "k": 5}),
        C(
            "POST",
            "/api/v1/feature/{feature}/duplicates/review/",
            "mark a near-duplicate group reviewed (team state, no media change)",
            200,
            200,
            body={"media_ids": ["{media}", "{media2}"], "keep": "{media}"},
        ),
        C("GET", "/api/v1/modelzoo/", "list models", 200, 200),
        C("GET", "/api/v1/modelzoo/name/{model}/", "fetch a model", 200, 200),
    ),
    *_rows(
        "Tasks: everyone runs the test task and sees their own runs; staff run the heavy tasks and see every run",
        C("GET", "/api/v1/task/", "tasks this user may run", 200, 200),
        C("GET", "/api/v1/task/info/", "queues and workers (curators: only their own tasks listed)", 200, 200),
        C("POST", "/api/v1/task/test/", "run the test task", 202, 202, body={"steps": 1, "interval": 0}),
        C("POST", "/api/v1/task/run/", "run the test task", 202, 202, body={"task_name": "test", "params": {"steps": 1, "interval": 0}}),
        C("POST", "/api/v1/task/run/", "run ingest_folder", 403, 202, body={"task_name": "ingest_folder", "params": {"path": "{ingest_dir}"}}),
        C("POST", "/api/v1/task/run/", "run download_model", 403, 202, body={"task_name": "download_model", "params": {"name": "{model}"}}),
        C("POST", "/api/v1/task/run/", "run build_index", 403, 202, body={"task_name": "build_index", "params": {"feature_id": "{feature}"}}),
        C("GET", "/api/v1/task/recent/", "recent runs (curators: their own)", 200, 200),
        C("GET", "/api/v1/task/{own_task}/", "a run this user started", 200, 200),
        C("GET", "/api/v1/task/{task}/", "someone else's run (hidden: 404)", 404, 200),
        C("POST", "/api/v1/task/{own_task}/cancel/", "cancel a run this user started", 200, 200),
        C("POST", "/api/v1/task/{task}/cancel/", "cancel someone else's run (hidden: 404)", 404, 200),
        C("GET", "/api/v1/socket/clients/", "connected websocket clients and workers", 200, 200),
    ),
    *_rows(
        "Documentation, pages and admin",
        C("GET", "/api/v1/schema/", "OpenAPI schema", 200, 200),
        C("GET", "/api/v1/docs/", "API docs", 200, 200),
        C("GET", "/dashboard/", "the curators' pages (search, media, collections, uploads, dashboard; session only)", 200, 200, anonymous=302, token=False),
        C("GET", "/admin/", "Django admin (session only)", 302, 200, anonymous=302, token=False),
    ),
]


def _status_text(code: int) -> str:
    return {200: "200", 201: "201", 202: "202", 302: "302 to login", 401: "401", 403: "**403**", 404: "404", 405: "405"}[code]


def matrix_table() -> str:
    """The table of docs/access-matrix.md, made from MATRIX."""
    lines = [
        "| route | what | anonymous | curator | staff |",
        "| --- | --- | --- | --- | --- |",
    ]
    group = None
    for cell in MATRIX:
        if cell.group != group:
            group = cell.group
            lines.append(f"| **{group}** | | | | |")
        path = cell.path.replace("/api/v1/", "")
        lines.append(f"| `{cell.method} {path}` | {cell.what} | {_status_text(cell.anonymous)} | {_status_text(cell.curator)} | {_status_text(cell.staff)} |")
    return "\n".join(lines)


# --- fixtures --------------------------------------------------------------------------------


@pytest.fixture
def world(user, staff, django_user_model, settings, tmp_path):
    """A media pair, uploads and collections of the curator and of another curator, a
    built feature, and task runs of both; returns the placeholder values."""
    from collections_app.services import collection_add_media, collection_create
    from media_app.services import media_create_image, upload_create
    from search_app.indexing.build import feature_update_index
    from search_app.models import Feature
    from tasks_app.services import task_start
    from tests.images import make_image_bytes

    settings.ALLOW_RANDOM_WEIGHTS = True
    settings.MODELS_DIR = tmp_path / "models"
    settings.REDIS_URL = None
    settings.TASKS_INLINE = True
    settings.TASKS_EAGER = True
    settings.CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
    ingest_dir = tmp_path / "ingest"
    ingest_dir.mkdir()
    settings.INGEST_ALLOWED_DIRS = [str(ingest_dir)]

    other = django_user_model.objects.create_user(username="other", password="other-pass-123")
    media = [media_create_image(stream=io.BytesIO(make_image_bytes(64, 48, seed=s)), original_name=f"m{s}.jpg")[0] for s in range(3)]
    upload, _ = upload_create(stream=io.BytesIO(make_image_bytes(64, 48, seed=100)), original_name="theirs.jpg", user=other)
    own_upload, _ = upload_create(stream=io.BytesIO(make_image_bytes(64, 48, seed=101)), original_name="mine.jpg", user=user)
    collection = collection_create(title="theirs", user=other)
    collection_add_media(collection=collection, media=media[0], user=other)
    own_collection = collection_create(title="mine", user=user)
    collection_add_media(collection=own_collection, media=media[0], user=user)
    feature = Feature.objects.create(modelzoo_name="tiny-random", index_type="flat")
    feature_update_index(feature=feature)
    params = {"steps": 1, "interval": 0}

    def batch_run(owner) -> str:
        # A finished batch search with its report, as the task leaves it.
        from search_app.analysis.batch import batch_search_run
        from tasks_app.models import TaskRun, TaskState

        queries = [{"upload_id": own_upload.pk, "name": "mine.jpg"}]
        run = task_start(name="batch_search", params={"queries": queries}, user=owner)
        result = batch_search_run(task_id=run.task_id, user=owner, queries=queries, k=2)
        TaskRun.objects.filter(pk=run.pk).update(state=TaskState.SUCCESS, result=result)
        return run.task_id

    def report_file(task_id: str) -> str:
        from tasks_app.models import TaskRun

        return TaskRun.objects.get(task_id=task_id).result["files"]["html"]

    return {
        "curator": user,
        "staff": staff,
        "media": media[0].pk,
        "media2": media[1].pk,
        "sha256": media[0].sha256,
        "file": media[0].file.name,
        "upload": upload.pk,
        "own_upload": own_upload.pk,
        "collection": collection.pk,
        "own_collection": own_collection.pk,
        "feature": feature.pk,
        "seed": "7",
        "detector": "detector-random",
        "model": "tiny-random",
        "ingest_dir": str(ingest_dir),
        "task": task_start(name="test", params=params, user=other).task_id,
        "own_task": {"curator": task_start(name="test", params=params, user=user).task_id, "staff": task_start(name="test", params=params, user=staff).task_id},
        "batch": (batch := batch_run(other)),
        "own_batch": (own_batch := {"curator": batch_run(user), "staff": batch_run(staff)}),
        "folder": media[0].file.name.rsplit("/", 1)[0],
        "batch_report": report_file(batch),
        "own_batch_report": {role: report_file(task_id) for role, task_id in own_batch.items()},
    }


def _fill(value, world: dict, role: str):
    """Placeholders in paths and bodies; ids stay ints in JSON bodies."""
    if isinstance(value, dict):
        return {k: _fill(v, world, role) for k, v in value.items()}
    if isinstance(value, list):
        return [_fill(v, world, role) for v in value]
    if not isinstance(value, str) or "{" not in value:
        return value

    def lookup(name: str):
        got = world[name]
        # Per-role values ("own" rows); an anonymous client tries the curator's.
        return got.get(role, got["curator"]) if isinstance(got, dict) else got

    if value.startswith("{") and value.endswith("}") and value.count("{") == 1:
        return lookup(value[1:-1])
    return re.sub(r"\{([a-z_0-9]+)\}", lambda m: str(lookup(m.group(1))), value)


def _client(kind: str, user):
    """A client signed in as ``user`` with a token, or with a session that sends the
    CSRF token the way the pages do (cookie + X-CSRFToken header)."""
    from django.middleware.csrf import _get_new_csrf_string
    from django.test import Client
    from rest_framework.authtoken.models import Token

    client = Client(enforce_csrf_checks=True)
    headers = {}
    if user is not None and kind == "token":
        headers["Authorization"] = f"Token {Token.objects.get_or_create(user=user)[0].key}"
    elif user is not None:
        client.force_login(user)
        secret = _get_new_csrf_string()
        client.cookies["csrftoken"] = secret
        headers["X-CSRFToken"] = secret
    return client, headers


def _request(cell: Cell, world: dict, kind: str, role: str):
    from tests.images import make_image_bytes

    user = world.get(role)
    client, headers = _client(kind, user)
    path = _fill(cell.path, world, role)
    body = _fill(cell.body, world, role) if cell.body is not None else None
    method = cell.method.lower()
    if cell.multipart:
        from django.core.files.uploadedfile import SimpleUploadedFile

        image = SimpleUploadedFile("query.jpg", make_image_bytes(64, 48, seed=500), content_type="image/jpeg")
        return client.post(path, {"files" if "/batch/" in path else "image": image}, headers=headers)
    if body is not None:
        return getattr(client, method)(path, body, content_type="application/json", headers=headers)
    if method == "post":
        # No body, as the pages send it (the test client would otherwise claim an empty
        # multipart body, which the JSON-only task views refuse with a 415).
        return client.post(path, "", content_type="application/json", headers=headers)
    return getattr(client, method)(path, headers=headers)


def _check(res, cell: Cell, expected: int) -> None:
    assert res.status_code == expected, (cell.label, cell.what, res.status_code, res.content[:400])
    if cell.path.startswith("/api/") and res.get("Content-Type", "").startswith("application/json"):
        body = res.json()
        assert body["status"] == ("ok" if expected < 400 else "error"), body
        if expected == 403:
            assert body["error"]["code"] == "permission_denied", body
    if expected == 302:
        assert "login" in res["Location"]


IDS = [f"{c.method} {c.path} [{c.what}]" for c in MATRIX]


@pytest.mark.parametrize("kind", ["token", "session"])
@pytest.mark.parametrize("cell", MATRIX, ids=IDS)
def test_curator_cell(cell, kind, world):
    expected = cell.curator if kind == "session" or cell.token else cell.anonymous
    _check(_request(cell, world, kind, "curator"), cell, expected)


@pytest.mark.parametrize("kind", ["token", "session"])
@pytest.mark.parametrize("cell", MATRIX, ids=IDS)
def test_staff_cell(cell, kind, world):
    expected = cell.staff if kind == "session" or cell.token else cell.anonymous
    _check(_request(cell, world, kind, "staff"), cell, expected)


@pytest.mark.parametrize("cell", MATRIX, ids=IDS)
def test_anonymous_cell(cell, world):
    _check(_request(cell, world, "token", "anonymous"), cell, cell.anonymous)


def test_the_access_matrix_document_is_the_matrix():
    text = ACCESS_MATRIX_DOC.read_text()
    assert matrix_table() in text, "docs/access-matrix.md is out of date: paste the output of `python tests/test_permissions.py`"


def _api_methods(callback) -> set[str]:
    """The HTTP methods a resolved API view answers (OPTIONS and HEAD aside)."""
    actions = getattr(callback, "actions", None)  # a ViewSet's as_view({...})
    if actions:
        # DRF adds "head" to a viewset's actions at its first request: not a decision.
        return {m.upper() for m in actions} - {"HEAD", "OPTIONS"}
    view_class = getattr(callback, "view_class", None) or getattr(callback, "cls", None)
    return {m.upper() for m in ("get", "post", "put", "patch", "delete") if view_class is not None and hasattr(view_class, m)}


def test_every_api_route_and_method_is_in_the_matrix():
    """A route or method added later must get a row (and a decision) here."""
    from django.urls import resolve

    from tests.test_access import URLS

    # (A row whose method is refused with 405 shows a method the route does not have.)
    have = {(c.method, re.sub(r"\{[a-z_0-9]+\}", "X", c.path)) for c in MATRIX if c.staff != 405}
    missing, checked = [], 0
    for url in URLS:
        if not url.startswith("/api/v1/") or url.startswith("/api/v1/redoc/"):
            continue
        shape = re.sub(r"/(1|x)(?=/)", "/X", url)
        for method in _api_methods(resolve(url).func):
            checked += 1
            if (method, shape) not in have:
                missing.append(f"{method} {url}")
    assert missing == []
    # ...and no row describes a route or method that does not exist.
    assert checked == len({(m, p) for m, p in have if p.startswith("/api/v1/")})


if __name__ == "__main__":
    print(matrix_table())
