"""Batch reverse search: many query images, one match report.

The query images come from a request (files or a ZIP, stored as Uploads by
:func:`batch_queries_from_request`) or from a server folder allowed for ingest; the
task (:func:`batch_search_run`) searches each one, logs each search in the search
record, and writes the report as HTML (thumbnails embedded as data URIs, so it opens
offline), CSV, and a ZIP holding both plus searches.json.

The work is bounded before it is done (:func:`batch_plan`): the request's size, each
ZIP's entry count and declared size from its central directory, and each member's
compression method, size and ratio, before any member is read; at most
``MAX_QUERIES`` files are read at all, and each image stored and searched counts
against its user's upload and search rates. Skipped files are counted, and the first
``MAX_SKIPPED_LISTED`` of them listed.

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
import os
import secrets
import struct
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any, BinaryIO

from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.utils import timezone

from core.errors import DomainError, InvalidInput, PayloadTooLarge
from core.reports import UTF8_BOM, csv_chunks, html_page
from media_app.models import Upload

logger = logging.getLogger(__name__)

# Query images one batch may hold (files, ZIP members or folder files together): at
# most this many are read at all; the rest are skipped unread.
MAX_QUERIES = 500
# Skipped files listed by name (in the answer, the task's params and result, the
# report); beyond these they are only counted.
MAX_SKIPPED_LISTED = 100
IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".gif", ".webp", ".bmp", ".tif", ".tiff"}
REPORT_FORMATS = ("html", "csv", "zip")
# ZIP members are read only when stored or deflated: zipfile decompresses bzip2 and
# LZMA members a whole input chunk at a time, with no bound on the output (4 KB of
# bzip2 expand to gigabytes), while deflate's output is bounded by the size asked for.
ZIP_METHODS = (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED)
# Members smaller than this are never refused for their compression ratio: a small
# flat image (a BMP of one colour) legitimately compresses very well.
ZIP_RATIO_FLOOR = 64 * 1024
# Bytes of central directory allowed per member (a 46-byte header, the name, extras).
ZIP_DIRECTORY_BYTES_PER_MEMBER = 4096


@dataclass
class BatchInput:
    """The stored query uploads (in order, with the name each came with) and the files
    that were skipped, each with a code and a reason: the first ``MAX_SKIPPED_LISTED``
    listed, all of them counted in ``skipped_count``."""

    queries: list[dict[str, Any]] = field(default_factory=list)
    skipped: list[dict[str, str]] = field(default_factory=list)
    skipped_count: int = 0

    def skip(self, name: str, code: str, message: str) -> None:
        self.skipped_count += 1
        if len(self.skipped) < MAX_SKIPPED_LISTED:
            self.skipped.append({"name": str(name)[:1024], "code": str(code)[:100], "message": str(message)[:2000]})


@dataclass
class ZipPlan:
    """One uploaded ZIP, judged from its central directory alone: the members to read
    (in name order) and those refused unread, with their reasons."""

    name: str
    zf: zipfile.ZipFile | None = None
    read: list[zipfile.ZipInfo] = field(default_factory=list)
    refused: list[tuple[str, str, str]] = field(default_factory=list)


@dataclass
class BatchPlan:
    """What a batch request will read, decided before anything is read or stored."""

    files: list = field(default_factory=list)
    zips: list[ZipPlan] = field(default_factory=list)
    too_many: list[str] = field(default_factory=list)

    @property
    def reads(self) -> int:
        """Files and ZIP members that will be read and stored (at most MAX_QUERIES)."""
        return len(self.files) + sum(len(z.read) for z in self.zips)

    def close(self) -> None:
        for plan in self.zips:
            if plan.zf is not None:
                plan.zf.close()


def _store_query(batch: BatchInput, *, name: str, stream: BinaryIO, user) -> None:
    from media_app.services import upload_create

    try:
        upload, _ = upload_create(stream=stream, original_name=name, user=user)
    except DomainError as exc:
        batch.skip(name, exc.code, exc.message)
        return
    batch.queries.append({"upload_id": upload.pk, "name": name})


def _zip_directory(archive: BinaryIO, *, name: str) -> zipfile.ZipFile:
    """The ZIP's central directory, parsed only once its end record shows that it is
    within the limits (PayloadTooLarge otherwise): a directory of millions of entries
    fits in a few megabytes and would cost as much memory as it lists."""
    limit = settings.BATCH_ZIP_MAX_MEMBERS
    end_record = getattr(zipfile, "_EndRecData", None)  # CPython's reader of the end record
    if end_record is not None:
        archive.seek(0)
        end = end_record(archive)
        if end is None:
            raise zipfile.BadZipFile("File is not a zip file")
        if end[zipfile._ECD_ENTRIES_TOTAL] > limit or end[zipfile._ECD_SIZE] > limit * ZIP_DIRECTORY_BYTES_PER_MEMBER:
            raise PayloadTooLarge(
                f"{name}: the ZIP lists {end[zipfile._ECD_ENTRIES_TOTAL]} entries; a batch ZIP may hold at most {limit}.", code="too_many_members"
            )
    archive.seek(0)
    zf = zipfile.ZipFile(archive)
    if len(zf.infolist()) > limit:  # its end record understated the count
        zf.close()
        raise PayloadTooLarge(f"{name}: the ZIP holds {len(zf.infolist())} entries; a batch ZIP may hold at most {limit}.", code="too_many_members")
    return zf


def _plan_zip(archive: BinaryIO, *, name: str) -> ZipPlan:
    plan = ZipPlan(name=name)
    try:
        zf = _zip_directory(archive, name=name)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, ValueError, EOFError, struct.error) as exc:
        plan.refused.append((name, "bad_zip", f"Not a readable ZIP file: {exc}"))
        return plan
    plan.zf = zf
    infos = zf.infolist()
    declared = sum(i.file_size for i in infos)
    if declared > settings.BATCH_ZIP_MAX_UNCOMPRESSED:
        zf.close()
        raise PayloadTooLarge(
            f"{name}: the ZIP's members declare {declared} bytes uncompressed, above the batch limit of {settings.BATCH_ZIP_MAX_UNCOMPRESSED}.",
            code="zip_too_large",
        )
    for info in sorted(infos, key=lambda i: i.filename):
        member = info.filename
        if info.is_dir() or Path(member).name.startswith(".") or "__MACOSX" in member:
            continue
        if info.flag_bits & 0x1:
            plan.refused.append((member, "encrypted", "Encrypted ZIP members cannot be read."))
        elif info.compress_type not in ZIP_METHODS:
            plan.refused.append((member, "unsupported_compression", "Only stored or deflated ZIP members are read (not bzip2 or LZMA)."))
        elif info.file_size > settings.MAX_UPLOAD_BYTES:
            plan.refused.append((member, "payload_too_large", f"{info.file_size} bytes, above the limit of {settings.MAX_UPLOAD_BYTES}."))
        elif info.file_size > ZIP_RATIO_FLOOR and info.file_size > settings.BATCH_ZIP_MAX_RATIO * max(info.compress_size, 1):
            plan.refused.append(
                (
                    member,
                    "compression_ratio",
                    f"Would expand {info.file_size // max(info.compress_size, 1)} times, above the limit of {settings.BATCH_ZIP_MAX_RATIO} (a ZIP bomb?).",
                )
            )
        else:
            plan.read.append(info)
    return plan


def batch_plan(*, files: list, archives: list) -> BatchPlan:
    """Decide what a batch request will read, from sizes and ZIP directories alone.

    PayloadTooLarge (413) when the files together exceed ``BATCH_MAX_BYTES``, or a ZIP
    lists more than ``BATCH_ZIP_MAX_MEMBERS`` entries or declares more than
    ``BATCH_ZIP_MAX_UNCOMPRESSED`` bytes. Members that are encrypted, compressed other
    than by deflate, above ``MAX_UPLOAD_BYTES`` or expanding more than
    ``BATCH_ZIP_MAX_RATIO`` times are refused unread, and files beyond the first
    ``MAX_QUERIES`` to read are refused unread too. Close the plan once done.
    """
    total = sum(int(getattr(f, "size", 0) or 0) for f in (*files, *archives))
    if total > settings.BATCH_MAX_BYTES:
        raise PayloadTooLarge(f"The files sent are {total} bytes together, above the batch limit of {settings.BATCH_MAX_BYTES} bytes.")
    plan = BatchPlan(files=list(files))
    try:
        for uploaded in archives:
            plan.zips.append(_plan_zip(uploaded, name=uploaded.name or "upload.zip"))
    except BaseException:
        plan.close()
        raise
    # The cap holds for what is read, so it is known before anything is.
    plan.too_many = [f.name or "upload" for f in plan.files[MAX_QUERIES:]]
    plan.files = plan.files[:MAX_QUERIES]
    room = MAX_QUERIES - len(plan.files)
    for zplan in plan.zips:
        plan.too_many += [i.filename for i in zplan.read[room:]]
        zplan.read = zplan.read[:room]
        room -= len(zplan.read)
    return plan


def _read_member(zf: zipfile.ZipFile, info: zipfile.ZipInfo) -> bytes:
    """A member's bytes, never more than it declared (its CRC is checked at the end)."""
    with zf.open(info) as fh:
        data = fh.read(info.file_size + 1)
    if len(data) != info.file_size:
        raise zipfile.BadZipFile(f"holds {len(data)} bytes where its header declares {info.file_size}")
    return data


