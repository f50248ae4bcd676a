"""What a search searches with, and how that becomes a query vector.

Every kind of query is a :class:`QuerySource`: a stored media, an upload, a region (box)
of either, a random pick (a seed names a stored media), a sha256 (names a media or an
upload) and words (:class:`TextSource`: a CLIP text tower's vector, or a search of the
text read on pictures). :func:`~search_app.query.search.search_run`, the side-by-side
scores of :mod:`~search_app.query.compare`, the detections, the search record and the
answer's ``query`` block use only this interface, so "which kind of query -> which
vector" is decided here and nowhere else. A source may also limit the results to some
media (:meth:`QuerySource.allowed_ids`: :class:`WordsFilter`, an image query filtered
by words).

Adding a kind of query is one subclass here: defining it registers it under its
``kind``, which also puts its ``type`` into the answer's documented choices.
:class:`TextSource` is the example: ``vector`` (the text tower's embedding),
``record_params`` (logged with the search, and asked again by its rerun) and
``rerun_path``, and a route (``search/text/``) that calls
``search_run(source=TextSource(q, mode="clip"), options=options)``. The defaults cover
the rest: no item of the collection to leave out of the results, no image to detect
objects on or to crop a region from.

Vectors that cost a model run are kept: an upload's per model (QueryVector), a region's
per image, box and model (RegionVector), so repeating or paging a query costs only the
index lookup.
"""

from __future__ import annotations

import hashlib
import logging
from abc import ABC, abstractmethod
from typing import Any, ClassVar

import numpy as np
from django.db import IntegrityError, transaction

from core.errors import Conflict, InvalidInput, NotFound
from media_app.models import Media, MediaType, Upload
from search_app.indexing.index import LoadedIndex
from search_app.models import Feature, QueryVector, RegionVector, SearchRecord

Box = tuple[float, float, float, float]

logger = logging.getLogger(__name__)


def embedder(feature: Feature):
    """The model that embeds query images for ``feature``."""
    from modelzoo.embedding import get_embedder

    return get_embedder(feature.modelzoo_name)


def _embed_stored_file(feature: Feature, name: str) -> np.ndarray:
    from django.core.files.storage import default_storage

    with default_storage.open(name, "rb") as fh:
        data = fh.read()
    return embedder(feature).embed_image(data).astype(np.float32)


class QuerySource(ABC):
    """One query: what it is, its vector under a feature, and what is said about it.

    ``search_run`` calls :meth:`resolve` once the feature and its index are known, and
    uses the source it returns for everything else.
    """

    kind: ClassVar[str]
    """The registry key; also the name of the route that searches with this kind."""

    answer_types: ClassVar[tuple[str, ...]]
    """The ``type`` values a resolved source of this class can have (the answer's
    documented choices); ``(kind,)`` unless the class says otherwise."""

    registry: ClassVar[dict[str, type[QuerySource]]] = {}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "kind" in cls.__dict__:
            QuerySource.registry[cls.kind] = cls
            if "answer_types" not in cls.__dict__:
                cls.answer_types = (cls.kind,)

    @property
    def type(self) -> str:
        """What the answer's ``query.type`` and the record's ``query_type`` call it."""
        return self.kind

    def resolve(self, *, feature: Feature, index: LoadedIndex) -> QuerySource:
        """The source that stands for one item, once the searched index is known (a
        random pick chooses its media here); most sources already do."""
        return self

    @abstractmethod
    def vector(self, feature: Feature, index: LoadedIndex) -> np.ndarray:
        """The unit query vector under ``feature`` (``index`` is that feature's)."""

    def self_ids(self) -> set[int]:
        """Media ids that are the query itself, left out of the results unless
        ``include_self`` asks for them."""
        return set()

    def allowed_ids(self) -> set[int] | None:
        """The only media ids the results may hold (a filter by words), or None for
        no such limit."""
        return None

    def image(self) -> Media | Upload | None:
        """The stored image the query shows (object detections run on it, a region
        crops it), or None when there is no single image."""
        return None

    def record_fields(self) -> dict[str, Any]:
        """The SearchRecord columns that say what was searched with."""
        return {"query_type": self.type, "query_media_id": None, "query_upload_id": None, "query_sha256": "", "seed": "", "box": None}

    def record_params(self) -> dict[str, Any]:
        """Request parameters of this query logged beside the search options, so the
        record's rerun asks the same thing."""
        return {}

    def describe(self) -> dict[str, Any]:
        """The answer's ``query`` block (SearchQueryInfoSerializer serializes it)."""
        return {"type": self.type, "seed": None, "media": None, "upload": None, "box": None}

    @classmethod
    def rerun_path(cls, record: SearchRecord) -> str | None:
        """The API path that asks ``record``'s search again with this kind, or None
        when this kind cannot."""
        return None


