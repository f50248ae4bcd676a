"""Export of a collection as a streamed ZIP: read back member by member."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import re
import struct
import warnings
import zipfile

import pytest
from asgiref.sync import async_to_sync
from django.core.files.base import ContentFile
from django.core.files.storage import FileSystemStorage, default_storage

from collections_app import export as export_module
from collections_app.api.views import ZipStreamingResponse
from collections_app.services import collection_add_media
from media_app.models import Media, MediaType

pytestmark = pytest.mark.django_db

BASE = "/api/v1/collection/"
TEXT_MEMBERS = ["manifest.json", "manifest.csv", "report.md", "report.html", "searches.json", "detections.json"]


def read_zip(response) -> tuple[zipfile.ZipFile, list[bytes]]:
    assert response.status_code == 200, response.content
    assert response.streaming
    chunks = list(response.streaming_content)
    archive = zipfile.ZipFile(io.BytesIO(b"".join(chunks)))
    assert archive.testzip() is None  # every member's CRC checks out
    return archive, chunks


def manifest(archive: zipfile.ZipFile) -> dict:
    return json.loads(archive.read("manifest.json"))


def stored_media(*, data: bytes, media_type: str, name: str, parent: Media | None = None, **fields) -> Media:
    """A Media row with a stored file, for types media_app has no service for here."""
    sha = hashlib.sha256(data).hexdigest()
    file_name = default_storage.save(f"media/{sha[:2]}/{sha}{name[name.rfind('.') :]}", ContentFile(data))
    return Media.objects.create(
        sha256=sha, media_type=media_type, file=file_name, byte_size=len(data), original_name=name, parent=parent, format=name.rsplit(".", 1)[-1], **fields
    )


@pytest.fixture
def case(make_collection, make_media, user):
    """A collection with two images, a video and one of its frames, with notes."""
    collection = make_collection("Convoy at the border", notes="# Findings\n\nSeen at **dawn**.\n\n<script>alert(1)</script>")
    image_a = make_media(1, original_name="scene one.jpg")
    image_b = make_media(2, original_name="IMG_0002.png", fmt="PNG")
    video = stored_media(
        data=b"\x00\x00\x00\x18ftypmp42" + bytes(range(256)) * 40, media_type=MediaType.VIDEO, name="clip.mp4", duration=3.5, width=640, height=360
    )
    frame_bytes = image_b.test_bytes[::-1]  # any bytes will do for a frame's file
    frame = stored_media(
        data=frame_bytes, media_type=MediaType.VIDEO_FRAME, name="clip_f12.jpg", parent=video, frame_number=12, timestamp=0.5, width=640, height=360
    )
    for media in (image_a, image_b, video, frame):
        collection_add_media(collection=collection, media=media, user=user)
    video.test_bytes = video.file.open("rb").read()
    video.file.close()
    frame.test_bytes = frame_bytes
    return collection, [image_a, image_b, video, frame]


def test_export_contains_every_original_byte_for_byte_and_the_four_documents(api, case):
    collection, media = case
    archive, _ = read_zip(api.get(f"{BASE}{collection.pk}/export/"))
    names = archive.namelist()
    media_names = [n for n in names if n.startswith("media/")]
    assert sorted(names) == sorted(media_names + TEXT_MEMBERS)
    assert len(media_names) == 4
    rows = {row["id"]: row for row in manifest(archive)["items"]}
    for item in media:
        member = rows[item.pk]["file"]
        assert re.fullmatch(rf"media/{item.pk}_{item.sha256[:12]}_[^/]+\.\w+", member)
        data = archive.read(member)
        assert data == item.test_bytes
        assert hashlib.sha256(data).hexdigest() == item.sha256
    # originals are stored, text is deflated
    assert archive.getinfo(media_names[0]).compress_type == zipfile.ZIP_STORED
    assert all(archive.getinfo(n).compress_type == zipfile.ZIP_DEFLATED for n in TEXT_MEMBERS)


def test_export_member_names_use_the_original_name_and_stored_extension(api, case):
    collection, (image_a, image_b, video, frame) = case
    archive, _ = read_zip(api.get(f"{BASE}{collection.pk}/export/"))
    names = set(archive.namelist())
    assert f"media/{image_a.pk}_{image_a.sha256[:12]}_scene one.jpg" in names
    assert f"media/{image_b.pk}_{image_b.sha256[:12]}_IMG_0002.png" in names
    assert f"media/{video.pk}_{video.sha256[:12]}_clip.mp4" in names


def test_export_manifest_json_describes_every_item(api, case, user):
    collection, (image_a, image_b, video, frame) = case
    archive, _ = read_zip(api.get(f"{BASE}{collection.pk}/export/"))
    data = manifest(archive)
    assert data["collection"]["id"] == collection.pk
    assert data["collection"]["title"] == "Convoy at the border"
    assert data["collection"]["notes"].startswith("# Findings")
    assert data["exported_by"] == "curator"
    assert data["counts"] == {
        "items": 4,
        "images": 2,
        "videos": 1,
        "video_frames": 1,
        "files_ok": 4,
        "files_missing": 0,
        "files_hash_mismatch": 0,
        "files_incomplete": 0,
    }
    rows = {row["id"]: row for row in data["items"]}
    assert set(rows[image_a.pk]) == set(export_module.MANIFEST_FIELDS)
    a = rows[image_a.pk]
    assert (a["sha256"], a["media_type"], a["original_name"], a["source_path"]) == (image_a.sha256, "image", "scene one.jpg", "/evidence/scene one.jpg")
    assert (a["width"], a["height"], a["byte_size"], a["status"], a["error"]) == (64, 48, len(image_a.test_bytes), "ok", None)
    assert (a["added_by"], a["parent_id"], a["parent_sha256"], a["frame_number"]) == ("curator", None, None, None)
    assert a["added_at"]
    f = rows[frame.pk]
    assert (f["media_type"], f["parent_id"], f["parent_sha256"], f["frame_number"], f["timestamp"]) == ("video_frame", video.pk, video.sha256, 12, 0.5)
    assert (f["width"], f["height"]) == (640, 360)
    assert [row["id"] for row in data["items"]] == [m.pk for m in (image_a, image_b, video, frame)]


def test_export_manifest_csv_has_a_header_and_one_row_per_item(api, case):
    collection, media = case
    archive, _ = read_zip(api.get(f"{BASE}{collection.pk}/export/"))
    text = archive.read("manifest.csv").decode("utf-8-sig")
    rows = list(csv.DictReader(io.StringIO(text)))
    assert list(rows[0]) == export_module.MANIFEST_FIELDS
    assert [int(row["id"]) for row in rows] == [m.pk for m in media]
    json_rows = {row["id"]: row for row in manifest(archive)["items"]}
    for row in rows:
        expected = json_rows[int(row["id"])]
        assert row["sha256"] == expected["sha256"]
        assert row["file"] == expected["file"]
        assert row["parent_sha256"] == (expected["parent_sha256"] or "")


def test_export_reports_carry_title_notes_counts_and_items(api, case):
    collection, media = case
    archive, _ = read_zip(api.get(f"{BASE}{collection.pk}/export/"))
    md = archive.read("report.md").decode()
    assert md.startswith("# Convoy at the border\n")
    assert "# Findings" in md and "Seen at **dawn**." in md
    assert "Items: 4 (images 2, videos 1, video frames 1)" in md
    for item in media:
        assert item.sha256 in md
    html = archive.read("report.html").decode()
    assert "<h1>Convoy at the border</h1>" in html
    assert "<h1>Findings</h1>" in html and "<strong>dawn</strong>" in html
    assert "<script" not in html and "alert(1)" not in html  # notes sanitized
    assert "Content-Security-Policy" in html
    for item in media:
        assert item.sha256 in html
        assert f'href="media/{item.pk}_{item.sha256[:12]}_' in html


def test_export_filename_names_the_collection_id_title_and_date(api, case):
    collection, _ = case
    res = api.get(f"{BASE}{collection.pk}/export/")
    assert res["Content-Type"] == "application/zip"
    disposition = res["Content-Disposition"]
    assert disposition.startswith("attachment;")
    assert re.search(rf'filename="collection-{collection.pk}-convoy-at-the-border-\d{{8}}-\d{{6}}\.zip"', disposition)
    assert res["Cache-Control"] == "private, no-store"
    res.close()


def test_export_of_two_collections_with_the_same_title_get_different_filenames(api, make_collection):
    a, b = make_collection("Same"), make_collection("Same")
    name_a = api.get(f"{BASE}{a.pk}/export/")["Content-Disposition"]
    name_b = api.get(f"{BASE}{b.pk}/export/")["Content-Disposition"]
    assert name_a != name_b
    assert f"collection-{a.pk}-same-" in name_a and f"collection-{b.pk}-same-" in name_b


def test_export_filename_of_a_non_latin_title_is_encoded_for_the_header(api, make_collection):
    collection = make_collection("Колонна / نقطة")
    disposition = api.get(f"{BASE}{collection.pk}/export/")["Content-Disposition"]
    assert "filename*=utf-8''" in disposition
    assert f"collection-{collection.pk}-" in disposition


def test_export_of_an_empty_collection_has_only_the_documents(api, make_collection):
    collection = make_collection("Nothing yet")
    archive, _ = read_zip(api.get(f"{BASE}{collection.pk}/export/"))
    assert sorted(archive.namelist()) == sorted(TEXT_MEMBERS)
    data = manifest(archive)
    assert data["items"] == [] and data["counts"]["items"] == 0
    assert list(csv.reader(io.StringIO(archive.read("manifest.csv").decode("utf-8-sig")))) == [export_module.MANIFEST_FIELDS]
    assert "This collection is empty" in archive.read("report.md").decode()
    assert "This collection is empty" in archive.read("report.html").decode()


def test_export_lists_a_missing_stored_file_as_missing_and_still_includes_the_rest(api, case):
    collection, (image_a, image_b, video, frame) = case
    default_storage.delete(image_b.file.name)
    archive, _ = read_zip(api.get(f"{BASE}{collection.pk}/export/"))
    rows = {row["id"]: row for row in manifest(archive)["items"]}
    assert rows[image_b.pk]["status"] == "missing"
    assert rows[image_b.pk]["file"] is None
    assert rows[image_b.pk]["error"]
    assert not any(n.startswith(f"media/{image_b.pk}_") for n in archive.namelist())
    assert archive.read(rows[image_a.pk]["file"]) == image_a.test_bytes
    assert manifest(archive)["counts"]["files_missing"] == 1
    assert "missing" in archive.read("report.html").decode()


def test_export_flags_a_stored_file_whose_content_changed(api, case):
    collection, (image_a, *_rest) = case
    path = default_storage.path(image_a.file.name)
    with open(path, "wb") as handle:
        handle.write(b"tampered")
    archive, _ = read_zip(api.get(f"{BASE}{collection.pk}/export/"))
    row = next(r for r in manifest(archive)["items"] if r["id"] == image_a.pk)
    assert row["status"] == "hash_mismatch"
    assert hashlib.sha256(b"tampered").hexdigest() in row["error"]
    assert archive.read(row["file"]) == b"tampered"  # what storage holds, flagged as such


def test_export_marks_a_file_that_fails_part_way_as_incomplete(api, case, monkeypatch):
    collection, (image_a, *_rest) = case
    real_open = FileSystemStorage.open

    class FailsAfterFirstChunk:
        def __init__(self, handle):
            self.handle, self.reads = handle, 0

        def read(self, size=-1):
            self.reads += 1
            if self.reads > 1:
                raise OSError("disk went away")
            return self.handle.read(16)

        def close(self):
            self.handle.close()

    def flaky_open(storage, name, mode="rb"):
        handle = real_open(storage, name, mode)
        return FailsAfterFirstChunk(handle) if name == image_a.file.name else handle

    monkeypatch.setattr(FileSystemStorage, "open", flaky_open)
    archive, _ = read_zip(api.get(f"{BASE}{collection.pk}/export/"))
    row = next(r for r in manifest(archive)["items"] if r["id"] == image_a.pk)
    assert row["status"] == "incomplete"
    assert "disk went away" in row["error"]
    assert manifest(archive)["counts"]["files_incomplete"] == 1


def test_export_member_names_cannot_escape_the_media_folder(api, make_collection, make_media, user):
    collection = make_collection()
    for seed, name in enumerate(["../../etc/passwd.jpg", "..\\..\\boot.ini", "/abs/path.jpg", "\x00nul.jpg", "....jpg"]):
        collection_add_media(collection=collection, media=make_media(seed, original_name=name), user=user)
    archive, _ = read_zip(api.get(f"{BASE}{collection.pk}/export/"))
    for name in archive.namelist():
        assert ".." not in name.split("/")
        assert not name.startswith("/") and "\\" not in name and "\x00" not in name
        assert name in TEXT_MEMBERS or re.fullmatch(r"media/[^/]+", name)


def test_export_csv_neutralises_spreadsheet_formulas_but_json_keeps_the_value(api, make_collection, make_media, user):
    collection = make_collection()
    media = make_media(1, original_name="=HYPERLINK(evil).jpg")
    collection_add_media(collection=collection, media=media, user=user)
    archive, _ = read_zip(api.get(f"{BASE}{collection.pk}/export/"))
    (row,) = csv.DictReader(io.StringIO(archive.read("manifest.csv").decode("utf-8-sig")))
    assert row["original_name"] == "'=HYPERLINK(evil).jpg"
    assert manifest(archive)["items"][0]["original_name"] == "=HYPERLINK(evil).jpg"


def test_export_is_streamed_in_many_bounded_chunks_not_built_in_memory(api, case, monkeypatch):
    """With small read and flush sizes, the archive comes out in many small chunks:
    at no point did the view hold the whole ZIP."""
    monkeypatch.setattr(export_module, "READ_CHUNK", 512)
    monkeypatch.setattr(export_module, "FLUSH_AT", 512)
    collection, media = case
    res = api.get(f"{BASE}{collection.pk}/export/")
    assert isinstance(res, ZipStreamingResponse)
    assert not hasattr(res, "content") or res.streaming
    archive, chunks = read_zip(res)
    total = sum(len(c) for c in chunks)
    assert total > 10_000
    assert len(chunks) >= total // 2048
    assert max(len(c) for c in chunks) < 4096  # a read chunk plus ZIP headers, never the archive
    assert all(chunks)  # no empty chunks


def test_export_streams_chunk_by_chunk_under_asgi_too(api, case, monkeypatch):
    """Django's ASGI handler would collect a sync iterator into a list (the whole ZIP in
    memory, with a warning); the response's own async iterator hands out one chunk at a time."""
    monkeypatch.setattr(export_module, "READ_CHUNK", 512)
    monkeypatch.setattr(export_module, "FLUSH_AT", 512)
    collection, _ = case
    res = api.get(f"{BASE}{collection.pk}/export/")

    async def consume() -> list[bytes]:
        return [chunk async for chunk in aiter(res)]

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        chunks = async_to_sync(consume)()
    assert len(chunks) > 10
    archive = zipfile.ZipFile(io.BytesIO(b"".join(chunks)))
    assert archive.testzip() is None
    assert len(manifest(archive)["items"]) == 4


