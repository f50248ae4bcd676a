"""Copy detection in the default search: more than one vector on each side, a geometric
check of the best results, and a match label on every result.

What a search compares (measured in bench/robustness.py, which chose each part):

* the query: its whole-picture vector, and the vectors of the parts of it where a
  picture may sit (``query.crops``: inside uniform borders, a turned picture, framed
  rectangles such as a screenshot's photo or a picture inside a picture);
* the collection: each media's whole-picture vector, and its region vectors (its centre
  half and quarters, ``indexing.regions``), so a crop finds the picture it came from.

A media's score is the best over those pairs; it appears once, at that score, with the
pair that gave it (which part of the query, which region of the media). Then the
first ``VERIFY_TOP`` results are checked geometrically against the query
(``query.geometry``: keypoints and one transform; a result's keypoints are found once
and kept in the storage, ``query.keypoint_store``), which confirms a copy and says where
it matches; a whole picture too small or soft for keypoints is confirmed by its
perceptual hash. Every result is labelled:

* ``exact``: the same bytes as the query (sha256 equal);
* ``copy``: the same picture, edited: confirmed by the geometric check or by the
  whole pictures' perceptual hashes, or scoring at least the model's ``COPY_SCORES``
  threshold (chosen on the bench for at most 0.1% false copies among unrelated pairs; a
  model without a measured threshold labels copies by the checks alone);
* ``similar``: anything else.

Within the first ``VERIFY_TOP`` results, exact ones come first, then copies (those a
check confirmed before those labelled by their score alone), then the rest, each in
score order. The rest of the list is in score order and its labels come
from the scores alone, so the list stays one ordered list that pages are slices of:
the first ``VERIFY_TOP`` are always the same items, only reordered, whatever page is
asked for (the search fetches at least that many before cutting a page).

Beside the vectors, the query's perceptual hash is compared with every stored
picture's (``query.hashes``): a copy too small, compressed or soft for its vector to
rank it (a quarter-size JPEG at quality 10) enters the results through its hash, at
the hash's score (``hash_score``), as a copy.
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from django.db import IntegrityError, transaction

from search_app.indexing import regions as region_index
from search_app.query.ranking import Candidate

logger = logging.getLogger(__name__)

Box = tuple[float, float, float, float]

# Results checked geometrically (and grouped by label) at the top of every list.
VERIFY_TOP = 10
# Fused score from which a result is a copy without a check, per model, measured on
# bench/robustness.py (scores mean different things per model). Lite0, the first ten
# results of 2,700 queries: with the checks and 0.90, 0.045% of 24,678 unrelated pairs
# are labelled copies and 94.8% of true copies are (0.88: 0.089% and 95.7%; 0.80: 0.43%,
# all of those unverified; the checks alone: 0.008% and 89.9%).
COPY_SCORES: dict[str, float] = {"efficientnet_lite0": 0.90}
# Results scoring below this are not checked geometrically (no true copy on the bench
# scored lower), which keeps the check to the few results that may be copies.
VERIFY_MIN_SCORE = 0.45
# Subtracted from the score of a match through a region of a stored picture, or through
# a part of the query, so that a whole picture matching a whole picture ranks first at
# equal similarity: without it, parts of unrelated pictures that happen to look alike
# push look-alikes of the whole picture down (precision@5 of look-alikes on the bench:
# 0.503 without, 0.512 with 0.05, 0.505 for whole pictures alone).
REGION_MARGIN = 0.05
CROP_MARGIN = 0.05
# A part of the query is enlarged up to this many times for the geometric check.
CROP_ENLARGE = 2.0

EXACT, COPY, SIMILAR = "exact", "copy", "similar"
MATCH_LABELS = (EXACT, COPY, SIMILAR)
_ORDER = {EXACT: 0, COPY: 1, SIMILAR: 2}


@dataclass
class Evidence:
    """How a result was found: its best score and the pair that gave it."""

    score: float
    query_key: str = ""  # "" for the whole query, else the query crop's key
    query_box: Box | None = None
    region: int | None = None  # the stored picture's region number, None for the whole
    hash_bits: int | None = None  # bits between the whole pictures' hashes, when near (query.hashes)


@dataclass
class Match:
    """What the answer says about one result besides its score."""

    label: str
    region: Box | None = None  # where the match lies in the result (normalised)
    query_region: Box | None = None  # where the result lies in the query (normalised)
    verified: bool = False
    inliers: int = 0
    via: str = "whole"  # whole | region | query_crop

    def as_dict(self) -> dict[str, Any]:
        return {
            "match": self.label,
            "region": list(self.region) if self.region else None,
            "query_region": list(self.query_region) if self.query_region else None,
            "verified": self.verified,
        }


# --- the query side --------------------------------------------------------------------------------


_crops_cache: OrderedDict[str, list] = OrderedDict()
_crops_lock = threading.Lock()


def _query_crops(sha256: str, picture) -> list:
    from search_app.query.crops import query_crops

    if sha256:
        with _crops_lock:
            found = _crops_cache.get(sha256)
            if found is not None:
                _crops_cache.move_to_end(sha256)
                return found
    made = query_crops(picture)
    if sha256:
        with _crops_lock:
            _crops_cache[sha256] = made
            while len(_crops_cache) > 64:
                _crops_cache.popitem(last=False)
    return made


def query_picture(source) -> Any:
    """The query as an upright RGB picture (its box when a region is searched), decoded
    at a reduced scale; None when the query is not one picture (words, a whole video)."""
    from django.core.files.storage import default_storage

    from core.images import to_rgb
    from media_app.imaging import open_image_reduced
    from search_app.query.crops import crop
    from search_app.query.sources import RegionSource

    target = source.image()
    if target is None:
        return None
    with default_storage.open(target.file.name, "rb") as fh:
        img, _ = open_image_reduced(fh, min_long=1280)
        picture = to_rgb(img)
    if isinstance(source, RegionSource):
        picture = crop(picture, source.box)
    return picture


def _crop_vectors(feature, sha256: str, crops: list) -> np.ndarray:
    """Vectors of the query's crops, kept per image, crop and model (RegionVector)."""
    from modelzoo.embedding import get_embedder
    from search_app.models import RegionVector

    if not crops:
        return np.zeros((0, 0), dtype=np.float32)
    keys = [c.key for c in crops]
    stored = {}
    if sha256:
        rows = RegionVector.objects.filter(sha256=sha256, modelzoo_name=feature.modelzoo_name, box__in=keys).values_list("box", "vector")
        stored = {box: np.frombuffer(bytes(vec), dtype=np.float32) for box, vec in rows}
    missing = [c for c in crops if c.key not in stored]
    if missing:
        made = get_embedder(feature.modelzoo_name).embed_images([c.image for c in missing]).astype(np.float32)
        for c, vec in zip(missing, made, strict=True):
            stored[c.key] = vec
            if sha256:
                try:
                    with transaction.atomic():
                        RegionVector.objects.create(sha256=sha256, modelzoo_name=feature.modelzoo_name, box=c.key, vector=vec.tobytes())
                except IntegrityError:
                    pass  # a concurrent search stored it first: same crop, same model
    return np.stack([stored[k] for k in keys])


