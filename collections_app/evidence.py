"""What an export adds around the items so it stands as evidence on its own: the query
images of the searches that found them (hashed and checked like the items), thumbnails
embedded in the report, and the notes set under the report's own headings.

The export stream reads no rows, so :func:`export_queries` loads the queries' rows in
the view, before the stream starts.
"""

from __future__ import annotations

import base64
import logging
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import Any

from django.core.files.storage import default_storage

from media_app.models import Media, Upload

from .models import CollectionMedia

logger = logging.getLogger(__name__)

# A thumbnail larger than this is left out of the report (a stored thumbnail is a few KB).
THUMB_MAX_BYTES = 256 * 1024


@dataclass
class QueryFile:
    """A query image of a search that led to items: an upload or a stored media. ``media``
    and ``arcname`` let the export stream it as it streams an item (hashed, checked)."""

    kind: str  # "upload" or "media"
    media: Upload | Media
    arcname: str
    records: list[int] = field(default_factory=list)  # the search records that used it
    status: str = "ok"
    error: str = ""

    @property
    def label(self) -> str:
        return f"{self.kind} {self.media.pk}"

    def as_dict(self) -> dict[str, Any]:
        row = self.media
        return {
            "kind": self.kind,
            "id": row.pk,
            "sha256": row.sha256,
            "file": self.arcname if self.status != "missing" else None,
            "status": self.status,
            "error": self.error or None,
            "original_name": row.original_name,
            "width": row.width,
            "height": row.height,
            "byte_size": row.byte_size,
            "format": row.format,
            "search_records": self.records,
        }


def query_member_name(kind: str, row: Upload | Media) -> str:
    """``queries/<kind>-<id>_<sha256[:12]>.<ext>``: the stored file's extension."""
    ext = PurePosixPath(row.file.name or "").suffix.lstrip(".").lower()
    name = f"queries/{kind}-{row.pk}_{row.sha256[:12]}"
    return f"{name}.{ext}" if ext else name


def export_queries(items: Iterable[CollectionMedia]) -> dict[int, QueryFile]:
    """The query image of each search record the items were added from, by record id
    (two queries at most). A query row deleted since is simply not there: the record
    still names its sha256."""
    records = {m.search_record_id: m.search_record for m in items if m.search_record_id and m.search_record is not None}
    wanted = {"upload": set(), "media": set()}
    for record in records.values():
        if record.query_type == "upload" and record.query_upload_id:
            wanted["upload"].add(record.query_upload_id)
        elif record.query_media_id:
            wanted["media"].add(record.query_media_id)
    rows = {
        "upload": Upload.objects.in_bulk(wanted["upload"]) if wanted["upload"] else {},
        "media": Media.objects.in_bulk(wanted["media"]) if wanted["media"] else {},
    }
    files: dict[tuple[str, int], QueryFile] = {}
    by_record: dict[int, QueryFile] = {}
    for pk, record in sorted(records.items()):
        kind = "upload" if record.query_type == "upload" else "media"
        row = rows[kind].get(record.query_upload_id if kind == "upload" else record.query_media_id)
        if row is None:
            continue
        query = files.setdefault((kind, row.pk), QueryFile(kind=kind, media=row, arcname=query_member_name(kind, row)))
        query.records.append(pk)
        by_record[pk] = query
    return by_record


def thumbnail_data_uri(name: str) -> str:
    """A stored JPEG thumbnail as a data: URI for a self-contained report; '' when it is
    missing, unreadable or unexpectedly large."""
    if not name:
        return ""
    try:
        with default_storage.open(name, "rb") as fh:
            data = fh.read(THUMB_MAX_BYTES + 1)
    except Exception as exc:  # any storage backend's "not there"
        logger.warning("export: thumbnail %s unreadable: %s", name, exc)
        return ""
    if len(data) > THUMB_MAX_BYTES:
        return ""
    return "data:image/jpeg;base64," + base64.b64encode(data).decode("ascii")


_FENCE = re.compile(r"^\s{0,3}(`{3,}|~{3,})")
_HEADING = re.compile(r"^(\s{0,3})(#{1,6})(?=\s|$)")


def demote_headings(markdown: str, by: int = 2) -> str:
    """Notes' ATX headings moved ``by`` levels down (at most h6), outside code fences, so
    "# Findings" in the notes sits under the report's "## Notes" instead of above it."""
    out = []
    fence = ""
    for line in markdown.splitlines(keepends=True):
        opened = _FENCE.match(line)
        if fence:
            if opened and opened.group(1)[0] == fence[0] and len(opened.group(1)) >= len(fence):
                fence = ""
        elif opened:
            fence = opened.group(1)
        else:
            line = _HEADING.sub(lambda m: m.group(1) + "#" * min(6, len(m.group(2)) + by), line, count=1)
        out.append(line)
    return "".join(out)