def test_export_of_an_unknown_collection_is_a_json_404_even_when_asking_for_zip(api):
    res = api.get(f"{BASE}424242/export/", HTTP_ACCEPT="application/zip")
    assert res.status_code == 404
    assert res["Content-Type"].startswith("application/json")
    assert res.json()["status"] == "error"


def test_export_answers_a_zip_whatever_the_accept_header(api, make_collection):
    collection = make_collection()
    for accept in ("application/zip", "application/json", "*/*", "image/png"):
        res = api.get(f"{BASE}{collection.pk}/export/", HTTP_ACCEPT=accept)
        read_zip(res)


def test_export_with_another_method_is_405(api, make_collection):
    collection = make_collection()
    assert api.post(f"{BASE}{collection.pk}/export/", {}, format="json").status_code == 405


def test_export_runs_a_fixed_number_of_queries_however_many_items(api, case, django_assert_max_num_queries):
    collection, _ = case
    with django_assert_max_num_queries(6):  # token, collection, items with media and parent, their detections, text read, labels
        res = api.get(f"{BASE}{collection.pk}/export/")
        read_zip(res)


def test_export_through_the_asgi_handler_is_sent_as_many_body_messages(user, api, case, monkeypatch):
    """The real ASGI path (the server runs under daphne): many http.response.body
    messages, each small, rather than one body collected in memory."""
    from django.core.handlers.asgi import ASGIHandler
    from django.core.signals import request_finished, request_started
    from django.db import close_old_connections
    from rest_framework.authtoken.models import Token

    monkeypatch.setattr(export_module, "READ_CHUNK", 512)
    monkeypatch.setattr(export_module, "FLUSH_AT", 512)
    collection, _ = case
    token = Token.objects.get(user=user)
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": f"{BASE}{collection.pk}/export/",
        "raw_path": f"{BASE}{collection.pk}/export/".encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(b"host", b"testserver"), (b"authorization", f"Token {token.key}".encode())],
        "client": ("127.0.0.1", 50000),
        "server": ("testserver", 80),
    }
    messages: list[dict] = []

    async def run() -> None:
        import asyncio

        requested = False
        never = asyncio.Event()

        async def receive() -> dict:
            nonlocal requested
            if not requested:
                requested = True
                return {"type": "http.request", "body": b"", "more_body": False}
            await never.wait()  # the client never disconnects

        async def send(message: dict) -> None:
            messages.append(message)

        await ASGIHandler()(scope, receive, send)

    # As Django's test client does: keep the test's database connection open.
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            async_to_sync(run)()
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)

    start, *bodies = messages
    assert start["type"] == "http.response.start" and start["status"] == 200
    chunks = [m["body"] for m in bodies if m.get("body")]
    assert len(chunks) > 10
    assert max(len(c) for c in chunks) < 4096
    archive = zipfile.ZipFile(io.BytesIO(b"".join(chunks)))
    assert archive.testzip() is None
    assert len(manifest(archive)["items"]) == 4