def batch_store(*, plan: BatchPlan, user) -> BatchInput:
    """Store what ``plan`` reads as Uploads, validating each like the upload route; bad
    ones, and those the plan refused, are skipped with their reason."""
    batch = BatchInput()
    for uploaded in plan.files:
        _store_query(batch, name=uploaded.name or "upload", stream=uploaded, user=user)
    for zplan in plan.zips:
        for member, code, message in zplan.refused:
            batch.skip(member, code, message)
        for info in zplan.read:
            try:
                data = _read_member(zplan.zf, info)
            except Exception as exc:
                batch.skip(info.filename, "bad_zip_member", f"Could not be read from the ZIP: {exc}")
                continue
            _store_query(batch, name=info.filename, stream=io.BytesIO(data), user=user)
    for name in plan.too_many:
        batch.skip(name, "too_many", f"A batch reads at most {MAX_QUERIES} files.")
    return batch


def batch_queries_from_request(*, files: list, archives: list, user) -> BatchInput:
    """Store every uploaded image (and every member of every uploaded ZIP) as an Upload,
    within the limits of :func:`batch_plan` (checked first)."""
    plan = batch_plan(files=files, archives=archives)
    try:
        return batch_store(plan=plan, user=user)
    finally:
        plan.close()


def batch_queries_from_folder(*, path: str, user, room: int = MAX_QUERIES, before_reading: Callable[[int], None] | None = None) -> BatchInput:
    """Store the images under an allowed server folder (checked by the task's params),
    at most ``room`` of them; ``before_reading(n)`` is told how many will be read
    first, and may refuse. Nothing outside the folders allowed for ingest is read: a
    symlink leading out of them is skipped with its reason, and each file is opened
    after its real path is checked, without following a link (media_app.ingest.walk)."""
    from media_app.ingest.walk import allowed_roots, ingest_collect, open_confined

    batch = BatchInput()
    roots = allowed_roots()
    files, problems = ingest_collect([Path(path)], confine_to=roots)
    for problem in problems:
        batch.skip(_relative(problem.path, path), problem.code, problem.message)
    to_read: list[tuple[Path, str]] = []
    for file in files:
        rel = _relative(str(file), path)
        if file.suffix.lower() not in IMAGE_SUFFIXES:
            batch.skip(rel, "not_an_image", "Not an image file name.")
        elif len(to_read) >= room:
            batch.skip(rel, "too_many", f"A batch reads at most {MAX_QUERIES} files.")
        else:
            to_read.append((file, rel))
    if before_reading is not None:
        before_reading(len(to_read))
    for file, rel in to_read:
        try:
            with open_confined(file, roots) as fh:
                _store_query(batch, name=rel, stream=fh, user=user)
        except DomainError as exc:
            batch.skip(rel, exc.code, exc.message)
        except OSError as exc:
            batch.skip(rel, "unreadable", exc.strerror or str(exc))
    return batch


