"""Detections stored at ingest and searched by label: an ONNX detector exported by the
test runs on ingested images and video keyframes through the media app's hook, and
search/detections/ pages the media by label, score, collection and media type."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from collections_app.models import Collection, CollectionMedia
from media_app.ingest import IngestOptions, ingest_run
from media_app.models import Media, MediaType
from media_app.tests.test_video import write_video
from search_app.detection.services import detection_feature_create, detections_build
from search_app.models import Detection, DetectionRun
from tests.images import make_image_bytes
from tests.onnx_models import detector_entry, export_yolo, operator_zoo, write_labels

pytestmark = pytest.mark.django_db


@pytest.fixture(scope="module")
def yolo_file(tmp_path_factory):
    return export_yolo(tmp_path_factory.mktemp("onnx") / "v8.onnx", layout="yolov8")


@pytest.fixture
def detector_zoo(tmp_path, yolo_file):
    write_labels(tmp_path / "labels.txt")
    with operator_zoo(tmp_path / "zoo.toml", detector_entry("my-detector", str(yolo_file), layout="yolov8")):
        yield "my-detector"


def solid(colour, size=(96, 64)) -> bytes:
    return make_image_bytes(*size, color=colour, fmt="PNG")


@pytest.fixture
def folder(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    (src / "red.png").write_bytes(solid((255, 0, 0)))
    (src / "blue.png").write_bytes(solid((0, 0, 255)))
    red = np.zeros((48, 64, 3), dtype=np.uint8)
    red[..., 0] = 255
    write_video(src / "red.mp4", [], frames=[red] * 20, gop=10)
    return src


def ingest(path: Path):
    results = []
    ingest_run(paths=[path], options=IngestOptions(), on_result=results.append)
    return {Path(r.path).name: r for r in results}


def test_ingest_stores_boxes_of_images_and_video_keyframes_once(detector_zoo, folder):
    feature = detection_feature_create(modelzoo_name=detector_zoo)
    results = ingest(folder)
    assert {name: r.status for name, r in results.items()} == {"red.png": "imported", "blue.png": "imported", "red.mp4": "imported"}
    assert not any(r.warning for r in results.values())
    red = Media.objects.get(original_name="red.png")
    boxes = list(Detection.objects.filter(media=red).order_by("-score").values_list("label", "score"))
    assert boxes == [("munition", 0.9), ("vehicle", 0.7)]
    assert DetectionRun.objects.get(media__original_name="blue.png").count == 0
    frames = Media.objects.filter(media_type=MediaType.VIDEO_FRAME)
    assert frames.count() >= 1 and Detection.objects.filter(media__in=frames, label="munition").count() == frames.count()
    before = Detection.objects.count()
    ingest(folder)  # duplicates call the hook again: nothing is run twice
    assert Detection.objects.count() == before and DetectionRun.objects.filter(feature=feature).count() == 2 + frames.count()


def test_a_detector_that_cannot_load_is_a_warning_and_the_import_goes_on(settings, folder, tmp_path):
    (tmp_path / "labels.txt").write_text("a\nb\nc\nd\n")
    with operator_zoo(tmp_path / "zoo.toml", detector_entry("wrong", str(export_yolo(tmp_path / "w.onnx", layout="yolov5")), layout="yolov8")):
        detection_feature_create(modelzoo_name="wrong")
        results = ingest(folder / "red.png")
    assert results["red.png"].status == "imported" and "detections of wrong not stored" in results["red.png"].warning
    assert "4 classes" in results["red.png"].warning or "has 4" in results["red.png"].warning
    assert Detection.objects.count() == 0 and DetectionRun.objects.count() == 0


def test_build_runs_a_new_feature_on_media_ingested_before_and_rebuild_starts_over(detector_zoo, folder):
    ingest(folder)
    feature = detection_feature_create(modelzoo_name=detector_zoo, at_ingest=False, min_score=0.8)
    first = detections_build(feature=feature)
    frames = Media.objects.filter(media_type=MediaType.VIDEO_FRAME).count()
    assert first == {"media": 2 + frames, "failed": 0, "boxes": 1 + frames}  # 0.7 vehicles are under min_score
    assert detections_build(feature=feature) == {"media": 0, "failed": 0, "boxes": 0}
    assert detections_build(feature=feature, rebuild=True)["boxes"] == 1 + frames


def test_search_by_label_pages_exactly_and_filters(api, detector_zoo, folder, user):
    detection_feature_create(modelzoo_name=detector_zoo)
    ingest(folder)
    frames = Media.objects.filter(media_type=MediaType.VIDEO_FRAME).count()
    res = api.get("/api/v1/search/detections/", {"label": "munition", "min_score": 0.6})
    assert res.status_code == 200
    body = res.json()["res"]
    assert body["count"] == 1 + frames and body["label"] == "munition" and body["has_more"] is False
    assert [r["rank"] for r in body["results"]] == list(range(1, 2 + frames)) and body["results"][0]["score"] == 0.9
    first = next(r for r in body["results"] if r["media"]["original_name"] == "red.png")
    assert [(d["model"], d["label"]) for d in first["detections"]] == [("my-detector", "munition")]
    assert first["detections"][0]["box"] == [0.125, 0.0, 0.625, 0.6977]  # 96x64 letterboxed: 10 px above
    only_images = api.get("/api/v1/search/detections/", {"label": "munition", "media_type": "image"}).json()["res"]
    assert [r["media"]["original_name"] for r in only_images["results"]] == ["red.png"]
    assert api.get("/api/v1/search/detections/", {"label": "vehicle", "min_score": 0.8}).json()["res"]["count"] == 0
    assert api.get("/api/v1/search/detections/", {"label": "munition", "model": "other"}).json()["res"]["count"] == 0
    pages = [api.get("/api/v1/search/detections/", {"label": "munition", "limit": 1, "offset": n}).json()["res"] for n in range(1 + frames)]
    assert [p["results"][0]["rank"] for p in pages] == list(range(1, 2 + frames)) and pages[0]["has_more"] and not pages[-1]["has_more"]
    assert len({p["results"][0]["media"]["id"] for p in pages}) == 1 + frames
    collection = Collection.objects.create(title="evidence", user=user)
    CollectionMedia.objects.create(collection=collection, media=Media.objects.get(original_name="red.png"))
    in_collection = api.get("/api/v1/search/detections/", {"label": "munition", "collection": collection.pk}).json()["res"]
    assert in_collection["count"] == 1


def test_search_by_label_rejects_bad_parameters(api):
    missing = api.get("/api/v1/search/detections/")
    assert missing.status_code == 400 and "label" in missing.json()["error"]["fields"]
    assert api.get("/api/v1/search/detections/", {"label": "x", "min_score": 2}).status_code == 400
    assert api.get("/api/v1/search/detections/", {"label": "x", "collection": 999}).status_code == 400
    assert api.get("/api/v1/search/detections/", {"label": "x", "limit": 10_000}).status_code == 400


def test_a_media_lists_its_stored_boxes(api, detector_zoo, folder, anon):
    detection_feature_create(modelzoo_name=detector_zoo)
    ingest(folder / "red.png")
    red = Media.objects.get(original_name="red.png")
    body = api.get(f"/api/v1/search/detections/media/{red.pk}/").json()["res"]
    assert body["media_id"] == red.pk and [d["label"] for d in body["items"]] == ["munition", "vehicle"]
    assert api.get("/api/v1/search/detections/media/999999/").status_code == 404
    assert anon.get(f"/api/v1/search/detections/media/{red.pk}/").status_code == 401


def test_only_detection_models_make_detection_features(detector_zoo):
    from core.errors import InvalidInput

    with pytest.raises(InvalidInput):
        detection_feature_create(modelzoo_name="efficientnet_lite0")


def test_batch_reports_list_the_stored_detections_of_each_match(detector_zoo, folder):
    from types import SimpleNamespace

    from search_app.analysis.batch import _attach_detections, _report_html, _report_rows

    detection_feature_create(modelzoo_name=detector_zoo)
    ingest(folder / "red.png")
    red = Media.objects.get(original_name="red.png")
    upload = SimpleNamespace(sha256="0" * 64, pk=1, thumbnail=SimpleNamespace(name=""))
    rows = [{"name": "query.jpg", "upload": upload, "record_id": 1, "matches": [{"rank": 1, "score": 0.9, "media": red}]}]
    _attach_detections(rows)
    header, line = list(_report_rows(rows))
    assert line[header.index("detections")] == "munition 0.90; vehicle 0.70"
    page = _report_html(rows=rows, skipped=[], skipped_count=0, feature=None, k=10, min_score=None, created="now").decode()
    assert "<th>Detections</th>" in page and "munition 0.90; vehicle 0.70" in page


def test_an_onnx_detector_selected_for_queries_runs_on_the_query_image(detector_zoo, folder, staff):
    from media_app.services import media_create_image
    from search_app.query.detections import query_detections
    from search_app.query.sources import MediaSource
    from search_app.services import detection_model_load

    with (folder / "red.png").open("rb") as fh:
        red, _ = media_create_image(stream=fh, original_name="red.png")
    assert detection_model_load(key=detector_zoo, user=staff) == detector_zoo
    found = query_detections(source=MediaSource(red))
    assert found["model"] == detector_zoo and [(d["label"], d["score"]) for d in found["items"]] == [("munition", 0.9), ("vehicle", 0.7)]