def test_export_writes_zip64_members_for_files_near_the_4gb_limit(api, case, monkeypatch):
    """Files that might pass 4 GiB get zip64 headers up front (they cannot be added
    once the bytes are out); pretend every file is that large."""
    monkeypatch.setattr(export_module, "_ZIP64_MARGIN", 10)
    collection, media = case
    archive, chunks = read_zip(api.get(f"{BASE}{collection.pk}/export/"))
    raw = b"".join(chunks)
    rows = {row["id"]: row for row in manifest(archive)["items"]}
    for item in media:
        info = archive.getinfo(rows[item.pk]["file"])
        assert archive.read(info) == item.test_bytes
        # the local header carries the zip64 extra field (id 0x0001) after the name
        name_length, extra_length = struct.unpack("<HH", raw[info.header_offset + 26 : info.header_offset + 30])
        extra_start = info.header_offset + 30 + name_length
        assert extra_length and raw[extra_start : extra_start + 2] == b"\x01\x00"


# --- the queries, thumbnails, per-item provenance ------------------------------------------------


@pytest.fixture
def found(make_collection, make_media, user, image_bytes):
    """A collection with one item found by searching an upload and one by searching a media."""
    from media_app.services import upload_create
    from search_app.models import SearchRecord

    upload, _ = upload_create(stream=io.BytesIO(image_bytes(80, 60, seed=40)), original_name="crop from a post.jpg", username=user.username)
    query_media = make_media(41, original_name="lead.jpg")
    hit_a, hit_b = make_media(42, original_name="scene_028_recoloured.jpg"), make_media(43)

    def record(**query):
        return SearchRecord.objects.create(
            user=user,
            username=user.username,
            route=query["query_type"],
            feature_id=1,
            modelzoo_name="efficientnet_lite0",
            weights_checksum="sha256:w",
            index_version=1,
            results=query.pop("results"),
            **query,
        )

    by_upload = record(
        query_type="upload",
        query_upload_id=upload.pk,
        query_sha256=upload.sha256,
        results=[{"rank": 1, "media_id": hit_a.pk, "sha256": hit_a.sha256, "score": 0.991, "match": "copy"}],
    )
    by_media = record(
        query_type="media",
        query_media_id=query_media.pk,
        query_sha256=query_media.sha256,
        results=[{"rank": 3, "media_id": hit_b.pk, "sha256": hit_b.sha256, "score": 0.87}],
    )
    collection = make_collection("Found", notes="# Findings\n\n## Detail\n\n```\n# not a heading\n```\n")
    collection_add_media(collection=collection, media=hit_a, user=user, search_record_id=by_upload.pk)
    collection_add_media(collection=collection, media=hit_b, user=user, search_record_id=by_media.pk)
    collection_add_media(collection=collection, media=make_media(44), user=user)
    return collection, upload, query_media, hit_a, hit_b, by_upload, by_media


