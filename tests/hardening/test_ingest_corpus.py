"""The ingest corpus: the upload corpus as files in a folder, plus videos with
a corrupt or cut-off stream. One run imports what is media (upright, byte for byte),
skips the rest with a reason each, and leaves no row and no file for a skipped file.

Byte limits and content types do not apply here: the ingest reads local files an
operator chose (no upload limit) and decides by decoding (there is no header).
"""

from __future__ import annotations

import hashlib
import io
from pathlib import Path

import pytest
from PIL import GifImagePlugin, Image

from media_app.ingest import DUPLICATE, IMPORTED, SKIPPED, IngestOptions, ingest_run
from media_app.models import Media, MediaType
from media_app.tests.test_video import write_video
from tests.images import make_image_bytes

from . import corpus
from .corpus import RED, close_to, mean_colour

pytestmark = pytest.mark.django_db

# name -> (bytes builder, expected status, skip code or "")
IMAGES = {
    "good.jpg": (lambda: make_image_bytes(64, 48, seed=31), IMPORTED, ""),
    "animation.gif": (corpus.animated_gif, IMPORTED, ""),
    "print-cmyk.jpg": (corpus.cmyk_jpeg, IMPORTED, ""),
    "scan-16bit.png": (corpus.png_16bit, IMPORTED, ""),
    "logo-transparent.png": (corpus.palette_png_with_transparency, IMPORTED, ""),
    "phone-rotated.jpg": (lambda: corpus.exif_rotated(corpus.pattern()), IMPORTED, ""),
    "really-a-jpeg.png": (lambda: make_image_bytes(64, 48, seed=32), IMPORTED, ""),
    "..\\..\\boot.jpg": (lambda: make_image_bytes(64, 48, seed=33), IMPORTED, ""),  # a legal Linux name
    "good.jpg.copy": (lambda: make_image_bytes(64, 48, seed=31), DUPLICATE, ""),  # walked after good.jpg
    "truncated.jpg": (lambda: corpus.truncated("JPEG"), SKIPPED, "corrupt_image"),
    "truncated.png": (lambda: corpus.truncated("PNG"), SKIPPED, "corrupt_image"),
    "cut-first-frame.gif": (lambda: corpus.animated_gif()[:150], SKIPPED, "corrupt_image"),
    "notes.jpg": (corpus.text_named_jpg, SKIPPED, "not_media"),
    "empty.jpg": (lambda: b"", SKIPPED, "empty_file"),
    "bomb.png": (corpus.decompression_bomb, SKIPPED, "too_many_pixels"),
}


@pytest.fixture
def corpus_folder(tmp_path, settings) -> Path:
    settings.DATA_DIR = tmp_path / "data"  # the ingest's journal and scratch space
    settings.DATA_DIR.mkdir()
    root = tmp_path / "evidence"
    (root / "video").mkdir(parents=True)
    for name, (build, _, _) in IMAGES.items():
        (root / name).write_bytes(build())
    write_video(root / "video" / "clip.mp4", [(1, 1.0), (2, 1.0)])
    corpus.corrupt_video(root / "video" / "garbage-stream.mkv")
    # Cut off mid-stream: what decodes is worth keeping, and the result says it is partial.
    full = write_video(root / "video" / "full.mkv", [(4, 1.0), (5, 1.0), (6, 1.0)], container="matroska")
    (root / "video" / "cut-mid-stream.mkv").write_bytes(full.read_bytes()[: int(full.stat().st_size * 0.6)])
    full.unlink()
    return root


def _stored(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()} if root.exists() else set()


def _referenced() -> set[str]:
    return {name for row in Media.objects.values_list("file", "thumbnail", "playable") for name in row if name}