class MediaSource(QuerySource):
    """A media of the collection. Its vector is the stored one when the index holds it,
    else computed from its file now; a video's is the mean of its indexed frames."""

    kind = "media"

    def __init__(self, media: Media | None) -> None:
        self.media = media

    @classmethod
    def from_id(cls, media_id: int) -> MediaSource:
        media = Media.objects.filter(pk=media_id).first()
        if media is None:
            raise NotFound(f"No media with id {media_id}.")
        return cls(media)

    def vector(self, feature: Feature, index: LoadedIndex) -> np.ndarray:
        media = self.media
        if media.media_type == MediaType.VIDEO:
            frame_ids = [i for i in media.frames.values_list("pk", flat=True) if i in index]
            if not frame_ids:
                raise Conflict(f"Video {media.pk} has no indexed frames in feature {feature.pk}; search one of its frames.", code="not_indexed")
            vec = index.get_vectors(frame_ids).mean(axis=0)
            return (vec / max(float(np.linalg.norm(vec)), 1e-12)).astype(np.float32)
        if media.pk in index:
            return index.get_vectors([media.pk])[0]
        return _embed_stored_file(feature, media.file.name)

    def self_ids(self) -> set[int]:
        if self.media.media_type == MediaType.VIDEO:
            return set(self.media.frames.values_list("pk", flat=True)) | {self.media.pk}
        return {self.media.pk}

    def image(self) -> Media | None:
        return None if self.media.media_type == MediaType.VIDEO else self.media

    def record_fields(self) -> dict[str, Any]:
        return {**super().record_fields(), "query_media_id": self.media.pk, "query_sha256": self.media.sha256 or ""}

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "media": self.media}

    @classmethod
    def rerun_path(cls, record: SearchRecord) -> str | None:
        if record.query_type == "media" and record.query_media_id:
            return f"/api/v1/search/media/{record.query_media_id}/"
        return None


class UploadSource(QuerySource):
    """An uploaded query image, embedded once per model and kept (QueryVector)."""

    kind = "upload"

    def __init__(self, upload: Upload) -> None:
        self.upload = upload

    @classmethod
    def from_id(cls, upload_id: int) -> UploadSource:
        upload = Upload.objects.filter(pk=upload_id).first()
        if upload is None:
            raise NotFound(f"No upload with id {upload_id}.")
        return cls(upload)

    def vector(self, feature: Feature, index: LoadedIndex) -> np.ndarray:
        row = QueryVector.objects.filter(upload=self.upload, modelzoo_name=feature.modelzoo_name).first()
        if row is not None:
            return np.frombuffer(bytes(row.vector), dtype=np.float32)
        vec = _embed_stored_file(feature, self.upload.file.name)
        try:
            with transaction.atomic():
                QueryVector.objects.create(upload=self.upload, modelzoo_name=feature.modelzoo_name, vector=vec.astype(np.float32).tobytes())
        except IntegrityError:
            pass  # a concurrent request stored it first; same model, same vector
        return vec

    def image(self) -> Upload:
        return self.upload

    def record_fields(self) -> dict[str, Any]:
        return {**super().record_fields(), "query_upload_id": self.upload.pk, "query_sha256": self.upload.sha256 or ""}

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "upload": self.upload}

    @classmethod
    def rerun_path(cls, record: SearchRecord) -> str | None:
        return f"/api/v1/search/upload/{record.query_upload_id}/" if record.query_upload_id else None


