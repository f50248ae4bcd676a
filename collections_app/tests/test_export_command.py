"""manage.py export_collection ID -o FILE.zip: the API's evidence ZIP written to a file,
with the items' stored detections, and exit codes that say whether it is complete."""

from __future__ import annotations

import io
import json
import zipfile

import pytest
from django.core.files.storage import default_storage
from django.core.management import call_command
from django.core.management.base import CommandError

from collections_app.services import collection_add_media
from search_app.models import Detection, DetectionFeature

pytestmark = pytest.mark.django_db


def run(*args) -> str:
    out = io.StringIO()
    call_command("export_collection", *args, stdout=out, stderr=io.StringIO())
    return out.getvalue()


@pytest.fixture
def case(make_collection, make_media, user):
    collection = make_collection("Convoy")
    media = [make_media(1, original_name="one.jpg"), make_media(2, original_name="two.jpg")]
    for item in media:
        collection_add_media(collection=collection, media=item, user=user)
    feature = DetectionFeature.objects.create(modelzoo_name="my-detector")
    Detection.objects.create(feature=feature, media=media[0], label="munition", label_id=0, score=0.91, x1=0.1, y1=0.2, x2=0.5, y2=0.6)
    return collection, media


def test_export_writes_the_zip_with_originals_manifest_and_detections(case, tmp_path):
    collection, media = case
    target = tmp_path / "case.zip"
    summary = json.loads(run(str(collection.pk), "-o", str(target), "--json"))
    assert summary == {"collection_id": collection.pk, "path": str(target), "bytes": target.stat().st_size, "items": 2, "incomplete": 0}
    with zipfile.ZipFile(target) as zf:
        assert zf.testzip() is None
        names = zf.namelist()
        assert {"manifest.json", "manifest.csv", "report.md", "report.html", "searches.json", "detections.json"} <= set(names)
        assert sum(n.startswith("media/") for n in names) == 2
        found = {item["media_id"]: item["detections"] for item in json.loads(zf.read("detections.json"))["items"]}
    assert found[media[1].pk] == []
    assert found[media[0].pk] == [{"model": "my-detector", "label": "munition", "label_id": 0, "score": 0.91, "box": [0.1, 0.2, 0.5, 0.6]}]
    assert "2 item(s)" in run(str(collection.pk), "-o", str(target), "--no-progress")


def test_an_unknown_collection_or_an_unwritable_path_fails_and_writes_nothing(case, tmp_path):
    collection, _ = case
    with pytest.raises(CommandError, match="999"):
        run("999", "-o", str(tmp_path / "x.zip"))
    with pytest.raises(CommandError, match="Cannot write"):
        run(str(collection.pk), "-o", str(tmp_path / "no" / "such" / "x.zip"))
    assert not (tmp_path / "x.zip").exists()


def test_a_missing_original_is_written_but_exits_3(case, tmp_path):
    collection, media = case
    default_storage.delete(media[1].file.name)
    target = tmp_path / "case.zip"
    with pytest.raises(CommandError) as caught:
        run(str(collection.pk), "-o", str(target), "--no-progress")
    assert caught.value.returncode == 3 and f"{media[1].pk} (missing)" in str(caught.value)
    assert zipfile.ZipFile(target).testzip() is None
