"""A collection as a ZIP evidence package, streamed: the archive is written through a
write-only sink and handed out chunk by chunk, so memory use does not grow with the
size of the media. Every original is hashed while it streams and checked against its
recorded sha256; the manifest says, per item, whether the copy in the ZIP is intact.

Layout::

    media/<id>_<sha256[:12]>_<name>.<ext>   the stored originals, byte for byte
    manifest.json, manifest.csv              one row per item, with its status and, when
                                             it was added from a search, that search
    queries/<kind>-<id>_<sha256[:12]>.<ext>  the query images of the searches that found
                                             items, byte for byte, checked like the items
    report.md, report.html                   title, notes, counts, the queries and the item
                                             table (thumbnails in the HTML), and how each
                                             item was found
    searches.json                            the search records that led to the items
                                             (query, feature, model, weights checksum,
                                             index version, parameters, results, rerun)
    detections.json                          the boxes detection models stored for the
                                             items (model, label, score, normalised box)
"""

from __future__ import annotations

import hashlib
import html
import io
import json
import logging
import re
import unicodedata
import zipfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from itertools import chain
from pathlib import PurePosixPath

from django.core.files.storage import default_storage
from django.utils import timezone
from django.utils.text import slugify

from core.reports import HTML_PAGE_END, UTF8_BOM, csv_chunks, html_page_head
from media_app.models import Media, MediaType

from .evidence import QueryFile, demote_headings, thumbnail_data_uri
from .models import Collection, CollectionMedia
from .rendering import render_notes_html

logger = logging.getLogger(__name__)

READ_CHUNK = 256 * 1024  # bytes read from storage at a time
FLUSH_AT = 256 * 1024  # hand out what the sink holds once it reaches this much
_ZIP64_MARGIN = zipfile.ZIP64_LIMIT - (64 * 1024 * 1024)
# Already-compressed formats gain nothing from deflate and cost CPU: store them.
_TEXT_COMPRESSION = zipfile.ZIP_DEFLATED
_MEDIA_COMPRESSION = zipfile.ZIP_STORED

STATUS_OK = "ok"
STATUS_MISSING = "missing"
STATUS_HASH_MISMATCH = "hash_mismatch"
STATUS_INCOMPLETE = "incomplete"

MANIFEST_FIELDS = [
    "id",
    "sha256",
    "media_type",
    "file",
    "status",
    "error",
    "original_name",
    "source_path",
    "parent_id",
    "parent_sha256",
    "frame_number",
    "timestamp",
    "width",
    "height",
    "byte_size",
    "format",
    "added_by",
    "added_at",
    # The search that showed the item when it was added (empty when added otherwise);
    # searches.json holds the whole record.
    "search_record",
    "search_query",
    "search_feature_id",
    "search_model",
    "search_weights_checksum",
    "search_index_version",
    "search_params",
    "search_rank",
    "search_score",
    "search_match",
    # Where the match lies in the item and in the query (x1,y1,x2,y2 normalised), when
    # the search located it (a crop, a picture inside a screenshot).
    "search_region",
    "search_query_region",
    # The search's query image in this ZIP (queries/...), and its sha256.
    "search_query_file",
    "search_query_sha256",
    # What was read on the picture (OCR lines, one per line) and its ImageNet labels.
    "ocr_text",
    "labels",
]


class _ChunkSink(io.RawIOBase):
    """Write-only, unseekable file object: zipfile writes into it (using data
    descriptors, since it cannot seek back), we take the bytes out as they come."""

    def __init__(self) -> None:
        super().__init__()
        self._buffer = bytearray()
        self._position = 0

    def writable(self) -> bool:
        return True

    def write(self, data) -> int:
        self._buffer += data
        self._position += len(data)
        return len(data)

    def tell(self) -> int:
        return self._position

    @property
    def pending(self) -> int:
        return len(self._buffer)

    def drain(self) -> bytes:
        data = bytes(self._buffer)
        self._buffer.clear()
        return data


