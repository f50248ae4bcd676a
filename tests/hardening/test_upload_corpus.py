"""The upload corpus: every odd or hostile file a person may upload is either
accepted correctly or rejected with a clear 4xx, and a rejected one leaves no row and
no file behind.

Cases and where each is tested (the first group in the upload API's own tests, not
repeated here):

====================================  ==========================================================================
truncated JPEG and PNG                 media_app/tests/api/test_upload.py::test_upload_of_a_truncated_image_is_a_400_and_nothing_is_stored
text file named .jpg                   media_app/tests/api/test_upload.py::test_upload_of_a_text_file_named_jpg_is_a_415_and_nothing_is_stored
zero-byte file                         media_app/tests/api/test_upload.py::test_upload_of_a_zero_byte_file_is_a_400
decompression bomb                     media_app/tests/api/test_upload.py::test_upload_of_a_decompression_bomb_is_a_413_and_nothing_is_stored
file over the byte limit               media_app/tests/api/test_upload.py::test_upload_above_the_byte_limit_is_a_413_and_nothing_is_stored
                                       (and ::test_upload_with_a_body_far_above_the_limit_is_refused_before_parsing)
path-traversal file name               media_app/tests/api/test_upload.py::test_upload_with_a_path_traversal_name_keeps_only_the_base_name
JSON body instead of multipart         media_app/tests/api/test_upload.py::test_upload_with_a_json_body_is_a_415
animated GIF, thousands of frames      test_upload_of_an_animated_gif_with_thousands_of_frames_decodes_only_its_first_frame
animated GIF cut inside frame one      test_upload_of_a_gif_cut_inside_its_first_frame_is_a_400_and_nothing_is_stored
CMYK JPEG                              test_upload_of_odd_but_valid_images_is_accepted_with_an_upright_rgb_thumbnail[cmyk-jpeg]
16-bit PNG (I;16)                      test_upload_of_odd_but_valid_images_is_accepted_with_an_upright_rgb_thumbnail[png-16bit]
palette PNG with transparency          test_upload_of_odd_but_valid_images_is_accepted_with_an_upright_rgb_thumbnail[palette-png-transparent]
EXIF-rotated JPEG                      test_upload_of_odd_but_valid_images_is_accepted_with_an_upright_rgb_thumbnail[exif-rotated-jpeg]
                                       and test_exif_rotated_image_is_embedded_upright_in_the_index_and_as_a_query
wrong content type                     test_upload_with_a_wrong_content_type_is_decided_by_decoding
====================================  ==========================================================================
"""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import GifImagePlugin, Image

from media_app.imaging import sharded_name
from media_app.models import Upload
from media_app.tests.api.test_upload import URL, assert_rejected
from tests.images import image_upload
from tests.storage import stored_files

from . import corpus
from .corpus import BLUE, RED, WHITE, close_to, mean_colour


def _accepted(res, isolated_storage, data: bytes) -> Upload:
    """The upload was stored once, byte for byte, with its thumbnail and nothing else."""
    assert res.status_code == 201, res.content
    upload = Upload.objects.get()
    assert res.json()["res"]["id"] == upload.pk
    assert (isolated_storage / upload.file.name).read_bytes() == data  # the evidence, untouched
    assert {str(p) for p in stored_files(isolated_storage)} == {upload.file.name, upload.thumbnail.name}
    return upload


def _thumbnail(isolated_storage, upload: Upload) -> bytes:
    data = (isolated_storage / upload.thumbnail.name).read_bytes()
    with Image.open(io.BytesIO(data)) as thumb:
        assert thumb.format == "JPEG" and thumb.mode == "RGB"
    return data


# --- animated GIF -------------------------------------------------------------------------------


