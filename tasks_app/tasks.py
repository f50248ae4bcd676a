"""Celery tasks of the tasks app: the progress demo behind task/test/, and folder ingest."""

from __future__ import annotations

import dataclasses
import threading
import time
from pathlib import Path
from typing import Any

from celery import shared_task
from django.conf import settings

from .events import TaskCancelled
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


@shared_task(bind=True, name="tasks_app.tasks.ingest_folder")
def ingest_folder(self, path: str, index: bool = True) -> dict[str, Any]:
    """Import the images and videos under a server folder, then (``index``) embed what
    is new into every active feature: ``manage.py ingest`` as a task.

    ``path`` was checked against ``INGEST_ALLOWED_DIRS`` by the registry. Idempotent like
    the ingest service: media are keyed by content hash, so a rerun (or a run after a
    crash) only adds what is missing. A cancel stops the import between files.
    """
    from media_app.ingest import IngestOptions, ingest_index, ingest_run
    from search_app.models import Feature

    report = CeleryTaskReporter(self)
    stop = threading.Event()
    cancelled: list[TaskCancelled] = []

    def reporter(current: int, total: int, message: str = "") -> None:
        # Called from the ingest's file threads: a cancel must stop the run in order
        # (files in progress finish or roll back), so it is turned into ``stop``.
        if stop.is_set():
            return
        try:
            report(current, total, message)
        except TaskCancelled as exc:
            cancelled.append(exc)
            stop.set()

    summary = ingest_run(paths=[Path(path)], options=IngestOptions(workers=settings.INGEST_WORKERS), reporter=reporter, stop=stop)
    if cancelled:
        raise cancelled[0]
    indexed = []
    if index and not summary.interrupted:
        features = list(Feature.objects.filter(active=True).order_by("pk"))
        indexed = [_json_result(r) for r in ingest_index(features=features, reporter=report)]
    return {
        "path": path,
        "images": summary.images,
        "videos": summary.videos,
        "frames": summary.frames,
        "duplicates": summary.duplicates,
        "skipped": dict(summary.skipped),
        "failures": [{"path": f.path, "code": f.code, "message": f.message} for f in summary.failures[:100]],
        "interrupted": summary.interrupted,
        "indexed": indexed,
    }


def _json_result(result: Any) -> Any:
    return dataclasses.asdict(result) if dataclasses.is_dataclass(result) else result
