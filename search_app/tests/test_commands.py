"""manage.py build_index and manage.py search: thin shells over the index build, the
detection build and search_run, with exit codes and --json for scripts."""

from __future__ import annotations

import io
import json

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from search_app.models import DetectionFeature, Feature, FeatureStatus
from tests.onnx_models import detector_entry, export_yolo, operator_zoo, write_labels

pytestmark = pytest.mark.django_db


def run(*args) -> str:
    out = io.StringIO()
    call_command(*args, stdout=out, stderr=io.StringIO())
    return out.getvalue()


def test_build_index_builds_a_feature_and_says_so(tiny_feature, make_media):
    for seed in range(3):
        make_media(seed)
    feature = tiny_feature()
    assert "is up to date (embedded 3)" in run("build_index", str(feature.pk), "--no-progress")
    feature.refresh_from_db()
    assert feature.status == FeatureStatus.READY and feature.item_count == 3
    result = json.loads(run("build_index", str(feature.pk), "--rebuild", "--json"))
    assert result["count"] == 3 and result["mode"] and result["status"] == "ready"


def test_build_index_of_an_unknown_feature_or_model_fails_with_the_reason():
    with pytest.raises(CommandError, match="No feature with id 99"):
        run("build_index", "99")
    with pytest.raises(CommandError, match="No detection model called 'nope'"):
        run("build_index", "nope")
    assert not DetectionFeature.objects.exists()


def test_build_index_of_a_detection_model_stores_boxes_of_media_imported_before(tmp_path, make_media):
    from PIL import Image

    from media_app.services import media_create_image

    buf = io.BytesIO()
    Image.new("RGB", (80, 60), (255, 0, 0)).save(buf, "PNG")
    media_create_image(stream=io.BytesIO(buf.getvalue()), original_name="red.png")
    make_media(1)
    write_labels(tmp_path / "labels.txt")
    with operator_zoo(tmp_path / "zoo.toml", detector_entry("my-detector", str(export_yolo(tmp_path / "d.onnx", layout="yolov5")), layout="yolov5")):
        result = json.loads(run("build_index", "my-detector", "--json"))
        assert result == {"detection_feature": "my-detector", "media": 2, "failed": 0, "boxes": 2}
        assert "0 boxes stored on 0 media" in run("build_index", "my-detector", "--no-progress")
    assert DetectionFeature.objects.get().at_ingest is True


def test_search_prints_a_ranked_table_or_json(tiny_feature, make_media, tmp_path, image_bytes):
    from search_app.indexing.build import feature_update_index

    media = [make_media(seed) for seed in range(4)]
    feature = tiny_feature()
    feature_update_index(feature=Feature.objects.get(pk=feature.pk))
    query = tmp_path / "query.jpg"
    query.write_bytes(image_bytes(96, 72, seed=2))
    table = run("search", str(query), "--limit", "3")
    lines = table.splitlines()
    assert lines[0].startswith(f"Feature {feature.pk} (tiny-random), search record") and "3 result(s)" in lines[0]
    assert lines[1].split() == ["rank", "score", "media", "type", "name", "/", "source"] and lines[2].split()[0] == "1"
    answer = json.loads(run("search", str(query), "--json", "--feature", str(feature.pk)))
    assert answer["results"][0]["media_id"] == media[2].pk and answer["results"][0]["score"] == pytest.approx(1.0, abs=1e-4)
    assert answer["feature"]["id"] == feature.pk and answer["record_id"] and len(answer["results"]) == 4  # the query's own bytes are media 2


def test_search_fails_clearly_on_a_missing_file_or_no_feature(tmp_path, image_bytes):
    with pytest.raises(CommandError, match="Cannot read"):
        run("search", str(tmp_path / "absent.jpg"))
    query = tmp_path / "q.jpg"
    query.write_bytes(image_bytes(64, 48, seed=1))
    with pytest.raises(CommandError, match="No feature is ready"):
        run("search", str(query))