@dataclass
class _Entry:
    membership: CollectionMedia
    arcname: str
    status: str = STATUS_OK
    error: str = ""
    words: dict = field(default_factory=dict)  # text_app.selectors.media_text_summary's entry
    query: QueryFile | None = None  # the query image of the search it was found by, when stored

    @property
    def media(self) -> Media:
        return self.membership.media

    @property
    def record(self):
        """The SearchRecord the item was added from (loaded with the membership), or None."""
        return self.membership.search_record if self.membership.search_record_id else None


@dataclass
class _Counts:
    items: int = 0
    by_type: dict[str, int] = field(default_factory=dict)
    by_status: dict[str, int] = field(default_factory=dict)

    def as_dict(self) -> dict:
        return {
            "items": self.items,
            "images": self.by_type.get(MediaType.IMAGE.value, 0),
            "videos": self.by_type.get(MediaType.VIDEO.value, 0),
            "video_frames": self.by_type.get(MediaType.VIDEO_FRAME.value, 0),
            "files_ok": self.by_status.get(STATUS_OK, 0),
            "files_missing": self.by_status.get(STATUS_MISSING, 0),
            "files_hash_mismatch": self.by_status.get(STATUS_HASH_MISMATCH, 0),
            "files_incomplete": self.by_status.get(STATUS_INCOMPLETE, 0),
        }


# --- names ------------------------------------------------------------------------------

_UNSAFE_NAME = re.compile(r"[^\w.\- ]+", re.UNICODE)


def _safe_component(name: str, max_length: int = 80) -> str:
    """A file name component that cannot escape its folder or confuse an unzip tool."""
    name = unicodedata.normalize("NFC", name)
    name = _UNSAFE_NAME.sub("_", name).strip(" ._")
    return name[:max_length].rstrip(" ._")


def member_name(media: Media) -> str:
    """``media/<id>_<sha256[:12]>_<original stem or sha256>.<ext>``; the extension is the
    stored file's (the real format), else the original name's."""
    original = PurePosixPath((media.original_name or "").replace("\\", "/"))
    stem = _safe_component(original.stem) or media.sha256
    ext = PurePosixPath(media.file.name or "").suffix or original.suffix
    ext = _safe_component(ext.lstrip("."), 16).lower()
    name = f"{media.pk}_{media.sha256[:12]}_{stem}"
    return f"media/{name}.{ext}" if ext else f"media/{name}"


def export_filename(*, collection: Collection, now: datetime) -> str:
    """``collection-<id>-<slug>-<UTC date and time>.zip``: the id keeps two collections
    with the same title apart, the time two exports of the same collection."""
    slug = slugify(collection.title, allow_unicode=True)[:60].strip("-") or "untitled"
    return f"collection-{collection.pk}-{slug}-{now.astimezone(UTC):%Y%m%d-%H%M%S}.zip"


# --- the stream -----------------------------------------------------------------------


def _zip_time(moment: datetime | None) -> tuple[int, int, int, int, int, int]:
    moment = (moment or timezone.now()).astimezone(UTC)
    if moment.year < 1980:  # the ZIP format cannot express earlier times
        return (1980, 1, 1, 0, 0, 0)
    return moment.timetuple()[:6]


def _member_info(arcname: str, *, moment: datetime | None, compress: int, size_hint: int = 0) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(arcname, date_time=_zip_time(moment))
    info.compress_type = compress
    info.external_attr = 0o644 << 16
    info.file_size = size_hint  # only used to decide zip64; replaced by the real size
    return info


def _write_member(zf: zipfile.ZipFile, sink: _ChunkSink, info: zipfile.ZipInfo, pieces: Iterable[bytes | str]) -> Iterator[bytes]:
    with zf.open(info, "w", force_zip64=info.file_size > _ZIP64_MARGIN) as dest:
        for piece in pieces:
            dest.write(piece.encode("utf-8") if isinstance(piece, str) else piece)
            if sink.pending >= FLUSH_AT:
                yield sink.drain()
    if sink.pending:
        yield sink.drain()


def _open_stored(media: Media):
    """Open the stored original and read its first chunk, so a missing file is found
    before anything of its member is written."""
    name = media.file.name
    if not name:
        raise FileNotFoundError("no file is recorded for this media")
    handle = default_storage.open(name, "rb")
    try:
        first = handle.read(READ_CHUNK)
    except BaseException:
        handle.close()
        raise
    return handle, first


