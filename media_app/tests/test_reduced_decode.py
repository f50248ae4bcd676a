"""One reduced decode per stored image: JPEGs validated at a DCT scale (Pillow's draft
mode) just large enough for the thumbnail and the model, as strictly as a full decode."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from core.errors import InvalidInput
from media_app.imaging import open_image, open_image_reduced
from media_app.models import Media
from media_app.services import media_create_image


def photo_jpeg(width: int, height: int, seed: int = 0, *, detail: int = 8, **save_kwargs) -> bytes:
    """Random colours every ``detail`` pixels, smoothly blended: with the default, detailed
    enough that every part of the file holds part of the picture."""
    rng = np.random.default_rng(seed)
    small = rng.integers(0, 256, (max(2, height // detail), max(2, width // detail), 3), dtype=np.uint8)
    img = Image.fromarray(small).resize((width, height), Image.Resampling.BICUBIC)
    out = io.BytesIO()
    img.save(out, format="JPEG", quality=90, **save_kwargs)
    return out.getvalue()


@pytest.mark.parametrize("progressive", [False, True])
def test_jpeg_is_decoded_reduced_and_a_truncated_one_is_still_rejected(progressive):
    data = photo_jpeg(1600, 1200, progressive=progressive)
    img, info = open_image_reduced(io.BytesIO(data), min_side=64, min_long=320)
    assert img.size == (400, 300)  # 1/4: the smallest DCT scale whose long side covers 320
    assert (info.width, info.height, info.format) == (1600, 1200, "JPEG")
    # Cut anywhere in the entropy-coded data, even just before the end: libjpeg reads
    # the whole stream at any scale, so the reduced decode fails like a full one.
    for cut in (len(data) // 3, len(data) // 2, len(data) - 300):
        with pytest.raises(InvalidInput) as full:
            open_image(io.BytesIO(data[:cut]))
        with pytest.raises(InvalidInput) as reduced:
            open_image_reduced(io.BytesIO(data[:cut]), min_side=64, min_long=320)
        assert reduced.value.code == full.value.code == "corrupt_image"


@pytest.mark.parametrize(
    "size,min_side,min_long",
    [((4000, 3000), 256, 320), ((3000, 4000), 256, 320), ((2048, 2048), 256, 320), ((3000, 400), 64, 320), ((1000, 750), 256, 320), ((400, 300), 256, 320)],
)
def test_reduced_decode_never_goes_below_what_was_asked(size, min_side, min_long):
    img, info = open_image_reduced(io.BytesIO(photo_jpeg(*size)), min_side=min_side, min_long=min_long)
    assert (info.width, info.height) == size
    assert min(img.size) >= min(min_side, min(size)) and max(img.size) >= min(min_long, max(size))
    # ... and at the smallest DCT scale that does: half of it would not.
    if img.size != size:
        assert min(img.size) // 2 < min_side or max(img.size) // 2 < min_long


def test_other_formats_decode_fully_and_truncated_ones_fail(image_bytes):
    png = image_bytes(1600, 1200, seed=1, fmt="PNG")
    img, info = open_image_reduced(io.BytesIO(png), min_side=64, min_long=320)
    assert img.size == (1600, 1200) and info.format == "PNG"
    with pytest.raises(InvalidInput):
        open_image_reduced(io.BytesIO(png[: len(png) // 2]), min_side=64, min_long=320)


def test_reported_size_is_the_originals_upright_size():
    img = Image.new("RGB", (1600, 1200), (10, 20, 30))
    exif = Image.Exif()
    exif[0x0112] = 6  # rotated 90 degrees: shown as 1200 x 1600
    out = io.BytesIO()
    img.save(out, format="JPEG", exif=exif)
    reduced, info = open_image_reduced(io.BytesIO(out.getvalue()), min_side=64, min_long=320)
    assert (info.width, info.height) == (1200, 1600)
    assert reduced.size == (400, 300)


@pytest.mark.django_db
def test_stored_image_has_full_size_fields_and_a_full_size_thumbnail(settings):
    seen = []
    data = photo_jpeg(4000, 3000)
    media, created = media_create_image(stream=io.BytesIO(data), original_name="big.jpg", decode_min_side=256, on_decoded=lambda img: seen.append(img.size))
    assert created and seen == [(500, 375)]  # one decode, at 1/8, handed to the caller
    assert (media.width, media.height, media.byte_size) == (4000, 3000, len(data))
    with media.thumbnail.open("rb") as fh, Image.open(fh) as thumb:
        assert thumb.size == (settings.THUMBNAIL_SIZE, settings.THUMBNAIL_SIZE * 3 // 4)
    with media.file.open("rb") as fh:
        assert fh.read() == data  # the original, byte for byte


@pytest.mark.django_db
def test_a_callers_hash_is_used_instead_of_hashing_again():
    import hashlib

    data = photo_jpeg(640, 480)
    sha256 = hashlib.sha256(data).hexdigest()
    media, created = media_create_image(stream=io.BytesIO(data), sha256=sha256, byte_size=len(data))
    assert created and media.sha256 == sha256 and media.byte_size == len(data)
    again, created = media_create_image(stream=io.BytesIO(data))
    assert not created and again.pk == media.pk and Media.objects.count() == 1
