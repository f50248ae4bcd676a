"""Batch reverse search: many query images, one match report.

The query images come from a request (files or a ZIP, stored as Uploads by
:func:`batch_queries_from_request`) or from a server folder allowed for ingest; the
task (:func:`batch_search_run`) searches each one, logs each search in the search
record, and writes the report as HTML (thumbnails embedded as data URIs, so it opens
offline), CSV, and a ZIP holding both plus searches.json.

Reports are written under the data dir through Django's storage, each under a fresh
unguessable name, and only named in the task's result once complete: a reader finds a
report only through that result, so a crash never exposes a half-written file.
"""

from __future__ import annotations

import base64
import html
import io
import json
import logging
import secrets
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.utils import timezone

from core.errors import DomainError, InvalidInput
from core.reports import UTF8_BOM, csv_chunks, html_page
from media_app.models import Upload

logger = logging.getLogger(__name__)

# Query images one batch may hold (files, ZIP members or folder files together).
MAX_QUERIES = 500
IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".gif", ".webp", ".bmp", ".tif", ".tiff"}
REPORT_FORMATS = ("html", "csv", "zip")


@dataclass
class BatchInput:
    """The stored query uploads (in order, with the name each came with) and the files
    that were skipped, each with a code and a reason."""

    queries: list[dict[str, Any]] = field(default_factory=list)
    skipped: list[dict[str, str]] = field(default_factory=list)


def _store_query(batch: BatchInput, *, name: str, stream: BinaryIO, user) -> None:
    from media_app.services import upload_create

    if len(batch.queries) >= MAX_QUERIES:
        batch.skipped.append({"name": name, "code": "too_many", "message": f"A batch holds at most {MAX_QUERIES} query images."})
        return
    try:
        upload, _ = upload_create(stream=stream, original_name=name, user=user)
    except DomainError as exc:
        batch.skipped.append({"name": name, "code": exc.code, "message": str(exc.message if hasattr(exc, "message") else exc)})
        return
    batch.queries.append({"upload_id": upload.pk, "name": name})


def _zip_members(batch: BatchInput, archive: BinaryIO, *, name: str, user) -> None:
    try:
        zf = zipfile.ZipFile(archive)
    except (zipfile.BadZipFile, OSError) as exc:
        batch.skipped.append({"name": name, "code": "bad_zip", "message": f"Not a readable ZIP file: {exc}"})
        return
    with zf:
        for info in sorted(zf.infolist(), key=lambda i: i.filename):
            member = info.filename
            if info.is_dir() or Path(member).name.startswith(".") or "__MACOSX" in member:
                continue
            if info.file_size > settings.MAX_UPLOAD_BYTES:
                # Checked on the declared size, before a (possibly compressed-bomb) member is read.
                batch.skipped.append(
                    {"name": member, "code": "payload_too_large", "message": f"{info.file_size} bytes, above the limit of {settings.MAX_UPLOAD_BYTES}."}
                )
                continue
            try:
                data = zf.read(info)
            except Exception as exc:
                batch.skipped.append({"name": member, "code": "bad_zip_member", "message": f"Could not be read from the ZIP: {exc}"})
                continue
            _store_query(batch, name=member, stream=io.BytesIO(data), user=user)


def batch_queries_from_request(*, files: list, archives: list, user) -> BatchInput:
    """Store every uploaded image (and every member of every uploaded ZIP) as an Upload,
    validating each like the upload route; bad ones are skipped with their reason."""
    batch = BatchInput()
    for uploaded in files:
        _store_query(batch, name=uploaded.name or "upload", stream=uploaded, user=user)
    for uploaded in archives:
        _zip_members(batch, uploaded, name=uploaded.name or "upload.zip", user=user)
    return batch


def batch_queries_from_folder(*, path: str, user) -> BatchInput:
    """Store the images under an allowed server folder (checked by the task's params)."""
    batch = BatchInput()
    for file in sorted(p for p in Path(path).rglob("*") if p.is_file()):
        rel = str(file.relative_to(path))
        if file.suffix.lower() not in IMAGE_SUFFIXES:
            batch.skipped.append({"name": rel, "code": "not_an_image", "message": "Not an image file name."})
            continue
        with file.open("rb") as fh:
            _store_query(batch, name=rel, stream=fh, user=user)
    return batch