def test_export_holds_the_query_images_with_their_hashes(api, found):
    collection, upload, query_media, hit_a, hit_b, by_upload, by_media = found
    archive, _ = read_zip(api.get(f"{BASE}{collection.pk}/export/"))
    doc = manifest(archive)

    queries = {q["kind"]: q for q in doc["queries"]}
    assert queries["upload"]["file"] == f"queries/upload-{upload.pk}_{upload.sha256[:12]}.jpg"
    assert queries["media"]["file"] == f"queries/media-{query_media.pk}_{query_media.sha256[:12]}.jpg"
    for q in queries.values():
        data = archive.read(q["file"])
        assert hashlib.sha256(data).hexdigest() == q["sha256"] and q["status"] == "ok"
    assert queries["upload"]["original_name"] == "crop from a post.jpg" and queries["upload"]["search_records"] == [by_upload.pk]

    rows = {row["id"]: row for row in doc["items"]}
    a, b = rows[hit_a.pk], rows[hit_b.pk]
    assert (a["search_query_file"], a["search_query_sha256"], a["search_match"]) == (queries["upload"]["file"], upload.sha256, "copy")
    assert (b["search_query_file"], b["search_rank"], b["search_match"]) == (queries["media"]["file"], 3, None)
    assert rows[hit_a.pk]["source_path"].endswith("scene_028_recoloured.jpg")
    csv_rows = list(csv.DictReader(io.StringIO(archive.read("manifest.csv").decode("utf-8-sig"))))
    assert {r["search_query_file"] for r in csv_rows} == {queries["upload"]["file"], queries["media"]["file"], ""}


