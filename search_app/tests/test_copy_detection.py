"""Copy detection in the default search, with the real default model (efficientnet_lite0,
installed by pip) on real photographs (scikit-learn's and scikit-image's samples):
region vectors as children of their media, query crops, the geometric check and the
match labels (search_app.query.matching)."""

from __future__ import annotations

import importlib.util
import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw

from search_app.indexing import engine, regions
from search_app.indexing.build import feature_update_index
from search_app.models import Feature, FeatureStatus
from vframe_search.demo import draw_scene

pytestmark = pytest.mark.slow


def _package_dir(name: str) -> Path:
    spec = importlib.util.find_spec(name)
    assert spec is not None, f"{name} (requirements/dev.txt) provides the real photos this test needs"
    return Path(spec.submodule_search_locations[0])


def photo(name: str) -> Image.Image:
    """A real photograph: sklearn's china/flower, or one of scikit-image's data images."""
    if name in ("china", "flower"):
        path = _package_dir("sklearn") / "datasets" / "images" / f"{name}.jpg"
    else:
        path = next((_package_dir("skimage") / "data").glob(f"{name}.*"))
    return Image.open(path).convert("RGB")


def jpeg(img: Image.Image, quality: int = 85) -> bytes:
    out = io.BytesIO()
    img.convert("RGB").save(out, "JPEG", quality=quality)
    return out.getvalue()


def crop(img: Image.Image, box) -> Image.Image:
    w, h = img.size
    return img.crop((round(box[0] * w), round(box[1] * h), round(box[2] * w), round(box[3] * h)))


def picture_in_picture(img: Image.Image, host: Image.Image) -> Image.Image:
    canvas = host.copy()
    w = round(canvas.width * 0.45)
    inset = img.resize((w, round(img.height * w / img.width)))
    ImageDraw.Draw(canvas).rectangle([197, 147, 203 + inset.width, 153 + inset.height], fill=(255, 255, 255))
    canvas.paste(inset, (200, 150))
    return canvas


def screenshot(img: Image.Image) -> Image.Image:
    """A phone screenshot of a post: status bar, header, the picture full width, text."""
    shot = Image.new("RGB", (360, 780), (255, 255, 255))
    draw = ImageDraw.Draw(shot)
    draw.rectangle([0, 0, 360, 24], fill=(20, 20, 20))
    draw.ellipse([12, 40, 48, 76], fill=(90, 140, 200))
    draw.text((58, 50), "someone_posted", fill=(0, 0, 0))
    picture = img.resize((360, round(img.height * 360 / img.width)))
    shot.paste(picture, (0, 92))
    y = 92 + picture.height + 16
    for line in ("1,234 likes", "Seen this one? Source unknown, sharing anyway", "View all 56 comments"):
        draw.text((12, y), line, fill=(0, 0, 0))
        y += 22
    return shot


@pytest.fixture
def copies(db, api):
    """An hnsw efficientnet_lite0 index over three real photographs, a small picture and
    eight drawn scenes; search(image) uploads an image and searches with it."""
    from media_app.services import media_create_image

    engine.clear()
    regions.clear()
    media = {}
    for name in ("china", "flower", "coffee"):
        media[name], _ = media_create_image(stream=io.BytesIO(jpeg(photo(name), 92)), original_name=f"{name}.jpg")
    media["small"], _ = media_create_image(stream=io.BytesIO(jpeg(photo("chelsea").resize((96, 64)))), original_name="small.jpg")
    for i in range(8):
        media_create_image(stream=io.BytesIO(jpeg(draw_scene(3000 + i))), original_name=f"scene-{i}.jpg")
    feature = Feature.objects.create(modelzoo_name="efficientnet_lite0", index_type="hnsw")
    feature_update_index(feature=feature)
    feature.refresh_from_db()
    assert feature.status == FeatureStatus.READY and feature.item_count == 12

    def search(image: bytes | Image.Image, **params):
        data = image if isinstance(image, bytes) else jpeg(image)
        upload = api.post("/api/v1/upload/", {"image": _named(data)}, format="multipart").json()["res"]
        res = api.get(f"/api/v1/search/upload/{upload['id']}/", {"feature": feature.pk, **params})
        assert res.status_code == 200, res.content
        return res.json()["res"]["results"]

    yield feature, media, search
    engine.clear()
    regions.clear()


def _named(data: bytes) -> io.BytesIO:
    out = io.BytesIO(data)
    out.name = "query.jpg"
    return out


def test_stored_photos_get_region_children_and_a_small_picture_only_its_whole_vector(copies):
    feature, media, _ = copies
    store = regions.region_store(feature.pk, 1280)
    ids, vectors = store.load()
    parents = regions.region_parents(ids)
    for name in ("china", "flower", "coffee"):
        assert sorted(regions.region_numbers(ids[parents == media[name].pk]).tolist()) == [1, 2, 3, 4, 5]
    assert media["small"].pk not in parents
    assert media["small"].pk in engine.get_index(feature)
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-4)