@pytest.fixture
def gif_frames_decoded(monkeypatch) -> list[int]:
    """Every GIF frame after the first that anything seeks to while the test runs."""
    seen: list[int] = []
    original = GifImagePlugin.GifImageFile._seek

    def counting_seek(self, frame, *args, **kwargs):
        if frame > 0:
            seen.append(frame)
        return original(self, frame, *args, **kwargs)

    monkeypatch.setattr(GifImagePlugin.GifImageFile, "_seek", counting_seek)
    return seen


def test_upload_of_an_animated_gif_with_thousands_of_frames_decodes_only_its_first_frame(api, isolated_storage, gif_frames_decoded):
    data = corpus.animated_gif()
    with Image.open(io.BytesIO(data)) as gif:
        assert gif.n_frames == corpus.GIF_FRAMES  # the corpus file really is that long
    assert len(gif_frames_decoded) >= corpus.GIF_FRAMES - 1  # and the probe sees every seek
    gif_frames_decoded.clear()

    res = api.post(URL, {"image": image_upload("animation.gif", data, "image/gif")}, format="multipart")

    upload = _accepted(res, isolated_storage, data)
    assert (upload.format, upload.width, upload.height) == ("GIF", 128, 128)
    assert gif_frames_decoded == []  # validation and thumbnail looked at frame 0 only
    assert close_to(mean_colour(_thumbnail(isolated_storage, upload), (0, 0, 100, 100)), RED)


def test_upload_of_a_gif_cut_inside_its_first_frame_is_a_400_and_nothing_is_stored(api, isolated_storage):
    # Header, palette and the start of frame one's pixel data (that frame ends near
    # byte 280; the whole file is some 700 kB).
    data = corpus.animated_gif()[:150]

    res = api.post(URL, {"image": image_upload("cut.gif", data, "image/gif")}, format="multipart")

    assert_rejected(res, 400, isolated_storage, code="corrupt_image")


# --- odd but valid images -----------------------------------------------------------------------


def _cmyk(isolated_storage, upload: Upload) -> None:
    assert (upload.format, upload.width, upload.height) == ("JPEG", 64, 48)
    assert close_to(mean_colour(_thumbnail(isolated_storage, upload), (0, 0, 100, 100)), RED)


def _png_16bit(isolated_storage, upload: Upload) -> None:
    assert (upload.format, upload.width, upload.height) == ("PNG", 64, 48)
    thumb = _thumbnail(isolated_storage, upload)
    # The ramp survives as a ramp: scaled to 8 bits, not clipped to white.
    dark, bright = mean_colour(thumb, (0, 0, 10, 100)), mean_colour(thumb, (90, 0, 100, 100))
    assert max(dark) < 30 and min(bright) > 225, (dark, bright)


def _palette_transparent(isolated_storage, upload: Upload) -> None:
    assert (upload.format, upload.width, upload.height) == ("PNG", 64, 48)
    thumb = _thumbnail(isolated_storage, upload)
    assert close_to(mean_colour(thumb, (0, 0, 45, 100)), BLUE)
    assert close_to(mean_colour(thumb, (55, 0, 100, 100)), WHITE)  # transparency flattened on white


def _exif_rotated(isolated_storage, upload: Upload) -> None:
    # Stored pixels are 96 wide and 128 high; shown (and reported) 128 x 96.
    assert (upload.format, upload.width, upload.height) == ("JPEG", 128, 96)
    thumb = _thumbnail(isolated_storage, upload)
    with Image.open(io.BytesIO(thumb)) as img:
        assert img.width > img.height
    upright = corpus.jpeg(corpus.pattern())
    for box in ((0, 0, 50, 50), (50, 0, 100, 50), (0, 50, 50, 100), (50, 50, 100, 100)):
        assert close_to(mean_colour(thumb, box), mean_colour(upright, box), tolerance=12), box


ODD_IMAGES = {
    "cmyk-jpeg": (corpus.cmyk_jpeg, "print.jpg", "image/jpeg", _cmyk),
    "png-16bit": (corpus.png_16bit, "scan.png", "image/png", _png_16bit),
    "palette-png-transparent": (corpus.palette_png_with_transparency, "logo.png", "image/png", _palette_transparent),
    "exif-rotated-jpeg": (lambda: corpus.exif_rotated(corpus.pattern()), "phone.jpg", "image/jpeg", _exif_rotated),
}