def test_export_report_shows_thumbnails_queries_and_how_each_item_was_found(api, found):
    collection, upload, query_media, hit_a, *_ = found
    archive, _ = read_zip(api.get(f"{BASE}{collection.pk}/export/"))
    page = archive.read("report.html").decode()

    assert page.count('src="data:image/jpeg;base64,') >= 3 + 2  # every item, both queries
    assert "img-src data:" in page  # its own policy lets the embedded thumbnails show
    assert "<h2>Queries</h2>" in page and upload.sha256 in page and "crop from a post.jpg" in page
    assert '<span class="match">copy</span> #1 · 0.991' in page and "added by hand" in page
    assert hit_a.source_path in page
    assert page.count('<div class="table-wrap">') == 2  # items and how they were found scroll in their box
    assert ".notes h1 { font-size: 1.15rem; }" in page

    report = archive.read("report.md").decode()
    assert "### Findings" in report and "#### Detail" in report and "# not a heading" in report  # under "## Notes"
    assert "## Queries" in report and upload.sha256 in report


def test_export_of_items_found_by_search_costs_two_more_queries(api, found, django_assert_max_num_queries):
    collection, *_ = found
    with django_assert_max_num_queries(8):  # the six of any export, the uploads and media searched with
        read_zip(api.get(f"{BASE}{collection.pk}/export/"))