def _stored_size(name: str) -> int:
    try:
        return default_storage.size(name)
    except Exception:
        return 0


def _media_member(zf: zipfile.ZipFile, sink: _ChunkSink, entry: _Entry) -> Iterator[bytes]:
    media = entry.media
    try:
        handle, first = _open_stored(media)
    except Exception as exc:  # any storage backend's "not there"
        logger.warning("export: stored file of media %s is missing: %s", media.pk, exc)
        entry.status, entry.error, entry.arcname = STATUS_MISSING, f"stored file could not be read: {exc}", ""
        return
    digest = hashlib.sha256()
    # The size decides whether the member needs zip64 headers, which cannot be added
    # once its bytes are out: ask the storage when the row does not know.
    size_hint = media.byte_size or _stored_size(media.file.name) or len(first)

    def pieces() -> Iterator[bytes]:
        chunk = first
        while chunk:
            digest.update(chunk)
            yield chunk
            try:
                chunk = handle.read(READ_CHUNK)
            except Exception as exc:
                # Bytes already streamed cannot be taken back: record the member as
                # incomplete so nobody mistakes it for the original.
                logger.warning("export: reading media %s failed part-way: %s", media.pk, exc)
                entry.status, entry.error = STATUS_INCOMPLETE, f"reading the stored file failed part-way: {exc}"
                return

    info = _member_info(entry.arcname, moment=media.created_at, compress=_MEDIA_COMPRESSION, size_hint=size_hint)
    try:
        yield from _write_member(zf, sink, info, pieces())
    finally:
        handle.close()
    if entry.status == STATUS_OK and digest.hexdigest() != media.sha256:
        entry.status, entry.error = STATUS_HASH_MISMATCH, f"stored file has sha256 {digest.hexdigest()}"


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def _query_text(record) -> str:
    """The query of a search in one line: what was searched, and the region if any."""
    if record.query_type == "media":
        text = f"media {record.query_media_id} (sha256 {record.query_sha256})"
    else:
        text = f"upload {record.query_upload_id} (sha256 {record.query_sha256})"
    if record.seed:
        text = f"random seed {record.seed!r}: {text}"
    if record.box:
        text += " region " + ",".join(f"{v:g}" for v in record.box)
    return text


def _box_text(box) -> str | None:
    return ",".join(f"{v:.4f}" for v in box) if box else None


def _record_columns(entry: _Entry) -> dict:
    record = entry.record
    if record is None:
        return {name: None for name in MANIFEST_FIELDS if name.startswith("search_")}
    hit = next((r for r in record.results or [] if r.get("media_id") == entry.media.pk), None)
    return {
        "search_record": record.pk,
        "search_query": _query_text(record),
        "search_feature_id": record.feature_id,
        "search_model": record.modelzoo_name,
        "search_weights_checksum": record.weights_checksum,
        "search_index_version": record.index_version,
        "search_params": json.dumps(record.params, sort_keys=True),
        "search_rank": hit["rank"] if hit else None,
        "search_score": hit["score"] if hit else None,
        "search_match": hit.get("match") if hit else None,
        "search_region": _box_text(hit.get("region")) if hit else None,
        "search_query_region": _box_text(hit.get("query_region")) if hit else None,
        "search_query_file": entry.query.arcname if entry.query is not None and entry.query.status != STATUS_MISSING else None,
        "search_query_sha256": record.query_sha256 or None,
    }


def manifest_row(entry: _Entry) -> dict:
    media, membership = entry.media, entry.membership
    parent = media.parent if media.parent_id else None
    return {
        "id": media.pk,
        "sha256": media.sha256,
        "media_type": media.media_type,
        "file": entry.arcname or None,
        "status": entry.status,
        "error": entry.error or None,
        "original_name": media.original_name,
        "source_path": media.source_path,
        "parent_id": media.parent_id,
        "parent_sha256": parent.sha256 if parent else None,
        "frame_number": media.frame_number,
        "timestamp": media.timestamp,
        "width": media.width,
        "height": media.height,
        "byte_size": media.byte_size,
        "format": media.format,
        "added_by": membership.username,
        "added_at": _iso(membership.added_at),
        **_record_columns(entry),
        "ocr_text": entry.words.get("ocr_text") or None,
        "labels": entry.words.get("labels") or None,
    }