# --- the run -----------------------------------------------------------------------------


def batch_search_run(
    *,
    task_id: str,
    user=None,
    queries: list[dict[str, Any]] | None = None,
    path: str = "",
    k: int = 5,
    min_score: float | None = None,
    feature_id: int | None = None,
    skipped: list[dict[str, str]] | None = None,
    reporter=None,
) -> dict[str, Any]:
    """Search each query image (top ``k`` above ``min_score`` on ``feature_id`` or the
    default feature), log each search, write the report; returns the task's result.

    Idempotent: the query uploads and their vectors are kept, so a rerun searches the
    same images again and writes a fresh report (each run its own files).
    """
    from search_app.query import records, search
    from search_app.query.sources import UploadSource

    batch = BatchInput(queries=list(queries or []), skipped=list(skipped or []))
    if path:
        from_folder = batch_queries_from_folder(path=path, user=user)
        batch.queries += from_folder.queries
        batch.skipped += from_folder.skipped
    total = len(batch.queries)
    report = reporter or (lambda *a, **kw: None)
    report(0, total, "starting")
    uploads = {u.pk: u for u in Upload.objects.filter(pk__in=[q["upload_id"] for q in batch.queries])}
    options = search.SearchOptions(limit=k, min_score=min_score, feature_id=feature_id)
    rows: list[dict[str, Any]] = []
    record_dicts: list[dict[str, Any]] = []
    feature_info: dict[str, Any] | None = None
    for n, query in enumerate(batch.queries, 1):
        upload = uploads.get(query["upload_id"])
        if upload is None:
            batch.skipped.append({"name": query["name"], "code": "not_found", "message": "The stored query image was deleted."})
            report(n, total, f"{query['name']}: deleted")
            continue
        outcome = search.search_run(source=UploadSource(upload), options=options)
        record = records.search_record_create(outcome=outcome, options=options, route="batch", user=user)
        record_dicts.append(records.search_record_as_dict(record))
        feature_info = {
            "id": outcome.feature.pk,
            "modelzoo_name": outcome.feature.modelzoo_name,
            "index_version": outcome.index.version,
            "weights_checksum": record.weights_checksum,
        }
        matches = [
            {"rank": i + 1, "score": round(float(hit.score), 6), "media": outcome.media[hit.media_id]}
            for i, hit in enumerate(outcome.hits)
            if hit.media_id in outcome.media
        ]
        rows.append({"name": query["name"], "upload": upload, "record_id": record.pk, "matches": matches})
        report(n, total, f"{query['name']}: {len(matches)} match(es)")

    files = _write_reports(task_id=task_id, rows=rows, skipped=batch.skipped, records=record_dicts, feature=feature_info, k=k, min_score=min_score)
    base = f"/api/v1/search/batch/{task_id}"
    return {
        "queries": len(rows),
        "queries_with_matches": sum(1 for r in rows if r["matches"]),
        "matches": sum(len(r["matches"]) for r in rows),
        "skipped": batch.skipped[:200],
        "k": k,
        "min_score": min_score,
        "feature": feature_info,
        "record_ids": [r["record_id"] for r in rows],
        "report": {fmt: f"{base}/report.{fmt}" for fmt in REPORT_FORMATS},
        "files": files,
    }


# --- the report ---------------------------------------------------------------------------

CSV_FIELDS = [
    "query",
    "query_name",
    "query_sha256",
    "query_upload_id",
    "record_id",
    "rank",
    "score",
    "media_id",
    "media_sha256",
    "media_type",
    "original_name",
    "source_path",
]


def _report_rows(rows: list[dict]) -> Iterator[list]:
    """The CSV header, then one line per match (one with empty match columns for a
    query without matches)."""
    yield CSV_FIELDS
    for q, row in enumerate(rows, 1):
        upload = row["upload"]
        base = [q, row["name"], upload.sha256, upload.pk, row["record_id"]]
        if not row["matches"]:
            yield base + [""] * (len(CSV_FIELDS) - len(base))
        for m in row["matches"]:
            media = m["media"]
            yield [*base, m["rank"], m["score"], media.pk, media.sha256, media.media_type, media.original_name, media.source_path]


def _report_csv(rows: list[dict]) -> bytes:
    # Query names and media names come from users: csv_chunks neutralises formulas.
    return (UTF8_BOM + "".join(csv_chunks(_report_rows(rows)))).encode("utf-8")


