"""Set up the database and files the browser tests run against (run in a subprocess
with the live server's environment): migrate, collect static files, a curator and a
staff user, a
small corpus of generated scenes, fillers and a short video ingested and indexed with
the tiny random-weight model, and the query files the tests upload.

Prints one JSON line: credentials, the feature id, media ids by file name, paths.
"""

from __future__ import annotations

import io
import json
import sys
from pathlib import Path

import django

SCENES = 12
FILLERS = 100  # enough for a page of 100 thumbnails
PASSWORD = "curator-pass-123"


def write_corpus(folder: Path) -> None:
    from vframe_search.demo import draw_scene, write_demo_video

    scenes = folder / "scenes"
    scenes.mkdir(parents=True, exist_ok=True)
    for i in range(SCENES):
        draw_scene(2000 + i, (192, 144)).save(scenes / f"scene_{i:03d}.jpg", quality=90)
    fillers = folder / "fillers"
    fillers.mkdir(exist_ok=True)
    for i in range(FILLERS):
        draw_scene(7000 + i, (64, 48)).save(fillers / f"filler_{i:03d}.jpg", quality=80)
    write_demo_video(folder / "video" / "clip.mp4", scenes=3, seconds_per_scene=1.0, fps=8)


def write_queries(folder: Path) -> dict[str, str]:
    from PIL import Image

    from vframe_search.demo import draw_scene

    folder.mkdir(parents=True, exist_ok=True)
    # The same picture as scene_003.jpg, encoded again at another quality: new bytes
    # (a new sha256), the same image for a person.
    copy = folder / "copy_of_scene_003.jpg"
    draw_scene(2003, (192, 144)).save(copy, quality=45)
    other = folder / "another_query.png"
    draw_scene(2005, (192, 144)).resize((160, 120), Image.Resampling.BILINEAR).save(other)
    bad = folder / "not-an-image.jpg"
    bad.write_text("This is a text file with a .jpg name.\n")
    return {"copy": str(copy), "other": str(other), "bad": str(bad)}


def main(workdir: Path) -> None:
    django.setup()
    from django.contrib.auth import get_user_model
    from django.core.management import call_command

    from media_app.models import Media
    from search_app.models import Feature
    from search_app.services import feature_load

    call_command("migrate", verbosity=0, interactive=False)
    call_command("collectstatic", verbosity=0, interactive=False)
    User = get_user_model()
    user = User.objects.create_user(username="curator", password=PASSWORD)
    User.objects.create_user(username="boss", password=PASSWORD, is_staff=True)
    User.objects.create_superuser(username="root", password=PASSWORD, email="root@example.org")

    corpus = workdir / "corpus"
    write_corpus(corpus)
    feature = Feature.objects.create(modelzoo_name="tiny-random", index_params={"M": 8, "ef_construction": 64, "ef": 64}, user=user, username="curator")
    out = io.StringIO()
    call_command("ingest", str(corpus), "--feature", str(feature.pk), "--no-progress", stdout=out, stderr=out)
    feature.refresh_from_db()
    if feature.item_count == 0:
        raise SystemExit(f"the corpus was not indexed:\n{out.getvalue()}")
    feature_load(feature_id=feature.pk, user=user)

    # Text read on one picture, as OCR stores it (the search-by-words page test).
    from text_app.ocr import OcrLine, OcrResult
    from text_app.services import media_ocr_store

    sign = Media.objects.filter(media_type="image").order_by("pk").first()
    quad = ((0.1, 0.2), (0.6, 0.2), (0.6, 0.35), (0.1, 0.35))
    media_ocr_store(
        media=sign,
        result=OcrResult(lines=[OcrLine("CHECKPOINT 7", (0.1, 0.2, 0.6, 0.35), quad, 0.97), OcrLine("Road closed", (0.1, 0.5, 0.5, 0.6), quad, 0.9)], ms=1.0),
    )

    media = {m.original_name: m.pk for m in Media.objects.exclude(media_type="video_frame")}
    frames = list(Media.objects.filter(media_type="video_frame").order_by("frame_number").values_list("pk", flat=True))
    print(
        json.dumps(
            {
                "username": user.username,
                "staff_username": "boss",
                "admin_username": "root",
                "password": PASSWORD,
                "feature": feature.pk,
                "indexed": feature.item_count,
                "media": media,
                "frames": frames,
                "words_media": sign.pk,
                "queries": write_queries(workdir / "queries"),
            }
        )
    )


if __name__ == "__main__":
    main(Path(sys.argv[1]))