def _collection_header(collection: Collection, *, now: datetime, exported_by: str, counts: _Counts, queries: list[QueryFile] = ()) -> dict:
    return {
        "format": "vframe-collection-export/1",
        "collection": {
            "id": collection.pk,
            "title": collection.title,
            "username": collection.username,
            "notes": collection.notes,
            "archived": collection.archived,
            "created_at": _iso(collection.created_at),
            "updated_at": _iso(collection.updated_at),
        },
        "exported_at": _iso(now),
        "exported_by": exported_by,
        "counts": counts.as_dict(),
        "queries": [q.as_dict() for q in queries],
    }


def _manifest_json(header: dict, entries: list[_Entry]) -> Iterator[str]:
    # Written item by item: the manifest of a large collection is never one big string.
    head = json.dumps(header, ensure_ascii=False, indent=2)
    yield head[: head.rstrip().rindex("}")].rstrip() + ',\n  "items": ['
    for index, entry in enumerate(entries):
        yield ("," if index else "") + "\n    " + json.dumps(manifest_row(entry), ensure_ascii=False)
    yield ("\n  " if entries else "") + "]\n}\n"


def _manifest_csv(entries: list[_Entry]) -> Iterator[str]:
    """The manifest for spreadsheets (formulas neutralised); manifest.json keeps every
    value exactly as stored."""
    rows = ([row[name] for name in MANIFEST_FIELDS] for row in map(manifest_row, entries))
    yield UTF8_BOM
    yield from csv_chunks(chain([MANIFEST_FIELDS], rows), chunk_size=FLUSH_AT)


_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]<>()#+!|~])")


def _md(value) -> str:
    """Plain text as literal Markdown: nothing in a name can start a link or a table cell."""
    text = "" if value is None else str(value)
    return _MD_SPECIAL.sub(r"\\\1", " ".join(text.split()))


def _counts_lines(counts: dict) -> list[str]:
    return [
        f"Items: {counts['items']} (images {counts['images']}, videos {counts['videos']}, video frames {counts['video_frames']})",
        f"Files included intact: {counts['files_ok']}",
        f"Files missing from storage: {counts['files_missing']}",
        f"Files whose sha256 does not match: {counts['files_hash_mismatch']}",
        f"Files incomplete (read failed part-way): {counts['files_incomplete']}",
    ]


def _report_md(header: dict, entries: list[_Entry]) -> Iterator[str]:
    c = header["collection"]
    yield f"# {_md(c['title'])}\n\n"
    yield f"Collection {c['id']}, curated by {_md(c['username']) or 'unknown'}. Exported {header['exported_at']} by {_md(header['exported_by']) or 'unknown'}.\n\n"
    yield "## Summary\n\n" + "".join(f"- {line}\n" for line in _counts_lines(header["counts"])) + "\n"
    yield "## Notes\n\n" + ((demote_headings(c["notes"].strip()) + "\n\n") if c["notes"].strip() else "_No notes._\n\n")
    yield from _queries_md(header["queries"])
    yield "## Items\n\n"
    if not entries:
        yield "_This collection is empty._\n"
        return
    yield "| # | Media id | Type | File | SHA-256 | Original name | Added by | Added at | Status |\n"
    yield "|---|---|---|---|---|---|---|---|---|\n"
    for index, entry in enumerate(entries, 1):
        row = manifest_row(entry)
        cells = [
            index,
            row["id"],
            row["media_type"],
            row["file"] or "(not included)",
            row["sha256"],
            row["original_name"],
            row["added_by"],
            row["added_at"],
            row["status"],
        ]
        yield "| " + " | ".join(_md(cell) for cell in cells) + " |\n"
    yield from _found_md(entries)