def upload_decode_plan() -> tuple[int, Any] | None:
    """The search app's answer to ``media_app.hooks.upload_decoding``: a new upload is
    decoded once, at the size the default feature's model needs, and its query vector
    computed from that decode, so searching by it reads no file and decodes nothing.
    None when no feature is ready or its model cannot run here (searching by the upload
    then says why)."""
    from core.errors import DomainError
    from search_app.selectors import feature_for_search

    try:
        feature = feature_for_search()
        model = embedder(feature)
    except DomainError:
        return None

    def on_decoded(*, upload: Upload, image) -> None:
        try:
            vec = model.embed_image(image).astype(np.float32)
            with transaction.atomic():
                QueryVector.objects.create(upload=upload, modelzoo_name=feature.modelzoo_name, vector=vec.tobytes())
        except IntegrityError:
            pass  # a concurrent request stored it first; same model, same vector
        except Exception:
            # The upload itself is fine: a search by it embeds the stored file instead.
            logger.warning("upload %s: no query vector from its decode", upload.pk, exc_info=True)

    return int(getattr(model.spec, "resize_size", 0) or 0), on_decoded


def box_key(box: Box) -> str:
    """The cache key of a box: 4 decimals, as the API rounds it."""
    return ",".join(f"{v:.4f}" for v in box)


def forget_region_vectors(*, sha256s: list[str], **_) -> None:
    """Remove the kept vectors of the regions and parts of pictures no media or upload
    holds any more (the media app's ``media_deleted`` and ``upload_deleted``): they are
    keyed by sha256, so a media and an upload of the same bytes share them, and they go
    with the last of those."""
    gone = set(filter(None, sha256s))
    if not gone:
        return
    gone -= set(Media.objects.filter(sha256__in=gone).values_list("sha256", flat=True))
    gone -= set(Upload.objects.filter(sha256__in=gone).values_list("sha256", flat=True))
    if gone:
        RegionVector.objects.filter(sha256__in=gone).delete()


class RegionSource(QuerySource):
    """The crop ``box`` (x1, y1, x2, y2 normalised to the upright image) of another
    query's image. Embedded once per image, box and model and kept (RegionVector, keyed
    by sha256, so a media and an upload of the same bytes share it). A query without a
    single image (a whole video) has no region: 400 naming ``box``."""

    kind = "region"
    answer_types = ()  # answers call it what it is a region of

    def __init__(self, of: QuerySource, box: Box) -> None:
        self.of = of
        self.box = box

    @property
    def type(self) -> str:
        return self.of.type

    def resolve(self, *, feature: Feature, index: LoadedIndex) -> QuerySource:
        return RegionSource(self.of.resolve(feature=feature, index=index), self.box)

    def vector(self, feature: Feature, index: LoadedIndex) -> np.ndarray:
        from django.core.files.storage import default_storage

        from core.images import to_rgb
        from media_app.imaging import open_image

        target = self.of.image()
        if target is None:
            raise InvalidInput(
                "A region can be searched on an image or a video frame, not on a whole video.",
                fields={"box": ["Search one of the video's frames with a box instead."]},
            )
        key = box_key(self.box)
        row = RegionVector.objects.filter(sha256=target.sha256, modelzoo_name=feature.modelzoo_name, box=key).first()
        if row is not None:
            return np.frombuffer(bytes(row.vector), dtype=np.float32)
        with default_storage.open(target.file.name, "rb") as fh:
            img = to_rgb(open_image(fh))  # EXIF-upright, as the page shows it
        width, height = img.size
        x1, y1, x2, y2 = self.box
        pixels = (round(x1 * width), round(y1 * height), round(x2 * width), round(y2 * height))
        if pixels[2] - pixels[0] < 2 or pixels[3] - pixels[1] < 2:
            raise InvalidInput(f"The region is smaller than 2 pixels on this {width}x{height} image.", fields={"box": ["Region too small for this image."]})
        vec = embedder(feature).embed_image(img.crop(pixels)).astype(np.float32)
        try:
            with transaction.atomic():
                RegionVector.objects.create(sha256=target.sha256, modelzoo_name=feature.modelzoo_name, box=key, vector=vec.tobytes())
        except IntegrityError:
            pass  # a concurrent request stored it first; same crop, same model, same vector
        return vec

    def self_ids(self) -> set[int]:
        return self.of.self_ids()

    def allowed_ids(self) -> set[int] | None:
        return self.of.allowed_ids()

    def image(self) -> Media | Upload | None:
        return self.of.image()

    def record_fields(self) -> dict[str, Any]:
        return {**self.of.record_fields(), "box": list(self.box)}

    def record_params(self) -> dict[str, Any]:
        return self.of.record_params()

    def describe(self) -> dict[str, Any]:
        return {**self.of.describe(), "box": list(self.box)}