def _charge(user, count: int) -> None:
    """Count what a folder batch will store and search against its user's rates."""
    from core.api.throttles import throttle_charge

    if user is not None and count:
        throttle_charge(scope="upload", user=user, count=count, what="images to store")
        throttle_charge(scope="search", user=user, count=count, what="searches")


def _relative(name: str, folder: str) -> str:
    try:
        return str(Path(name).relative_to(folder))
    except ValueError:
        return Path(name).name


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
    skipped_count: int = 0,
    reporter=None,
) -> dict[str, Any]:
    """Search each query image (top ``k`` above ``min_score`` on ``feature_id`` or the
    default feature), log each search, write the report; returns the task's result.

    ``skipped`` (the first of ``skipped_count`` files refused before the run) comes
    only from the server's own batch route, never from a caller's parameters. Images
    read from ``path`` count against the user's upload and search rates (429-like
    failure before any is read when they do not fit).

    Idempotent: the query uploads and their vectors are kept, so a rerun searches the
    same images again and writes a fresh report (each run its own files).
    """
    from search_app.query import records, search
    from search_app.query.sources import UploadSource

    queries = list(queries or [])[:MAX_QUERIES]
    batch = BatchInput(queries=queries, skipped=list(skipped or [])[:MAX_SKIPPED_LISTED], skipped_count=max(int(skipped_count or 0), len(skipped or [])))
    if path:
        from_folder = batch_queries_from_folder(path=path, user=user, room=MAX_QUERIES - len(queries), before_reading=partial(_charge, user))
        batch.queries += from_folder.queries
        for entry in from_folder.skipped:
            batch.skip(entry["name"], entry["code"], entry["message"])
        batch.skipped_count += from_folder.skipped_count - len(from_folder.skipped)
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
            batch.skip(query["name"], "not_found", "The stored query image was deleted.")
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
            {"rank": i + 1, "score": round(float(hit.score), 6), **_match_of(outcome, hit.media_id), "media": outcome.media[hit.media_id]}
            for i, hit in enumerate(outcome.hits)
            if hit.media_id in outcome.media
        ]
        rows.append({"name": query["name"], "upload": upload, "record_id": record.pk, "matches": matches})
        report(n, total, f"{query['name']}: {len(matches)} match(es)")

    _attach_detections(rows)
    _attach_words(rows)
    files = _write_reports(
        task_id=task_id,
        rows=rows,
        skipped=batch.skipped,
        skipped_count=batch.skipped_count,
        records=record_dicts,
        feature=feature_info,
        k=k,
        min_score=min_score,
    )
    base = f"/api/v1/search/batch/{task_id}"
    return {
        "queries": len(rows),
        "queries_with_matches": sum(1 for r in rows if r["matches"]),
        "matches": sum(len(r["matches"]) for r in rows),
        "copies": sum(1 for r in rows for m in r["matches"] if m.get("match") in ("exact", "copy")),
        "skipped": batch.skipped,
        "skipped_count": batch.skipped_count,
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
    "match",
    "region",
    "query_region",
    "media_id",
    "media_sha256",
    "media_type",
    "original_name",
    "source_path",
    "detections",
    "ocr_text",
    "labels",
]