def test_ingest_of_the_corpus_imports_the_media_and_skips_the_rest_with_reasons(corpus_folder, isolated_storage, settings, monkeypatch):
    gif_seeks: list[int] = []
    original_seek = GifImagePlugin.GifImageFile._seek

    def counting_seek(self, frame, *args, **kwargs):
        if frame > 0:
            gif_seeks.append(frame)
        return original_seek(self, frame, *args, **kwargs)

    monkeypatch.setattr(GifImagePlugin.GifImageFile, "_seek", counting_seek)
    results = []

    summary = ingest_run(paths=[corpus_folder], options=IngestOptions(), on_result=results.append)

    by_name = {Path(r.path).relative_to(corpus_folder).as_posix(): r for r in results}
    assert len(by_name) == len(IMAGES) + 3
    for name, (build, status, code) in IMAGES.items():
        result = by_name[name]
        assert (result.status, result.code) == (status, code), (name, result)
        if status == SKIPPED:
            assert result.message, name
            assert not Media.objects.filter(sha256=hashlib.sha256(build()).hexdigest()).exists(), name

    video = by_name["video/clip.mp4"]
    assert (video.status, video.kind) == (IMPORTED, "video") and video.frames == 2 and not video.warning
    garbage = by_name["video/garbage-stream.mkv"]
    assert (garbage.status, garbage.code) == (SKIPPED, "corrupt_video") and "decoded" in garbage.message
    partial = by_name["video/cut-mid-stream.mkv"]
    assert (partial.status, partial.kind) == (IMPORTED, "video") and partial.frames >= 1
    assert "truncated" in partial.warning

    imported_images = sum(1 for _, status, _ in IMAGES.values() if status == IMPORTED)
    assert (summary.images, summary.videos, summary.duplicates) == (imported_images, 2, 1)
    assert dict(summary.skipped) == {"corrupt_image": 3, "not_media": 1, "empty_file": 1, "too_many_pixels": 1, "corrupt_video": 1}
    assert not summary.interrupted

    # What was imported is upright and untouched; the GIF was decoded at its first frame only.
    rotated = Media.objects.get(original_name="phone-rotated.jpg")
    assert (rotated.width, rotated.height) == (128, 96)
    assert (isolated_storage / rotated.file.name).read_bytes() == corpus.exif_rotated(corpus.pattern())
    gif = Media.objects.get(original_name="animation.gif")
    assert (gif.format, gif.media_type) == ("GIF", MediaType.IMAGE)
    assert close_to(mean_colour((isolated_storage / gif.thumbnail.name).read_bytes(), (0, 0, 100, 100)), RED)
    assert gif_seeks == []
    with Image.open(io.BytesIO((isolated_storage / Media.objects.get(original_name="print-cmyk.jpg").thumbnail.name).read_bytes())) as thumb:
        assert thumb.mode == "RGB"
    assert Media.objects.get(original_name="boot.jpg").source_path == str(corpus_folder / "..\\..\\boot.jpg")
    assert Media.objects.get(original_name="really-a-jpeg.png").format == "JPEG"

    # Every stored file belongs to a row and every row's files exist; no scratch is left.
    assert _stored(isolated_storage) == _referenced()
    assert not any((settings.DATA_DIR / "ingest").rglob("*.jpg"))


def test_exif_rotated_photo_is_embedded_upright_while_importing(tmp_path, settings):
    """The ingest embeds each image from its own reduced decode (media_app.ingest.embed):
    a phone photo stored turned must give the vector of the upright picture there too."""
    import numpy as np

    from search_app.indexing.layout import vector_store
    from search_app.models import Feature

    settings.DATA_DIR = tmp_path / "data"
    settings.DATA_DIR.mkdir()
    settings.MODELS_DIR = tmp_path / "models"
    settings.ALLOW_RANDOM_WEIGHTS = True
    settings.LOADER_WORKERS = 0
    upright = corpus.pattern(1600, 1200, seed=5)  # large enough to be decoded at a reduced scale
    folder = tmp_path / "phone"
    folder.mkdir()
    (folder / "rotated.jpg").write_bytes(corpus.exif_rotated(upright))
    (folder / "upright.jpg").write_bytes(corpus.jpeg(upright))
    (folder / "sideways.jpg").write_bytes(corpus.jpeg(upright.transpose(Image.Transpose.ROTATE_90)))
    feature = Feature.objects.create(modelzoo_name="tiny-random")

    summary = ingest_run(paths=[folder], options=IngestOptions(features=[feature]))

    assert summary.images == 3 and summary.embedded == {feature.pk: 3}
    ids, vectors = vector_store(feature.pk, 64).load()
    vec = {Media.objects.get(pk=pk).original_name: v for pk, v in zip(ids.tolist(), vectors, strict=True)}
    assert float(np.dot(vec["rotated.jpg"], vec["upright.jpg"])) > 0.99
    assert float(np.dot(vec["sideways.jpg"], vec["upright.jpg"])) < 0.9
    assert Media.objects.get(original_name="rotated.jpg").width == 1600
