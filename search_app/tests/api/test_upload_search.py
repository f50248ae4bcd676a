"""Upload, then search by it: the upload is decoded once, at the size the default
feature's model needs, its query vector comes from that decode, and the search by it
opens no file and decodes nothing."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from media_app import services as media_services
from search_app.indexing import engine
from search_app.indexing.build import feature_update_index
from search_app.models import QueryVector


@pytest.fixture(autouse=True)
def fresh_engine():
    engine.clear()
    yield
    engine.clear()


@pytest.fixture
def built(make_media, tiny_feature):
    for seed in range(12):
        make_media(seed)
    feature = tiny_feature(index_params={"M": 8, "ef_construction": 64, "ef": 32})
    feature_update_index(feature=feature)
    return feature


def _photo(width: int, height: int, seed: int) -> bytes:
    import numpy as np

    rng = np.random.default_rng(seed)
    img = Image.fromarray(rng.integers(0, 255, (height // 8, width // 8, 3), dtype=np.uint8)).resize((width, height))
    out = io.BytesIO()
    img.save(out, "JPEG", quality=90)
    return out.getvalue()


def _post(api, data: bytes) -> dict:
    res = api.post("/api/v1/upload/", {"image": io.BytesIO(data)}, format="multipart")
    assert res.status_code == 201, res.content
    return res.json()["res"]


def test_an_upload_is_decoded_once_at_reduced_size_and_its_vector_kept(api, built, monkeypatch):
    from modelzoo.embedding import get_embedder

    decodes = []
    real = media_services.open_image_reduced

    def counting(stream, **kwargs):
        img, info = real(stream, **kwargs)
        decodes.append((kwargs, img.size, (info.width, info.height)))
        return img, info

    monkeypatch.setattr(media_services, "open_image_reduced", counting)
    upload = _post(api, _photo(1600, 1200, seed=1))
    assert len(decodes) == 1
    kwargs, decoded, original = decodes[0]
    assert kwargs["min_side"] == get_embedder(built.modelzoo_name).spec.resize_size
    assert original == (1600, 1200) and decoded[0] < 1600  # a reduced DCT scale
    assert QueryVector.objects.filter(upload_id=upload["id"], modelzoo_name=built.modelzoo_name).count() == 1


def test_searching_by_a_new_upload_opens_no_file_and_decodes_nothing(api, built, monkeypatch):
    from django.core.files.storage import Storage

    data = _photo(800, 600, seed=2)
    upload = _post(api, data)

    def refuse(*args, **kwargs):
        raise AssertionError("the search opened or decoded an image")

    monkeypatch.setattr(Storage, "open", refuse)
    monkeypatch.setattr(Image, "open", refuse)
    res = api.get(f"/api/v1/search/upload/{upload['id']}/?limit=5")
    assert res.status_code == 200, res.content
    assert len(res.json()["res"]["results"]) == 5


def test_the_vector_from_the_upload_decode_matches_embedding_the_stored_file(api, built):
    import numpy as np

    from modelzoo.embedding import get_embedder

    data = _photo(1024, 768, seed=3)
    upload = _post(api, data)
    kept = np.frombuffer(bytes(QueryVector.objects.get(upload_id=upload["id"]).vector), dtype=np.float32)
    again = get_embedder(built.modelzoo_name).embed_image(data)
    assert float(kept @ again) > 0.99


def test_an_upload_without_a_ready_feature_or_with_a_failing_model_is_still_stored(api, built, monkeypatch):
    from search_app.query import sources

    def broken(feature):
        class Model:
            spec = type("Spec", (), {"resize_size": 224})

            def embed_image(self, image):
                raise RuntimeError("the model failed")

        return Model()

    monkeypatch.setattr(sources, "embedder", broken)
    upload = _post(api, _photo(640, 480, seed=4))
    assert not QueryVector.objects.filter(upload_id=upload["id"]).exists()
    monkeypatch.undo()
    # The search embeds the stored file instead.
    res = api.get(f"/api/v1/search/upload/{upload['id']}/?limit=3")
    assert res.status_code == 200, res.content
    assert QueryVector.objects.filter(upload_id=upload["id"]).count() == 1


def test_an_upload_with_no_feature_at_all_is_stored_without_a_vector(api, db):
    upload = _post(api, _photo(640, 480, seed=5))
    assert not QueryVector.objects.filter(upload_id=upload["id"]).exists()