def _match_of(outcome, media_id: int) -> dict:
    """The hit's match label and regions (search_app.query.matching)."""
    match = outcome.matches.get(media_id)
    if match is None:
        return {"match": "similar", "region": None, "query_region": None}
    fields = match.as_dict()
    return {"match": fields["match"], "region": fields["region"], "query_region": fields["query_region"]}


def _box_text(box: list[float] | None) -> str:
    return "" if not box else ",".join(f"{v:.4f}" for v in box)


def _attach_detections(rows: list[dict]) -> None:
    """Give every match the boxes detection features stored for it (one query)."""
    from search_app.detection.selectors import media_detections

    found = media_detections(media_ids=sorted({m["media"].pk for row in rows for m in row["matches"]}))
    for row in rows:
        for m in row["matches"]:
            m["detections"] = found.get(m["media"].pk, [])


def _attach_words(rows: list[dict]) -> None:
    """Give every match the text read on it and its labels (two queries)."""
    from text_app.selectors import media_text_summary

    found = media_text_summary(sorted({m["media"].pk for row in rows for m in row["matches"]}))
    for row in rows:
        for m in row["matches"]:
            m["words"] = found.get(m["media"].pk, {})


def _detections_text(match: dict) -> str:
    return "; ".join(f"{d['label']} {d['score']:.2f}" for d in match.get("detections", []))


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
            words = m.get("words", {})
            yield [
                *base, m["rank"], m["score"], m.get("match", ""), _box_text(m.get("region")), _box_text(m.get("query_region")), media.pk, media.sha256, media.media_type, media.original_name, media.source_path, _detections_text(m),
                words.get("ocr_text", ""), words.get("labels", ""),
            ]  # fmt: skip


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


