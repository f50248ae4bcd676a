"""Celery tasks of the tasks app: the progress demo behind task/test/, and the model
zoo's weight download (the model zoo sits below the task layer)."""

from __future__ import annotations

import time
from typing import Any

from celery import shared_task

from .progress import CeleryTaskReporter


@shared_task(bind=True, name="tasks_app.tasks.progress_demo")
def progress_demo(self, steps: int = 10, interval: float = 1.0, fail_at: int | None = None) -> dict[str, Any]:
    """Sleep ``steps`` times for ``interval`` seconds, reporting progress after each step.

    The task behind ``POST task/test/``: it shows that a worker (or the inline pool)
    is alive and that its events reach the websocket. ``fail_at`` makes it raise at
    that step, to see how a failure looks. Cancelling stops it at the next step.
    """
    report = CeleryTaskReporter(self)
    started = time.monotonic()
    report(0, steps, "starting")
    for step in range(1, steps + 1):
        time.sleep(interval)
        if fail_at is not None and step == fail_at:
            raise RuntimeError(f"Failed at step {step} of {steps}, as asked (fail_at={fail_at}).")
        report(step, steps, f"step {step} of {steps}")
    return {"steps": steps, "seconds": round(time.monotonic() - started, 3)}


@shared_task(bind=True, name="tasks_app.tasks.download_model")
def download_model(self, name: str, force: bool = False) -> dict:
    """Fetch model ``name``'s weights into MODELS_DIR (idempotent; fails cleanly offline)."""
    from modelzoo.services import model_download

    return model_download(name=name, force=force, reporter=CeleryTaskReporter(self))
