"""The media_words task, started through the task API (staff only), and its command."""

from __future__ import annotations

import io

import pytest
from django.core.management import call_command

from media_app.models import Media
from text_app.models import MediaLabel, MediaWords
from text_app.tests.pictures import store_picture, text_picture

pytestmark = pytest.mark.django_db(transaction=True)


def test_staff_start_the_resumable_task_and_it_labels_what_is_stored(staff_api, api):
    stored = [store_picture(text_picture([f"SIGN {i}"]), f"s{i}.png") for i in range(3)]
    assert api.post("/api/v1/task/run/", {"task_name": "media_words", "params": {"ocr": False}}, format="json").status_code == 403
    bad = staff_api.post("/api/v1/task/run/", {"task_name": "media_words", "params": {"ocr": False, "labels": False}}, format="json")
    assert bad.status_code == 400 and "Nothing to do" in bad.content.decode()
    res = staff_api.post("/api/v1/task/run/", {"task_name": "media_words", "params": {"ocr": False}}, format="json")
    assert res.status_code in (200, 202), res.content
    assert MediaLabel.objects.filter(media__in=stored, rank=1).count() == 3
    assert MediaWords.objects.filter(ocr_at__isnull=False).count() == 0


def test_the_command_counts_what_is_left_and_then_does_it():
    store_picture(text_picture(["GATE 3"]), "gate.png")
    out = io.StringIO()
    call_command("media_words", "--dry-run", stdout=out)
    assert out.getvalue().strip() == "text to read: 1, pictures to label: 1"
    call_command("media_words", "--no-labels", stdout=io.StringIO())
    out = io.StringIO()
    call_command("media_words", "--dry-run", "--no-labels", stdout=out)
    assert "text to read: 0" in out.getvalue()
    assert "gate" in MediaWords.objects.get(media=Media.objects.get()).text.lower()