def _report_html(*, rows: list[dict], skipped: list[dict], skipped_count: int, feature: dict | None, k: int, min_score: float | None, created: str) -> bytes:
    e = html.escape
    out = ["<h1>Batch reverse search</h1>\n"]
    if feature:
        out.append(
            f"<p>Made {e(created)}. Feature {feature['id']} ({e(feature['modelzoo_name'])}, weights <code>{e(feature['weights_checksum'])}</code>, "
            f"index version {feature['index_version']}); top {k} per query" + (f", score at least {min_score}" if min_score is not None else "") + ".</p>\n"
        )
    listed = f" (the first {len(skipped)} listed below)" if skipped_count > len(skipped) else ""
    out.append(f"<p>{len(rows)} query image(s) searched, {sum(1 for r in rows if r['matches'])} with matches; {skipped_count} file(s) skipped{listed}.</p>\n")
    for q, row in enumerate(rows, 1):
        upload = row["upload"]
        out.append(
            f"<h2>{q}. {e(row['name'])}</h2>\n<p>{_img(upload.thumbnail.name, row['name'])}<br><code>{e(upload.sha256)}</code> (search record {row['record_id']})</p>\n"
        )
        if not row["matches"]:
            out.append("<p><em>No match above the threshold.</em></p>\n")
            continue
        out.append(
            "<table>\n<thead><tr><th>Rank</th><th>Score</th><th>Strength</th><th>Match</th><th>Media id</th><th>Name / source</th><th>SHA-256</th><th>Detections</th><th>Text read / labels</th></tr></thead>\n<tbody>\n"
        )
        for m in row["matches"]:
            media = m["media"]
            out.append(
                f"<tr><td>{m['rank']}</td><td>{m['score']:.4f}</td><td>{e(m.get('match', ''))}{'<br>region ' + _box_text(m['region']) if m.get('region') else ''}</td>"
                f"<td>{_img(media.thumbnail.name, media.original_name)}</td><td>{media.pk}</td>"
                f"<td>{e(media.original_name)}<br>{e(media.source_path or '')}</td><td><code>{e(media.sha256)}</code></td><td>{e(_detections_text(m))}</td>"
                f"<td>{_words_html(m.get('words', {}))}</td></tr>\n"
            )
        out.append("</tbody>\n</table>\n")
    if skipped:
        out.append("<h2>Skipped files</h2>\n<table>\n<thead><tr><th>File</th><th>Code</th><th>Reason</th></tr></thead>\n<tbody>\n")
        out.extend(f"<tr><td>{e(s['name'])}</td><td>{e(s['code'])}</td><td>{e(s['message'])}</td></tr>\n" for s in skipped)
        out.append("</tbody>\n</table>\n")
    return html_page("Batch reverse search", "".join(out), css=_REPORT_CSS, data_images=True).encode("utf-8")


def _words_html(words: dict) -> str:
    e = html.escape
    text = "<br>".join(e(line) for line in words.get("ocr_text", "").splitlines())
    labels = e(words.get("labels", ""))
    return text + ("<br><small>" + labels + "</small>" if labels else "")


def _write_reports(*, task_id: str, rows, skipped, skipped_count, records, feature, k, min_score) -> dict[str, str]:
    created = timezone.now().isoformat()
    csv_bytes = _report_csv(rows)
    html_bytes = _report_html(rows=rows, skipped=skipped, skipped_count=skipped_count, feature=feature, k=k, min_score=min_score, created=created)
    searches = json.dumps(
        {"created_at": created, "task_id": task_id, "skipped": skipped, "skipped_count": skipped_count, "searches": records}, ensure_ascii=False, indent=2
    ).encode("utf-8")
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


def batch_reports_delete(*, runs: list[dict]) -> None:
    """Delete the report files of batch runs about to be deleted for their age (the
    tasks app's ``task_runs_pruned`` hook), and their emptied folders."""
    for run in runs:
        result = run.get("result")
        if run.get("name") != "batch_search" or not isinstance(result, dict) or not isinstance(result.get("files"), dict):
            continue
        for name in result["files"].values():
            if not (isinstance(name, str) and name.startswith("reports/batch/")):
                continue
            try:
                default_storage.delete(name)
            except Exception:
                logger.warning("could not delete the batch report %s", name, exc_info=True)
        try:
            os.rmdir(default_storage.path(f"reports/batch/{_safe(run['task_id'])}"))
        except (NotImplementedError, OSError, DomainError):
            pass  # not a local storage, not empty, or already gone