@pytest.mark.parametrize(
    "edit",
    [
        pytest.param(lambda img: crop(img, (0.25, 0.25, 0.75, 0.75)), id="centre half"),
        pytest.param(lambda img: crop(img, (0.38, 0.36, 0.98, 0.96)), id="corner"),
        pytest.param(lambda img: picture_in_picture(img, photo("astronaut")), id="picture in picture"),
        pytest.param(screenshot, id="screenshot"),
    ],
)
def test_a_part_of_a_stored_photo_or_the_photo_inside_another_picture_finds_it_first_as_a_copy(copies, edit):
    _, media, search = copies
    for name in ("china", "flower"):
        best = search(edit(photo(name)), limit=3)[0]
        assert best["media"]["id"] == media[name].pk, (name, best)
        assert best["match"] == "copy", (name, best)


def test_the_geometric_check_locates_a_crop_in_its_source(copies):
    _, media, search = copies
    best = search(crop(photo("china"), (0.25, 0.25, 0.75, 0.75)), limit=1)[0]
    assert best["verified"] is True
    x1, y1, x2, y2 = best["region"]
    assert abs(x1 - 0.25) < 0.05 and abs(y1 - 0.25) < 0.05 and abs(x2 - 0.75) < 0.05 and abs(y2 - 0.75) < 0.05, best["region"]


def test_the_check_keeps_the_keypoints_of_the_results_and_reads_them_back_instead_of_their_pictures(copies, monkeypatch):
    from django.core.files.storage import default_storage

    from search_app.query import geometry, keypoint_store

    _, media, search = copies
    geometry.stored_keypoints.clear()  # held in memory by sha256 across tests
    query = crop(photo("china"), (0.25, 0.25, 0.75, 0.75))
    first = search(query, limit=1)[0]
    assert first["verified"] is True
    assert default_storage.exists(keypoint_store.name_for(media["china"].sha256))

    geometry.stored_keypoints.clear()  # as in another web process

    def refuse(name):
        raise AssertionError(f"the picture {name} was decoded for keypoints that are kept")

    monkeypatch.setattr(keypoint_store, "open_stored", refuse)
    again = search(query, limit=1)[0]
    assert (again["media"]["id"], again["verified"], again["region"]) == (media["china"].pk, True, first["region"])


def test_a_search_by_a_stored_photo_reads_its_kept_keypoints_and_finds_only_its_mirrors(copies, api, monkeypatch):
    from media_app.services import media_create_image
    from search_app.query import geometry, keypoint_store

    feature, media, _ = copies
    copy, _ = media_create_image(stream=io.BytesIO(jpeg(crop(photo("china"), (0.0, 0.0, 0.8, 0.8)), 60)), original_name="copy.jpg")
    feature_update_index(feature=feature)
    mirrors = []
    found_mirror = geometry.mirror_keypoints
    monkeypatch.setattr(geometry, "mirror_keypoints", lambda img, *a, **k: mirrors.append(img.size) or found_mirror(img, *a, **k))

    def best():
        res = api.get(f"/api/v1/search/media/{copy.pk}/", {"feature": feature.pk, "limit": 1})
        assert res.status_code == 200, res.content
        hit = res.json()["res"]["results"][0]
        return hit["media"]["id"], hit["verified"], hit["region"]

    assert keypoint_store.read(copy.sha256) is None  # a query's own are not kept by its search
    found = best()
    assert found[:2] == (media["china"].pk, True) and mirrors == []
    keypoint_store.fill()
    assert keypoint_store.read(copy.sha256) is not None
    kept = best()
    assert kept[:2] == found[:2] and len(mirrors) == 1
    assert np.allclose(kept[2], found[2], atol=0.02), (kept, found)


