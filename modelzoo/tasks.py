"""Celery tasks of the model zoo."""

from __future__ import annotations

from celery import shared_task

from tasks_app.progress import CeleryTaskReporter

from .services import model_download


@shared_task(bind=True)
def download_model(self, name: str, force: bool = False) -> dict:
    """Fetch model ``name``'s weights into MODELS_DIR (idempotent; fails cleanly offline)."""
    return model_download(name=name, force=force, reporter=CeleryTaskReporter(self))