def _data_uri(name: str | None) -> str:
    """A stored thumbnail as a data URI, so the report needs no server; '' when missing."""
    if not name:
        return ""
    try:
        with default_storage.open(name, "rb") as fh:
            data = fh.read()
    except Exception:
        return ""
    return "data:image/jpeg;base64," + base64.b64encode(data).decode("ascii")


def _img(name: str | None, alt: str) -> str:
    uri = _data_uri(name)
    return f'<img src="{uri}" alt="{html.escape(alt)}">' if uri else "<em>no thumbnail</em>"


_REPORT_CSS = """table { margin-bottom: 2rem; }
img { max-width: 160px; max-height: 160px; }
"""


def _report_html(*, rows: list[dict], skipped: list[dict], feature: dict | None, k: int, min_score: float | None, created: str) -> bytes:
    e = html.escape
    out = ["<h1>Batch reverse search</h1>\n"]
    if feature:
        out.append(
            f"<p>Made {e(created)}. Feature {feature['id']} ({e(feature['modelzoo_name'])}, weights <code>{e(feature['weights_checksum'])}</code>, "
            f"index version {feature['index_version']}); top {k} per query" + (f", score at least {min_score}" if min_score is not None else "") + ".</p>\n"
        )
    out.append(f"<p>{len(rows)} query image(s) searched, {sum(1 for r in rows if r['matches'])} with matches; {len(skipped)} file(s) skipped.</p>\n")
    for q, row in enumerate(rows, 1):
        upload = row["upload"]
        out.append(
            f"<h2>{q}. {e(row['name'])}</h2>\n<p>{_img(upload.thumbnail.name, row['name'])}<br><code>{e(upload.sha256)}</code> (search record {row['record_id']})</p>\n"
        )
        if not row["matches"]:
            out.append("<p><em>No match above the threshold.</em></p>\n")
            continue
        out.append(
            "<table>\n<thead><tr><th>Rank</th><th>Score</th><th>Match</th><th>Media id</th><th>Name / source</th><th>SHA-256</th></tr></thead>\n<tbody>\n"
        )
        for m in row["matches"]:
            media = m["media"]
            out.append(
                f"<tr><td>{m['rank']}</td><td>{m['score']:.4f}</td><td>{_img(media.thumbnail.name, media.original_name)}</td><td>{media.pk}</td>"
                f"<td>{e(media.original_name)}<br>{e(media.source_path or '')}</td><td><code>{e(media.sha256)}</code></td></tr>\n"
            )
        out.append("</tbody>\n</table>\n")
    if skipped:
        out.append("<h2>Skipped files</h2>\n<table>\n<thead><tr><th>File</th><th>Code</th><th>Reason</th></tr></thead>\n<tbody>\n")
        out.extend(f"<tr><td>{e(s['name'])}</td><td>{e(s['code'])}</td><td>{e(s['message'])}</td></tr>\n" for s in skipped)
        out.append("</tbody>\n</table>\n")
    return html_page("Batch reverse search", "".join(out), css=_REPORT_CSS, data_images=True).encode("utf-8")


def _write_reports(*, task_id: str, rows, skipped, records, feature, k, min_score) -> dict[str, str]:
    created = timezone.now().isoformat()
    csv_bytes = _report_csv(rows)
    html_bytes = _report_html(rows=rows, skipped=skipped, feature=feature, k=k, min_score=min_score, created=created)
    searches = json.dumps({"created_at": created, "task_id": task_id, "skipped": skipped, "searches": records}, ensure_ascii=False, indent=2).encode("utf-8")
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("report.html", html_bytes)
        zf.writestr("report.csv", csv_bytes)
        zf.writestr("searches.json", searches)
    token = secrets.token_hex(12)
    folder = f"reports/batch/{_safe(task_id)}"
    return {
        fmt: default_storage.save(f"{folder}/{token}-report.{fmt}", ContentFile(data))
        for fmt, data in (("html", html_bytes), ("csv", csv_bytes), ("zip", buffer.getvalue()))
    }


def _safe(task_id: str) -> str:
    cleaned = "".join(c for c in task_id if c.isalnum() or c == "-")[:64]
    if not cleaned:
        raise InvalidInput("Bad task id.")
    return cleaned