class RandomSource(MediaSource):
    """A media picked by ``seed``: the same seed picks the same media for the same data,
    so a URL can be shared. A hash of the seed indexes the sorted ids of the index."""

    kind = "random"
    answer_types = ("media",)

    def __init__(self, seed: str, media: Media | None = None) -> None:
        super().__init__(media)
        self.seed = seed

    @property
    def type(self) -> str:
        return MediaSource.kind

    def resolve(self, *, feature: Feature, index: LoadedIndex) -> QuerySource:
        if self.media is not None:
            return self
        digest = int.from_bytes(hashlib.sha256(self.seed.encode("utf-8")).digest()[:8], "big")
        picked = None
        for step in range(min(index.count, 16)):
            picked = index.pick(digest + step)
            if picked is None:
                break
            media = Media.objects.filter(pk=picked).first()
            if media is not None:
                return RandomSource(self.seed, media)
        if index.count == 0 or picked is None:
            raise Conflict("The index is empty.", code="index_empty")
        raise Conflict("The index refers to media that no longer exist; rebuild it.", code="index_stale")

    def vector(self, feature: Feature, index: LoadedIndex) -> np.ndarray:
        if self.media is None:
            return self.resolve(feature=feature, index=index).vector(feature, index)
        return super().vector(feature, index)

    def record_fields(self) -> dict[str, Any]:
        return {**super().record_fields(), "seed": self.seed}

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "seed": self.seed}

    @classmethod
    def rerun_path(cls, record: SearchRecord) -> str | None:
        return f"/api/v1/search/random/{record.seed}/" if record.route == cls.kind and record.seed else None


class Sha256Source(QuerySource):
    """The media, else the upload, with this sha256 (checked and looked up at once:
    400 for a malformed digest, 404 when neither exists). It searches, is logged and is
    rerun as the media or upload it names."""

    kind = "sha256"
    answer_types = ("media", "upload")

    def __init__(self, sha256: str) -> None:
        sha256 = sha256.strip().lower()
        if len(sha256) != 64 or any(c not in "0123456789abcdef" for c in sha256):
            raise InvalidInput("sha256 must be 64 hexadecimal characters.", fields={"sha256": ["Not a sha256 hex digest."]})
        self.sha256 = sha256
        media = Media.objects.filter(sha256=sha256).first()
        upload = None if media is not None else Upload.objects.filter(sha256=sha256).first()
        if media is None and upload is None:
            raise NotFound(f"No media or upload with sha256 {sha256}.")
        self.found: QuerySource = MediaSource(media) if media is not None else UploadSource(upload)

    @property
    def type(self) -> str:
        return self.found.type

    def resolve(self, *, feature: Feature, index: LoadedIndex) -> QuerySource:
        return self.found.resolve(feature=feature, index=index)

    def vector(self, feature: Feature, index: LoadedIndex) -> np.ndarray:
        return self.found.vector(feature, index)

    def self_ids(self) -> set[int]:
        return self.found.self_ids()

    def image(self) -> Media | Upload | None:
        return self.found.image()

    def record_fields(self) -> dict[str, Any]:
        return self.found.record_fields()

    def describe(self) -> dict[str, Any]:
        return self.found.describe()

    @staticmethod
    def path(sha256: str) -> str:
        return f"/api/v1/search/sha256/{sha256}/"