# --- the plan of one search --------------------------------------------------------------------------


@dataclass
class MatchPlan:
    """Everything one search compares, and what it found about each result."""

    index: Any
    vectors: np.ndarray  # (q, dim): the whole query first, then its crops
    keys: list[str]  # "" for the whole query, else the crop's key
    boxes: list[Box | None]
    regions: Any = None  # the region index, or None
    query_sha256: str = ""
    modelzoo_name: str = ""
    picture: Any = None
    crops: list = field(default_factory=list)
    # The whole query's packed perceptual hashes, as is and mirrored (None: plain or none).
    query_hashes: list[int | None] = field(default_factory=list)
    evidence: dict[int, Evidence] = field(default_factory=dict)
    matches: dict[int, Match] = field(default_factory=dict)
    _hash_near: dict[int, int] | None = None
    timing_ms: dict[str, float] = field(default_factory=dict)
    _kp_cache: dict = field(default_factory=dict)

    # k-NN over every (query vector, stored vector) pair, merged per media ----------------

    def knn(self, k: int, ef: int) -> tuple[np.ndarray, np.ndarray]:
        """The ``k`` best media by their best pair: (ids, scores), best first."""
        best: dict[int, Evidence] = {}

        def offer(ids: np.ndarray, sims: np.ndarray, row: int, region: np.ndarray | None) -> None:
            margin = CROP_MARGIN if row else 0.0
            for j in range(ids.size):
                media_id = int(ids[j])
                if media_id < 0:
                    continue
                number = None if region is None else int(region[j])
                score = float(sims[j]) - margin - (REGION_MARGIN if number is not None else 0.0)
                found = best.get(media_id)
                if found is None or score > found.score:
                    best[media_id] = Evidence(score, self.keys[row], self.boxes[row], number)

        ids, sims = self.index.knn(self.vectors, k, ef=ef)
        for row in range(ids.shape[0]):
            offer(ids[row], sims[row], row, None)
        if self.regions is not None and self.regions.count:
            per_media = len(region_index_boxes())
            kr = min(self.regions.count, k * per_media)
            labels, sims = self.regions.knn(self.vectors, kr, ef=max(ef, kr))
            for row in range(labels.shape[0]):
                valid = labels[row] >= 0
                parents = np.where(valid, region_index.region_parents(np.maximum(labels[row], 0)), -1)
                offer(parents, sims[row], row, region_index.region_numbers(np.maximum(labels[row], 0)))
        for media_id, bits in self.hash_near().items():
            score = hash_score(bits)
            found = best.get(media_id)
            if found is None or score > found.score:
                best[media_id] = Evidence(score, hash_bits=bits)
            else:
                found.hash_bits = bits
        ordered = sorted(best.items(), key=lambda item: (-item[1].score, item[0]))[:k]
        for media_id, ev in ordered:
            known = self.evidence.get(media_id)
            if known is None or ev.score > known.score:
                self.evidence[media_id] = ev
        return (np.asarray([m for m, _ in ordered], dtype=np.int64), np.asarray([e.score for _, e in ordered], dtype=np.float32))

    def hash_near(self) -> dict[int, int]:
        """media id -> bits, for the stored pictures whose hash is near the query's."""
        if self._hash_near is None:
            from modelzoo.phash import SAME_PICTURE_BITS
            from search_app.query import hashes

            self._hash_near = hashes.matches(self.query_hashes, SAME_PICTURE_BITS) if self.query_hashes else {}
        return self._hash_near

    # labels, the geometric check and the order of the top ----------------------------------

    def finish(self, kept: list[Candidate], *, rows: dict[int, Any], verify: bool = True, label_only: list[Candidate] | None = None) -> list[Candidate]:
        """``kept`` with its first VERIFY_TOP reordered by label; fills ``matches`` for
        those and for ``label_only`` (the page). ``rows``: the Media rows of those (by id).
        ``verify`` False: the page lies past the top, whose order does not change what it
        holds, so the check is skipped."""
        import time

        started = time.perf_counter()
        top = kept[:VERIFY_TOP]
        for cand in top + list(label_only or ()):
            if cand.media_id not in self.matches:
                self.matches[cand.media_id] = self._score_match(cand, rows.get(cand.media_id))
        if verify and self.picture is not None and top:
            candidates = [c for c in top if self.matches[c.media_id].label != EXACT]
            self._verify([c for c in candidates if c.score >= VERIFY_MIN_SCORE], rows)
            self._verify_hash([c for c in candidates if not self.matches[c.media_id].verified], rows)
        position = {c.media_id: i for i, c in enumerate(top)}
        ordered = sorted(top, key=lambda c: (_ORDER[self.matches[c.media_id].label], not self.matches[c.media_id].verified, position[c.media_id]))
        self.timing_ms["verify"] = round((time.perf_counter() - started) * 1000, 2)
        return ordered + list(kept[VERIFY_TOP:])

    def _score_match(self, cand: Candidate, row) -> Match:
        from modelzoo.phash import SAME_PICTURE_BITS, nearest_bits

        ev = self.evidence.get(cand.media_id)
        region = query_region = None
        via = "whole"
        if ev is not None and ev.region is not None:
            region = region_box(ev.region)
            via = "region"
        if ev is not None and ev.query_key:
            query_region = ev.query_box
            via = "query_crop" if via == "whole" else via
        if self.query_sha256 and row is not None and row.sha256 == self.query_sha256:
            return Match(EXACT, via=via)
        if ev is not None and ev.hash_bits is not None and row is not None:
            # Near by hash: checked again against the row (the table may be older than it).
            bits = nearest_bits(self.query_hashes, row.phash)
            if bits is not None and bits <= SAME_PICTURE_BITS:
                # The whole pictures match: no region to name (the geometric check may find one).
                return Match(COPY, verified=True, via="hash")
        threshold = COPY_SCORES.get(self.modelzoo_name)
        label = COPY if threshold is not None and cand.score >= threshold else SIMILAR
        return Match(label, region, query_region, via=via)

    def _verify(self, candidates: list[Candidate], rows: dict[int, Any]) -> None:
        from search_app.query import geometry, keypoint_store

        if not candidates:
            return
        whole = self._query_keypoints("")
        for cand in candidates:
            row = rows.get(cand.media_id)
            if row is None or not row.file.name:
                continue
            try:
                stored = geometry.stored_keypoints.get(
                    row.sha256, lambda row=row: keypoint_store.for_picture(row.sha256, row.file.name, keep=keypoint_store.worth_keeping(row.width, row.height))
                )
            except Exception:  # an unreadable file is left to its score
                logger.warning("geometric check: cannot read media %s", cand.media_id, exc_info=True)
                continue
            found = None
            ev = self.evidence.get(cand.media_id)
            tries = [("", whole)]
            if ev is not None and ev.query_key:
                tries.insert(0, (ev.query_key, self._query_keypoints(ev.query_key)))
            for key, (plain, mirror) in tries:
                found = geometry.verify(plain, stored) or geometry.verify(mirror, stored, is_mirror=True)
                if found is not None:
                    if key:
                        found = _within(found, self._crop_box(key))
                    break
            if found is None:
                continue
            match = self.matches[cand.media_id]
            match.verified = True
            match.inliers = found.inliers
            match.region = found.box
            match.query_region = found.query_box
            if match.label == SIMILAR:
                match.label = COPY

    def _verify_hash(self, candidates: list[Candidate], rows: dict[int, Any]) -> None:
        """The whole pictures' perceptual hashes, for copies too small or soft for
        keypoints (their vectors may score low too: checked whatever their score), for
        pictures stored before hashes were kept (read from their files)."""
        from modelzoo.phash import SAME_PICTURE_BITS, nearest_bits
        from search_app.query import geometry

        if not candidates or not any(v is not None for v in self.query_hashes):
            return
        for cand in candidates:
            row = rows.get(cand.media_id)
            if row is None or not row.file.name:
                continue
            if row.phash is not None:
                continue  # a stored hash was compared already (query.hashes, _score_match)
            try:
                stored = geometry.stored_hashes.get(row.sha256, lambda name=row.file.name: geometry.stored_hash(name))
            except Exception:  # an unreadable file is left to its score
                continue
            bits = nearest_bits(self.query_hashes, stored)
            if bits is not None and bits <= SAME_PICTURE_BITS:
                # The whole picture matched: no region to name.
                match = self.matches[cand.media_id]
                match.verified = True
                if match.label == SIMILAR:
                    match.label = COPY

    def _query_keypoints(self, key: str):
        from search_app.query import geometry

        if key not in self._kp_cache:
            kept = None
            if not key and self.query_sha256:
                from search_app.query import keypoint_store

                # A stored picture searched with (a search by media): its plain keypoints
                # are kept like any result's, found at the same side; only the mirror's
                # are found now.
                kept = keypoint_store.read(self.query_sha256)
            if kept is not None:
                self._kp_cache[key] = (kept, geometry.mirror_keypoints(self.picture))
            else:
                image = self.picture if not key else next(c.image for c in self.crops if c.key == key)
                enlarge = CROP_ENLARGE if key else 1.0
                self._kp_cache[key] = geometry.keypoints_and_mirror(image, enlarge=enlarge)
        return self._kp_cache[key]

    def _crop_box(self, key: str) -> Box:
        return next(c.box for c in self.crops if c.key == key)