def test_a_tiny_heavily_compressed_copy_is_confirmed_by_its_hash(copies):
    _, media, search = copies
    img = photo("flower")
    best = search(jpeg(img.resize((img.width // 4, img.height // 4)), 10), limit=3)[0]
    assert (best["media"]["id"], best["match"], best["verified"]) == (media["flower"].pk, "copy", True)


def test_a_picture_stored_before_hashes_were_kept_is_confirmed_from_its_file(copies):
    from media_app.models import Media

    _, media, search = copies
    Media.objects.filter(pk=media["flower"].pk).update(phash=None)
    img = photo("flower")
    best = search(jpeg(img.resize((img.width // 4, img.height // 4)), 10), limit=3)[0]
    assert (best["media"]["id"], best["match"], best["verified"]) == (media["flower"].pk, "copy", True)


def test_the_hash_finds_a_copy_that_no_vector_can(copies):
    """A picture stored after the index was built has no vector in it yet: its tiny,
    heavily compressed copy still finds it first, through the perceptual hashes."""
    from media_app.services import media_create_image

    _, _, search = copies
    img = photo("astronaut")
    late, _ = media_create_image(stream=io.BytesIO(jpeg(img, 92)), original_name="late.jpg")
    best = search(jpeg(img.resize((img.width // 4, img.height // 4)), 10), limit=3)[0]
    assert (best["media"]["id"], best["match"], best["verified"]) == (late.pk, "copy", True)
    assert best["score"] >= 0.75  # the hashes' score: at most 8 of 63 bits apart


def test_an_unrelated_photo_is_only_similar_and_the_same_bytes_are_exact(copies):
    _, media, search = copies
    assert {hit["match"] for hit in search(photo("astronaut"), limit=12)} == {"similar"}
    stored = media["coffee"].file.open("rb").read()
    hits = search(stored, limit=3)
    assert (hits[0]["media"]["id"], hits[0]["match"], hits[0]["region"]) == (media["coffee"].pk, "exact", None)
    assert {hit["match"] for hit in hits[1:]} == {"similar"}


def test_pages_are_slices_of_one_list_and_each_media_appears_once(copies):
    _, _, search = copies
    query = jpeg(crop(photo("flower"), (0.0, 0.0, 0.6, 0.6)))
    whole = search(query, limit=12)
    ids = [hit["media"]["id"] for hit in whole]
    assert len(ids) == len(set(ids)) == 12
    paged = [hit["media"]["id"] for offset in (0, 3, 6, 9) for hit in search(query, limit=3, offset=offset)]
    assert paged == ids
    assert [hit["rank"] for hit in whole] == list(range(1, 13))


def test_a_deleted_photo_leaves_with_its_regions_and_an_incremental_build_adds_the_regions_of_a_new_one(copies):
    from media_app.services import media_create_image, media_delete

    feature, media, search = copies
    half = crop(photo("china"), (0.25, 0.25, 0.75, 0.75))
    assert search(half, limit=1)[0]["media"]["id"] == media["china"].pk
    media_delete(media=media["china"])
    # Before any rebuild: neither the photo nor its regions come back.
    assert media["china"].pk not in {hit["media"]["id"] for hit in search(half, limit=12)}
    feature_update_index(feature=feature)
    feature.refresh_from_db()
    engine.clear()  # load the new version now rather than in the background
    index = engine.get_index(feature)
    live = regions.region_parents(regions.for_index(index).live_ids())
    assert media["china"].pk not in live and media["flower"].pk in live

    rocket, _ = media_create_image(stream=io.BytesIO(jpeg(photo("rocket"), 92)), original_name="rocket.jpg")
    result = feature_update_index(feature=feature)
    feature.refresh_from_db()
    assert result["mode"] == "incremental" and feature.item_count == 12
    engine.clear()
    labels = regions.for_index(engine.get_index(feature)).live_ids()
    assert sorted(regions.region_numbers(labels[regions.region_parents(labels) == rocket.pk]).tolist()) == [1, 2, 3, 4, 5]
    best = search(crop(photo("rocket"), (0.5, 0.5, 1.0, 1.0)), limit=1)[0]
    assert (best["media"]["id"], best["match"]) == (rocket.pk, "copy")


def test_on_a_milvus_feature_the_region_vectors_live_in_its_collection_and_leave_with_their_media(
    copies, settings, milvus_file, django_capture_on_commit_callbacks
):
    import uuid

    from media_app.services import media_delete
    from modelzoo.embedding import get_embedder

    feature, media, search = copies
    settings.MILVUS_URI = str(milvus_file)
    settings.MILVUS_PREFIX = "t" + uuid.uuid4().hex[:12]
    mil = Feature.objects.create(modelzoo_name="efficientnet_lite0", index_type="milvus")
    feature_update_index(feature=mil)
    mil.refresh_from_db()
    assert mil.status == FeatureStatus.READY and mil.milvus_collection
    parts = regions.for_index(engine.get_index(mil))
    labels = parts.live_ids()
    for name in ("china", "flower", "coffee"):
        assert sorted(regions.region_numbers(labels[regions.region_parents(labels) == media[name].pk]).tolist()) == [1, 2, 3, 4, 5]
    assert media["small"].pk not in regions.region_parents(labels)
    owners = set(regions.region_parents(labels).tolist())

    # The centre half of a photo is nearest the centre-half region vector of that photo.
    half = crop(photo("flower"), (0.25, 0.25, 0.75, 0.75))
    found, _ = parts.knn(get_embedder("efficientnet_lite0").embed_images([half]), 1)
    assert (regions.region_parents(found[0])[0], regions.region_numbers(found[0])[0]) == (media["flower"].pk, 1)
    best = search(half, limit=3, feature=mil.pk)[0]
    assert (best["media"]["id"], best["match"]) == (media["flower"].pk, "copy")

    flower = media["flower"].pk
    with django_capture_on_commit_callbacks(execute=True):
        media_delete(media=media["flower"])
    assert flower not in regions.region_parents(parts.live_ids())
    assert flower not in {hit["media"]["id"] for hit in search(half, limit=12, feature=mil.pk)}
    # A full rebuild writes a new collection with the same regions, less the deleted photo's.
    feature_update_index(feature=mil, full=True)
    mil.refresh_from_db()
    labels = regions.for_index(engine.get_index(mil)).live_ids()
    assert set(regions.region_parents(labels).tolist()) == owners - {flower}