class TextSource(QuerySource):
    """Words. With ``mode="clip"`` they are a query vector: the text tower of the
    feature's CLIP-style model embeds them into the same space as its images
    (400 ``no_text_tower`` for a feature whose model has none). With ``mode="words"``
    (the default) they are searched in the text read on pictures and in their labels by
    :mod:`search_app.text.search`, which logs the search through this source too."""

    kind = "text"

    def __init__(self, text: str = "", *, mode: str = "words", label: str = "", params: dict[str, Any] | None = None) -> None:
        self.text = text
        self.mode = mode
        self.label = label
        self.params = params or {}

    def vector(self, feature: Feature, index: LoadedIndex) -> np.ndarray:
        model = embedder(feature)
        if not hasattr(model, "embed_text"):
            raise InvalidInput(
                f"Feature {feature.pk}'s model {feature.modelzoo_name} has no text tower: search words in pictures (mode=words), "
                "or pick a feature built with a CLIP model.",
                code="no_text_tower",
                fields={"feature": ["This feature's model cannot embed text."]},
            )
        return np.asarray(model.embed_text(self.text), dtype=np.float32)

    def record_params(self) -> dict[str, Any]:
        return {"q": self.text or None, "label": self.label or None, "mode": self.mode, **self.params}

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "q": self.text, "label": self.label or None, "mode": self.mode}

    @classmethod
    def rerun_path(cls, record: SearchRecord) -> str | None:
        return "/api/v1/search/text/" if record.query_type == cls.kind else None


class WordsFilter(QuerySource):
    """Another query, its results limited to pictures whose text matches the word query
    ``text`` (``search/upload/<id>/?text=...``). The matching ids are found once, then
    filter the ranked list like a collection does, so paging stays exact."""

    def __init__(self, of: QuerySource, text: str) -> None:
        self.of = of
        self.text = text
        self._allowed: set[int] | None = None

    @property
    def type(self) -> str:
        return self.of.type

    def resolve(self, *, feature: Feature, index: LoadedIndex) -> QuerySource:
        resolved = WordsFilter(self.of.resolve(feature=feature, index=index), self.text)
        resolved._allowed = self._allowed
        return resolved

    def vector(self, feature: Feature, index: LoadedIndex) -> np.ndarray:
        return self.of.vector(feature, index)

    def allowed_ids(self) -> set[int] | None:
        if self._allowed is None:
            from text_app.selectors import media_ids_matching

            self._allowed = media_ids_matching(self.text, field_name="text")
        return self._allowed

    def self_ids(self) -> set[int]:
        return self.of.self_ids()

    def image(self) -> Media | Upload | None:
        return self.of.image()

    def record_fields(self) -> dict[str, Any]:
        return self.of.record_fields()

    def record_params(self) -> dict[str, Any]:
        return {**self.of.record_params(), "text": self.text}

    def describe(self) -> dict[str, Any]:
        return self.of.describe()


def query_types() -> list[str]:
    """Every ``type`` an answer's query can have, in registration order (the answer's
    documented choices and the schema's SearchQueryTypeEnum)."""
    return list(dict.fromkeys(t for cls in QuerySource.registry.values() for t in cls.answer_types))


def rerun_path(record: SearchRecord) -> str:
    """The API path (without query string) that asks a recorded search again: the way its
    route asked it (a random search reruns with its seed), else the way its query resolved
    (a sha256 search reruns as the media or upload it found), else by the query image's
    sha256."""
    for kind in (record.route, record.query_type):
        cls = QuerySource.registry.get(kind)
        path = cls.rerun_path(record) if cls is not None else None
        if path:
            return path
    return Sha256Source.path(record.query_sha256)