def hash_score(bits: int) -> float:
    """The score of a picture found by its hash: the cosine of the two hashes as vectors
    (modelzoo.phash), 1.0 for equal hashes, 0.75 at the farthest a copy may be."""
    from modelzoo.phash import HASH_BITS

    return round(1.0 - 2.0 * bits / HASH_BITS, 4)


def _within(found, box: Box):
    """A match found on a crop of the query, with its query box put back in the whole
    query's coordinates (a turned crop keeps its box: the whole query)."""
    from dataclasses import replace

    x1, y1, x2, y2 = box
    qb = found.query_box
    w, h = x2 - x1, y2 - y1
    return replace(found, query_box=(round(x1 + qb[0] * w, 4), round(y1 + qb[1] * h, 4), round(x1 + qb[2] * w, 4), round(y1 + qb[3] * h, 4)))


def region_index_boxes() -> dict[int, Box]:
    from modelzoo.regions import REGION_BOXES

    return REGION_BOXES


def region_box(number: int) -> Box | None:
    return region_index_boxes().get(int(number))


def _parts_apply(feature) -> bool:
    """Query parts and region vectors serve a real neural model (modelzoo.regions:
    not a random-weight test model, not the perceptual hash, not turned off)."""
    from modelzoo.regions import has_regions
    from modelzoo.registry import MODELS

    spec = MODELS.get(feature.modelzoo_name)
    return spec is not None and has_regions(spec)