def _queries_md(queries: list[dict]) -> Iterator[str]:
    if not queries:
        return
    yield "## Queries\n\nThe images searched with to find the items, in queries/ byte for byte.\n\n"
    yield "| Query | File | SHA-256 | Original name | Status | Search records |\n|---|---|---|---|---|---|\n"
    for q in queries:
        cells = [
            f"{q['kind']} {q['id']}",
            q["file"] or "(not included)",
            q["sha256"],
            q["original_name"],
            q["status"],
            ", ".join(map(str, q["search_records"])),
        ]
        yield "| " + " | ".join(_md(cell) for cell in cells) + " |\n"
    yield "\n"


def _found_lines(entries: list[_Entry]) -> Iterator[tuple[int, _Entry, dict]]:
    for index, entry in enumerate(entries, 1):
        if entry.record is not None:
            yield index, entry, manifest_row(entry)


def _found_cells(index: int, entry: _Entry, row: dict) -> list:
    r = entry.record
    return [
        index,
        row["id"],
        r.pk,
        r.username,
        _iso(r.created_at),
        row["search_query"],
        r.feature_id,
        r.modelzoo_name,
        r.weights_checksum,
        r.index_version,
        row["search_params"],
        row["search_rank"],
        row["search_score"],
    ]


_FOUND_HEADERS = ["#", "Media id", "Search record", "Searched by", "At", "Query", "Feature", "Model", "Weights", "Index version", "Parameters", "Rank", "Score"]


def _found_md(entries: list[_Entry]) -> Iterator[str]:
    yield "\n## How items were found\n\n"
    found = list(_found_lines(entries))
    if not found:
        yield "_No item was added from a recorded search._\n"
        return
    yield "Each search is in searches.json with its full results and the API path that reruns it.\n\n"
    yield "| " + " | ".join(_FOUND_HEADERS) + " |\n"
    yield "|" + "---|" * len(_FOUND_HEADERS) + "\n"
    for index, entry, row in found:
        yield "| " + " | ".join(_md(cell) for cell in _found_cells(index, entry, row)) + " |\n"


def _found_html(entries: list[_Entry]) -> Iterator[str]:
    e = html.escape
    yield "<h2>How items were found</h2>\n"
    found = list(_found_lines(entries))
    if not found:
        yield "<p><em>No item was added from a recorded search.</em></p>\n"
        return
    yield "<p>Each search is in searches.json with its full results and the API path that reruns it.</p>\n"
    yield '<div class="table-wrap"><table>\n<thead><tr>' + "".join(f"<th>{e(h)}</th>" for h in _FOUND_HEADERS) + "</tr></thead>\n<tbody>\n"
    for index, entry, row in found:
        yield "<tr>" + "".join(f"<td>{e('' if c is None else str(c))}</td>" for c in _found_cells(index, entry, row)) + "</tr>\n"
    yield "</tbody>\n</table></div>\n"


def _searches_json(entries: list[_Entry]) -> Iterator[str]:
    """The records of the searches that led to the items, each with the items it led to."""
    from search_app.query.records import search_record_as_dict

    records = {}
    for entry in entries:
        if entry.record is not None:
            records.setdefault(entry.record.pk, entry.record)
    searches = [
        {**search_record_as_dict(record), "items": [e.media.pk for e in entries if e.membership.search_record_id == pk]}
        for pk, record in sorted(records.items())
    ]
    yield json.dumps({"format": "vframe-search-records/1", "searches": searches}, ensure_ascii=False, indent=2) + "\n"


_REPORT_CSS = """.status-missing, .status-hash_mismatch, .status-incomplete { color: #a00; font-weight: bold; }
body { max-width: 80rem; }
.notes { max-width: 60rem; overflow-x: auto; border-left: 3px solid #ccc; padding-left: 1rem; }
/* The notes sit under the report's own headings, never above them. */
.notes h1 { font-size: 1.15rem; } .notes h2 { font-size: 1.05rem; } .notes h3, .notes h4, .notes h5, .notes h6 { font-size: 1rem; }
/* Wide tables scroll in their box instead of widening the page. */
.table-wrap { max-width: 100%; overflow-x: auto; margin: 0 0 1rem; }
td { overflow-wrap: anywhere; } td code { display: inline-block; min-width: 16ch; }
td.thumb { width: 96px; } td.thumb img { max-width: 96px; max-height: 72px; display: block; }
td.found { min-width: 9rem; }
td.found img { max-width: 48px; max-height: 36px; vertical-align: middle; margin-right: .3rem; }
.queries { display: flex; flex-wrap: wrap; gap: 1rem; padding: 0; list-style: none; }
.queries li { max-width: 16rem; } .queries img { max-width: 160px; max-height: 120px; display: block; }
.match { font-weight: bold; text-transform: uppercase; font-size: .75rem; }
"""


