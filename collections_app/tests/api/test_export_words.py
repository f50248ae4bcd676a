"""A collection export carries, per item, the text read on it and its labels."""

from __future__ import annotations

import csv
import io
import json
import zipfile

import pytest

from collections_app.services import collection_add_media
from text_app.ocr import OcrLine, OcrResult
from text_app.services import media_labels_store, media_ocr_store

pytestmark = pytest.mark.django_db


def test_manifest_rows_carry_the_ocr_text_and_labels_of_each_item(api, make_collection, make_media, user):
    collection = make_collection("Signs")
    sign, plain = make_media(1), make_media(2)
    lines = [OcrLine("Министерство обороны", (0.1, 0.1, 0.8, 0.2), (), 0.93), OcrLine("坦克 T-72", (0.1, 0.4, 0.5, 0.5), (), 0.88)]
    media_ocr_store(media=sign, result=OcrResult(lines=lines, ms=5.0))
    media_labels_store(media=sign, modelzoo_name="efficientnet_lite0", labels=[(847, 0.91), (657, 0.05)])
    for media in (sign, plain):
        collection_add_media(collection=collection, media=media, user=user)
    res = api.get(f"/api/v1/collection/{collection.pk}/export/")
    archive = zipfile.ZipFile(io.BytesIO(b"".join(res.streaming_content)))
    rows = {row["id"]: row for row in json.loads(archive.read("manifest.json"))["items"]}
    assert rows[sign.pk]["ocr_text"] == "Министерство обороны\n坦克 T-72"
    assert rows[sign.pk]["labels"] == "tank 0.910; missile 0.050"
    assert rows[plain.pk]["ocr_text"] is None and rows[plain.pk]["labels"] is None
    (csv_sign,) = [r for r in csv.DictReader(io.StringIO(archive.read("manifest.csv").decode("utf-8-sig"))) if r["id"] == str(sign.pk)]
    assert csv_sign["ocr_text"] == "Министерство обороны\n坦克 T-72"
