"""Fixtures of the text app's tests: inline tasks, a models folder per test, pictures
stored as media with OCR results written directly (fast) or read for real."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def text_settings(settings, tmp_path):
    settings.MODELS_DIR = tmp_path / "models"
    settings.REDIS_URL = None
    settings.TASKS_INLINE = True
    settings.TASKS_EAGER = True
    settings.EMBED_BATCH_SIZE = 8
    settings.LOADER_WORKERS = 1
    settings.LABELS_AT_INGEST = False
    return settings


@pytest.fixture(autouse=True, scope="session")
def one_torch_thread():
    import torch

    torch.set_num_threads(1)


@pytest.fixture
def words_media(db, image_bytes):
    """words_media(*lines, seed=0, media_type=...) -> Media whose OCR text is ``lines``
    (stored as if read, each line in its own box), without running OCR."""
    import io

    from media_app.services import media_create_image
    from text_app.ocr import OcrLine, OcrResult
    from text_app.services import media_ocr_store

    counter = iter(range(10_000, 20_000))

    def make(*lines: str, seed: int | None = None):
        media, _ = media_create_image(stream=io.BytesIO(image_bytes(64, 48, seed=next(counter) if seed is None else seed)), original_name="w.jpg")
        ocr = [
            OcrLine(text=text, box=(0.1, 0.1 + 0.2 * i, 0.6, 0.25 + 0.2 * i), quad=((0.1, 0.1), (0.6, 0.1), (0.6, 0.25), (0.1, 0.25)), confidence=0.9)
            for i, text in enumerate(lines)
        ]
        media_ocr_store(media=media, result=OcrResult(lines=ocr, ms=1.0))
        return media

    return make