def plan_search(*, source, feature, index, vector: np.ndarray, use_parts: bool = True) -> MatchPlan:
    """The vectors and region index one search compares (see the module docstring).
    ``use_parts`` False: the whole query against whole pictures only (a search limited
    to words, scored exactly over its media); so is every search of a model without
    region vectors. The query picture is still read for the geometric check."""
    import time

    from search_app.query.sources import RegionSource

    started = time.perf_counter()
    fields = source.record_fields()
    sha256 = "" if isinstance(source, RegionSource) else (fields.get("query_sha256") or "")
    plan = MatchPlan(
        index=index,
        vectors=np.asarray(vector, dtype=np.float32).reshape(1, -1),
        keys=[""],
        boxes=[None],
        query_sha256=sha256,
        modelzoo_name=feature.modelzoo_name,
    )
    if not use_parts:
        return plan
    try:
        plan.picture = query_picture(source)
    except Exception:  # the query's file is gone or unreadable: search with its vector alone
        logger.warning("search: cannot read the query picture", exc_info=True)
        plan.picture = None
    if plan.picture is not None:
        from modelzoo.phash import picture_hashes

        plan.query_hashes = list(picture_hashes(plan.picture))
    parts = _parts_apply(feature)
    if plan.picture is not None and parts:
        region_of = fields.get("query_sha256") if isinstance(source, RegionSource) else ""
        plan.crops = _query_crops(sha256 or (f"{region_of}#{fields.get('box')}" if region_of else ""), plan.picture)
        if plan.crops:
            # Kept per image and crop (RegionVector) for a whole image; a region's are not.
            crop_vectors = _crop_vectors(feature, sha256, plan.crops)
            plan.vectors = np.concatenate([plan.vectors, crop_vectors.reshape(len(plan.crops), -1)])
            plan.keys += [c.key for c in plan.crops]
            plan.boxes += [c.box for c in plan.crops]
    plan.regions = region_index.for_index(index) if parts else None
    plan.timing_ms["query_parts"] = round((time.perf_counter() - started) * 1000, 2)
    return plan
