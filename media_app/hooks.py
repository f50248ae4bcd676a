"""What the media app lets the apps above it do, without importing them.

The search app registers its index writers here and the collections app its
membership writer, each from its ``AppConfig.ready()``; the media app calls the hooks
where the work happens (a delete, an ingest). With nothing registered the media app
works on its own: deletes only remove rows and files, ingest only imports.
"""

from __future__ import annotations

from core.hooks import Hook

media_deleted = Hook(
    "media_deleted",
    "Called with ``media_ids=[...], sha256s=[...]`` after media rows (a video with its frames) were deleted and the "
    "deletion committed: indexes forget them, and what was kept per picture (by sha256) goes.",
)

upload_deleted = Hook(
    "upload_deleted",
    "Called with ``upload_ids=[...], sha256s=[...]`` after uploads were deleted and the deletion committed: "
    "what was kept per query picture (by sha256) goes, unless a media holds the same bytes.",
)

ingest_vectors_ready = Hook(
    "ingest_vectors_ready",
    "Called with ``feature=, ids=, vectors=, modelzoo_name=`` when an ingest embedded committed "
    "media from its own decode; returns the number of vectors stored.",
)

ingest_region_vectors_ready = Hook(
    "ingest_region_vectors_ready",
    "Called with ``feature=, media_ids=, numbers=, vectors=, modelzoo_name=`` when an ingest embedded "
    "regions of committed media (modelzoo.regions) from its own decode; returns the number stored.",
)

ingest_index = Hook(
    "ingest_index",
    "Called with ``features=[...] or None, reporter=`` after an ingest, to embed and index what is "
    "new in those features (None: every active one); returns one result per feature.",
)

ingest_media_stored = Hook(
    "ingest_media_stored",
    "Called with ``media=, options=, pooled_models=`` for every media an ingest imported or found "
    "already stored (not in a dry run); returns a warning to report for the file, or None. "
    "``pooled_models``: the models whose pass over this media will reach ``ingest_pooled_ready``.",
)

ingest_pooled_ready = Hook(
    "ingest_pooled_ready",
    "Called with ``modelzoo_name=, media_ids=, pooled=`` for committed media an ingest ran through "
    "a model from its own decode: ``pooled`` their un-normalised pooled features (rows in the order "
    "of media_ids), or None where the pass could not make them (act from the files instead). Each "
    "media announced by ``pooled_models`` comes here once, unless the run was stopped.",
)

upload_decoding = Hook(
    "upload_decoding",
    "Called with no arguments before a new upload is decoded; returns None or ``(min_side, on_decoded)``: "
    "the one decode keeps at least ``min_side`` pixels on its shorter side, and ``on_decoded(upload=, image=)`` "
    "is called with it once the upload's row is stored (the search app computes the query vector from it).",
)

info_counts = Hook(
    "info_counts",
    "Called with no arguments by ``media/info/``; each returns a dict of counts to add to the answer.",
)

file_access = Hook(
    "file_access",
    "Called with ``path=, user=`` by ``/files/`` for a stored path outside the media app's own "
    "folders; returns True (this user may read it), False (may not) or None (not this provider's "
    "path). A path no provider claims is for staff only.",
)