@pytest.mark.parametrize("case", list(ODD_IMAGES))
def test_upload_of_odd_but_valid_images_is_accepted_with_an_upright_rgb_thumbnail(api, isolated_storage, case):
    build, name, content_type, check = ODD_IMAGES[case]
    data = build()

    res = api.post(URL, {"image": image_upload(name, data, content_type)}, format="multipart")

    upload = _accepted(res, isolated_storage, data)
    body = res.json()["res"]
    assert (body["width"], body["height"], body["format"]) == (upload.width, upload.height, upload.format)
    check(isolated_storage, upload)


# --- wrong content type -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "fmt,name,content_type,extension",
    [
        ("PNG", "notes.txt", "text/plain", "png"),
        ("JPEG", "photo.png", "image/png", "jpg"),
        ("WEBP", "blob", "application/octet-stream", "webp"),
    ],
)
def test_upload_with_a_wrong_content_type_is_decided_by_decoding(api, isolated_storage, fmt, name, content_type, extension, image_bytes):
    data = image_bytes(64, 48, seed=21, fmt=fmt)

    res = api.post(URL, {"image": image_upload(name, data, content_type)}, format="multipart")

    upload = _accepted(res, isolated_storage, data)
    assert upload.format == fmt and upload.original_name == name
    assert upload.file.name == sharded_name("uploads", upload.sha256, extension)


# --- EXIF orientation reaches the embeddings ----------------------------------------------------


@pytest.fixture
def tiny_model(settings, tmp_path):
    """The tiny random-weight model, with builds run in the test's thread."""
    settings.MODELS_DIR = tmp_path / "models"
    settings.ALLOW_RANDOM_WEIGHTS = True
    settings.REDIS_URL = None
    settings.TASKS_INLINE = True
    settings.TASKS_EAGER = True
    settings.LOADER_WORKERS = 0
    settings.INDEX_THREADS = 1
    return "tiny-random"


def _cosine(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.dot(a, b) / (np.linalg.norm(a) * np.linalg.norm(b)))


def test_exif_rotated_image_is_embedded_upright_in_the_index_and_as_a_query(api, db, tiny_model):
    from media_app.services import media_create_image
    from search_app.indexing.build import feature_update_index
    from search_app.indexing.index import load_index
    from search_app.models import Feature
    from search_app.query.sources import UploadSource

    upright_img = corpus.pattern()
    rotated = corpus.exif_rotated(upright_img)
    upright = corpus.jpeg(upright_img)
    sideways = corpus.jpeg(upright_img.transpose(Image.Transpose.ROTATE_90))  # same pixels, no EXIF
    media = {
        name: media_create_image(stream=io.BytesIO(data), original_name=f"{name}.jpg")[0]
        for name, data in (("rotated", rotated), ("upright", upright), ("sideways", sideways))
    }
    feature = Feature.objects.create(modelzoo_name=tiny_model)
    feature_update_index(feature=feature)
    feature.refresh_from_db()
    index = load_index(feature)
    vec = {name: index.get_vectors([m.pk])[0] for name, m in media.items()}

    # The index build (files read from storage) embeds what a person sees.
    assert _cosine(vec["rotated"], vec["upright"]) > 0.99
    # The check has teeth: the same pixels without their orientation embed elsewhere.
    assert _cosine(vec["sideways"], vec["upright"]) < 0.9

    # The same file as a query image (search by upload) is embedded upright too.
    res = api.post(URL, {"image": image_upload("phone.jpg", rotated)}, format="multipart")
    assert res.status_code == 201, res.content
    query = UploadSource(Upload.objects.get()).vector(feature, index)
    assert _cosine(query, vec["upright"]) > 0.99