def _queries_html(queries: list[QueryFile]) -> Iterator[str]:
    e = html.escape
    if not queries:
        return
    yield '<h2>Queries</h2>\n<p>The images searched with to find the items, in queries/ byte for byte.</p>\n<ul class="queries">\n'
    for q in queries:
        uri = thumbnail_data_uri(q.media.thumbnail.name)
        image = f'<img src="{uri}" alt="">' if uri else ""
        link = f'<a href="{e(q.arcname)}">{e(q.arcname)}</a>' if q.status != STATUS_MISSING else f"<em>{e(q.status)}</em>"
        yield (
            f"<li>{image}<strong>{e(q.label)}</strong> {e(q.media.original_name)}<br>{link}<br>"
            f"<code>{e(q.media.sha256)}</code><br>searches {e(', '.join(map(str, q.records)))}</li>\n"
        )
    yield "</ul>\n"


def _found_cell(entry: _Entry, row: dict) -> str:
    e = html.escape
    if entry.record is None:
        return "<em>added by hand</em>"
    query = ""
    if entry.query is not None:
        uri = thumbnail_data_uri(entry.query.media.thumbnail.name)
        query = (f'<img src="{uri}" alt="">' if uri else "") + e(entry.query.label)
    else:
        query = e(row["search_query"] or "")
    facts = [f"#{row['search_rank']}" if row["search_rank"] is not None else "", f"{row['search_score']:.3f}" if row["search_score"] is not None else ""]
    match = f'<span class="match">{e(row["search_match"])}</span> ' if row["search_match"] else ""
    return f"{match}{e(' · '.join(f for f in facts if f))}<br>{query}<br>search {entry.record.pk}"


def _report_html(header: dict, entries: list[_Entry], queries: list[QueryFile] = ()) -> Iterator[str]:
    e = html.escape
    c = header["collection"]
    yield html_page_head(c["title"], css=_REPORT_CSS, data_images=True)
    yield f"<h1>{e(c['title'])}</h1>\n"
    yield f"<p>Collection {c['id']}, curated by {e(c['username'] or 'unknown')}. Exported {e(header['exported_at'])} by {e(header['exported_by'] or 'unknown')}.</p>\n"
    yield "<h2>Summary</h2>\n<ul>\n" + "".join(f"<li>{e(line)}</li>\n" for line in _counts_lines(header["counts"])) + "</ul>\n"
    notes_html = render_notes_html(c["notes"])  # sanitized by nh3
    yield "<h2>Notes</h2>\n" + (f'<div class="notes">{notes_html}</div>\n' if notes_html else "<p><em>No notes.</em></p>\n")
    yield from _queries_html(queries)
    yield "<h2>Items</h2>\n"
    if not entries:
        yield "<p><em>This collection is empty.</em></p>\n" + HTML_PAGE_END
        return
    yield (
        '<div class="table-wrap"><table>\n<thead><tr><th>#</th><th>Thumbnail</th><th>Media id</th><th>Type</th><th>File</th><th>SHA-256</th>'
        "<th>Original name</th><th>Source path</th><th>Found by</th><th>Added by</th><th>Added at</th><th>Status</th></tr></thead>\n<tbody>\n"
    )
    for index, entry in enumerate(entries, 1):
        row = manifest_row(entry)
        file_cell = f'<a href="{e(row["file"])}">{e(row["file"])}</a>' if row["file"] else "<em>not included</em>"
        status = e(row["status"])
        uri = thumbnail_data_uri(entry.media.thumbnail.name)
        thumb = f'<img src="{uri}" alt="Thumbnail of media {row["id"]}">' if uri else ""
        yield (
            f'<tr><td>{index}</td><td class="thumb">{thumb}</td><td>{row["id"]}</td><td>{e(row["media_type"])}</td><td>{file_cell}</td>'
            f"<td><code>{e(row['sha256'])}</code></td><td>{e(row['original_name'])}</td><td><code>{e(row['source_path'] or '')}</code></td>"
            f'<td class="found">{_found_cell(entry, row)}</td><td>{e(row["added_by"])}</td>'
            f'<td>{e(row["added_at"] or "")}</td><td class="status-{status}" title="{e(row["error"] or "")}">{status}</td></tr>\n'
        )
    yield "</tbody>\n</table></div>\n"
    yield from _found_html(entries)
    yield HTML_PAGE_END


