"""A batch report gives, per match, the text read on it and its labels."""

from __future__ import annotations

import csv
import io
import zipfile

import pytest
from django.core.files.storage import default_storage

from search_app.analysis.batch import CSV_FIELDS, batch_search_run
from search_app.indexing import engine
from search_app.indexing.build import feature_update_index
from text_app.ocr import OcrLine, OcrResult
from text_app.services import media_labels_store, media_ocr_store


@pytest.fixture(autouse=True)
def fresh_engine():
    engine.clear()
    yield
    engine.clear()


def test_each_match_of_a_batch_report_carries_its_ocr_text_and_labels(make_media, tiny_feature, image_bytes):
    from media_app.services import upload_create

    corpus = [make_media(seed) for seed in range(8)]
    media_ocr_store(media=corpus[3], result=OcrResult(lines=[OcrLine("ПРОПУСК 7", (0.1, 0.1, 0.5, 0.2), (), 0.9)], ms=1.0))
    media_labels_store(media=corpus[3], modelzoo_name="efficientnet_lite0", labels=[(847, 0.5)])
    feature = tiny_feature(index_params={"M": 8, "ef_construction": 64, "ef": 32})
    feature_update_index(feature=feature)
    upload, _ = upload_create(stream=io.BytesIO(image_bytes(64, 48, seed=3)), original_name="q.jpg")
    result = batch_search_run(task_id="words-test", queries=[{"upload_id": upload.pk, "name": "q.jpg"}], k=8)
    with default_storage.open(result["files"]["csv"], "rb") as fh:
        rows = list(csv.DictReader(io.StringIO(fh.read().decode("utf-8-sig"))))
    assert list(rows[0]) == CSV_FIELDS
    by_media = {int(r["media_id"]): r for r in rows}
    assert by_media[corpus[3].pk]["ocr_text"] == "ПРОПУСК 7" and by_media[corpus[3].pk]["labels"] == "tank 0.500"
    assert by_media[corpus[0].pk]["ocr_text"] == ""
    with default_storage.open(result["files"]["zip"], "rb") as fh:
        html_report = zipfile.ZipFile(io.BytesIO(fh.read())).read("report.html").decode("utf-8")
    assert "ПРОПУСК 7" in html_report and "Text read / labels" in html_report
