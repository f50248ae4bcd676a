"""The search record: every search, as it was answered, appended to SearchRecord.

One writer, :func:`search_record_create`, called by every search route and by the batch
reverse search, so all of them log the same fields. There is deliberately no update or
delete service: the record is evidence of how an item was found.
"""

from __future__ import annotations

import hashlib
import threading
import time
from pathlib import Path
from typing import Any

from search_app.models import SearchRecord
from search_app.query.sources import rerun_path

_checksums: dict[tuple[str, int, int], str] = {}
_lock = threading.Lock()


def _file_sha256(path: Path) -> str:
    """sha256 of a weights file, remembered per (path, size, mtime): a weights file is
    hundreds of MB and does not change between searches."""
    stat = path.stat()
    key = (str(path), stat.st_size, stat.st_mtime_ns)
    with _lock:
        if key in _checksums:
            return _checksums[key]
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1024 * 1024), b""):
            digest.update(chunk)
    with _lock:
        _checksums[key] = digest.hexdigest()
    return _checksums[key]


# Finding a model's weights file reads package metadata (about 0.6 ms): every search
# records it, so the answer is kept a few seconds per process, like the file's sha256.
_WEIGHTS_SECONDS = 10.0
_resolved: dict[str, tuple[float, str]] = {}


def weights_checksum(modelzoo_name: str) -> str:
    """What identifies the exact weights a feature's model ran with: the sha256 of the
    weights file, else ``random:<seed>`` for a fixed-seed random-weight model (the seed
    fully determines it), else ``unknown`` (the model is no longer in the zoo)."""
    now = time.monotonic()
    hit = _resolved.get(modelzoo_name)
    if hit is not None and hit[0] > now:
        return hit[1]
    value = _weights_checksum(modelzoo_name)
    _resolved[modelzoo_name] = (now + _WEIGHTS_SECONDS, value)
    return value


def weights_checksums_forget() -> None:
    """Drop what weights_checksum remembers (the weights a model resolves to changed)."""
    _resolved.clear()
    with _lock:
        _checksums.clear()


def _weights_checksum(modelzoo_name: str) -> str:
    from modelzoo.registry import MODELS
    from modelzoo.weights import resolve_weights

    spec = MODELS.get(modelzoo_name)
    if spec is None:
        return "unknown"
    try:
        path = resolve_weights(spec)
    except Exception:
        return "unknown"
    if path is None:
        return f"random:{getattr(spec, 'seed', 0)}"
    return "sha256:" + _file_sha256(path)


def search_record_create(*, outcome, options, route: str, user=None) -> SearchRecord:
    """Append the record of one answered search (``outcome`` from search.search_run)."""
    params: dict[str, Any] = {
        "offset": options.offset,
        "limit": options.limit,
        "include_self": options.include_self,
        "media_type": options.media_type,
        "collection": options.collection_id,
        "min_score": options.min_score,
        "group": "video" if options.group_video else None,
        "feature": options.feature_id,
        **outcome.source.record_params(),
    }
    results = [
        {
            "rank": options.offset + i + 1,
            "media_id": hit.media_id,
            "sha256": outcome.media[hit.media_id].sha256 if hit.media_id in outcome.media else None,
            "score": round(float(hit.score), 6),
            **_match_fields(outcome, hit.media_id),
        }
        for i, hit in enumerate(outcome.hits)
    ]
    authenticated = user if getattr(user, "is_authenticated", False) else None
    # Written durably, like every other row: the answer hands out record_id, and a
    # curator may cite it as evidence of how an item was found.
    return SearchRecord.objects.create(
        user=authenticated,
        username=getattr(authenticated, "username", "") or "",
        route=route,
        **outcome.source.record_fields(),
        feature_id=outcome.feature.pk,
        modelzoo_name=outcome.feature.modelzoo_name,
        weights_checksum=weights_checksum(outcome.feature.modelzoo_name),
        index_type=outcome.index.index_type,
        index_version=outcome.index.version,
        params=params,
        results=results,
    )


def _match_fields(outcome, media_id: int) -> dict[str, Any]:
    """How the hit matched (query.matching): its label, and the regions when found."""
    match = getattr(outcome, "matches", {}).get(media_id)
    if match is None:
        return {"match": "similar"}
    fields = match.as_dict()
    return {k: v for k, v in fields.items() if v not in (None, False)}


def search_record_list(*, user_id: int | None = None, media_id: int | None = None):
    """Records, newest first, optionally of one user or with one media as the query."""
    qs = SearchRecord.objects.all()
    if user_id is not None:
        qs = qs.filter(user_id=user_id)
    if media_id is not None:
        qs = qs.filter(query_media_id=media_id)
    return qs


def search_record_as_dict(record: SearchRecord) -> dict[str, Any]:
    """A record as the API, the exports and the batch report show it; ``rerun`` is the
    API path (with its query string) that asks the same search again."""
    from urllib.parse import urlencode

    path = rerun_path(record)
    query = {k: v for k, v in (record.params or {}).items() if v not in (None, False)}
    query["feature"] = record.feature_id
    if record.box:
        query["box"] = ",".join(f"{v:g}" for v in record.box)
    return {
        "id": record.pk,
        "created_at": record.created_at.isoformat() if record.created_at else None,
        "user_id": record.user_id,
        "username": record.username,
        "route": record.route,
        "query": {
            "type": record.query_type,
            "media_id": record.query_media_id,
            "upload_id": record.query_upload_id,
            "sha256": record.query_sha256 or None,
            "seed": record.seed or None,
            "box": record.box,
        },
        "feature_id": record.feature_id,
        "modelzoo_name": record.modelzoo_name,
        "weights_checksum": record.weights_checksum,
        "index_type": record.index_type,
        "index_version": record.index_version,
        "params": record.params,
        "results": record.results,
        "rerun": f"{path}?{urlencode(query)}",
    }