def export_detections(items: Iterable[CollectionMedia]) -> dict[int, list[dict]]:
    """The stored detections of the items' media, read now (the stream reads no rows)."""
    from search_app.detection.selectors import media_detections

    return media_detections(media_ids=[membership.media_id for membership in items])


def export_words(items: Iterable[CollectionMedia]) -> dict[int, dict[str, str]]:
    """The text read on the items' media and their labels, read now (two queries)."""
    from text_app.selectors import media_text_summary

    return media_text_summary([membership.media_id for membership in items])


def _detections_json(entries: list[_Entry], detections: dict[int, list[dict]]) -> Iterator[str]:
    found = [{"media_id": e.media.pk, "sha256": e.media.sha256, "detections": detections.get(e.media.pk, [])} for e in entries]
    yield json.dumps({"items": found}, indent=2, ensure_ascii=False)


def collection_export_stream(
    *,
    collection: Collection,
    items: Iterable[CollectionMedia],
    exported_by: str = "",
    now: datetime | None = None,
    detections: dict[int, list[dict]] | None = None,
    words: dict[int, dict[str, str]] | None = None,
    queries: dict[int, QueryFile] | None = None,
) -> Iterator[bytes]:
    """Yield the ZIP of a collection chunk by chunk.

    ``items`` are the memberships with ``media`` and ``media__parent`` loaded; nothing
    here touches the database, so the stream may be consumed after the view returned.
    A stored file that cannot be read is left out of the ZIP and listed as missing,
    never an error half-way through the download. ``detections`` (from
    :func:`export_detections`) adds detections.json; ``words`` (from
    :func:`export_words`) fills each item's ``ocr_text`` and ``labels``; ``queries``
    (from :func:`collections_app.evidence.export_queries`) adds the query images.
    """
    now = now or timezone.now()
    sink = _ChunkSink()
    zf = zipfile.ZipFile(sink, mode="w", allowZip64=True)
    words = words or {}
    queries = queries or {}
    entries = [
        _Entry(
            membership=membership,
            arcname=member_name(membership.media),
            words=words.get(membership.media_id, {}),
            query=queries.get(membership.search_record_id),
        )
        for membership in items
    ]
    counts = _Counts(items=len(entries))
    for entry in entries:
        yield from _media_member(zf, sink, entry)
        counts.by_type[entry.media.media_type] = counts.by_type.get(entry.media.media_type, 0) + 1
        counts.by_status[entry.status] = counts.by_status.get(entry.status, 0) + 1
    # Each query image once, hashed and checked as the items are.
    query_files = list({id(q): q for q in queries.values()}.values())
    for query in query_files:
        yield from _media_member(zf, sink, query)

    header = _collection_header(collection, now=now, exported_by=exported_by, counts=counts, queries=query_files)
    for arcname, pieces in (
        ("manifest.json", _manifest_json(header, entries)),
        ("manifest.csv", _manifest_csv(entries)),
        ("report.md", _report_md(header, entries)),
        ("report.html", _report_html(header, entries, query_files)),
        ("searches.json", _searches_json(entries)),
        *((("detections.json", _detections_json(entries, detections)),) if detections is not None else ()),
    ):
        yield from _write_member(zf, sink, _member_info(arcname, moment=now, compress=_TEXT_COMPRESSION), pieces)
    zf.close()
    if sink.pending:
        yield sink.drain()
