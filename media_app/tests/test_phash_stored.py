"""Every stored picture keeps its whole-picture perceptual hash (Media.phash), which the
default search compares with the query's; ``manage.py media_hashes`` fills it for
pictures stored before it was kept."""

from __future__ import annotations

import io

import numpy as np
import pytest
from django.core.management import CommandError, call_command
from PIL import Image

from media_app.models import Media
from media_app.services import media_create_image
from modelzoo.phash import NO_HASH, hash_distances, picture_hash
from vframe_search.demo import draw_scene


def _jpeg(img: Image.Image, quality: int = 90) -> bytes:
    out = io.BytesIO()
    img.save(out, "JPEG", quality=quality)
    return out.getvalue()


def _bits(a: int, b: int) -> int:
    return int(hash_distances(np.asarray([a], dtype=np.uint64), b)[0])


def test_a_stored_picture_keeps_its_hash_and_a_plain_one_says_it_has_none(db):
    scene = draw_scene(41, (640, 480))
    media, _ = media_create_image(stream=io.BytesIO(_jpeg(scene)), original_name="scene.jpg")
    assert media.phash is not None and media.phash >= 0
    assert _bits(media.phash, picture_hash(scene)) <= 3  # the stored JPEG, decoded reduced, hashes as the original
    other, _ = media_create_image(stream=io.BytesIO(_jpeg(draw_scene(42, (640, 480)))), original_name="other.jpg")
    assert _bits(media.phash, other.phash) > 8
    plain, _ = media_create_image(stream=io.BytesIO(_jpeg(Image.new("RGB", (320, 240), (128, 130, 127)))), original_name="plain.jpg")
    assert plain.phash == NO_HASH


def test_media_hashes_fills_the_pictures_stored_before_hashes_were_kept(db):
    made = [media_create_image(stream=io.BytesIO(_jpeg(draw_scene(50 + i, (320, 240)))), original_name=f"{i}.jpg")[0] for i in range(3)]
    expected = {m.pk: m.phash for m in made}
    Media.objects.update(phash=None)
    out = io.StringIO()
    call_command("media_hashes", "--dry-run", stdout=out)
    assert "3 picture(s) without a perceptual hash" in out.getvalue()
    made[2].file.storage.delete(made[2].file.name)  # its file is gone: the others still get theirs
    with pytest.raises(CommandError, match="1 picture"):
        call_command("media_hashes", no_progress=True, stdout=io.StringIO())
    stored = dict(Media.objects.values_list("pk", "phash"))
    assert stored == {made[0].pk: expected[made[0].pk], made[1].pk: expected[made[1].pk], made[2].pk: None}
