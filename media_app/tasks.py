"""Celery tasks of the media app: ingest of a server-side folder."""

from __future__ import annotations

import dataclasses
import threading
from pathlib import Path
from typing import Any

from celery import shared_task
from django.conf import settings
from rest_framework import serializers

from tasks_app.events import TaskCancelled
from tasks_app.progress import CeleryTaskReporter
from tasks_app.registry import TaskSpec, task_register

from .ingest import IngestOptions, allowed_server_folder, ingest_index, ingest_run
from .ingest.walk import allowed_roots


class IngestFolderParams(serializers.Serializer):
    path = serializers.CharField(max_length=4096, help_text="Server-side folder, inside one of the folders allowed by VFRAME_INGEST_ALLOWED_DIRS.")
    index = serializers.BooleanField(default=True, help_text="Then embed what is new into every active feature's index.")
    ocr = serializers.BooleanField(default=False, help_text="Also read the text on every picture (OCR; about 1 s each on one core).")

    def validate_path(self, value: str) -> str:
        try:
            return str(allowed_server_folder(value))
        except ValueError as exc:
            raise serializers.ValidationError(str(exc))


@shared_task(bind=True, name="media_app.tasks.ingest_folder")
def ingest_folder(self, path: str, index: bool = True, ocr: bool = False) -> dict[str, Any]:
    """Import the images and videos under a server folder, then (``index``) embed what
    is new into every active feature: ``manage.py ingest`` as a task.

    ``path`` was checked against ``INGEST_ALLOWED_DIRS`` by :class:`IngestFolderParams`, and
    symlinks leading out of those folders are skipped (``symlink_outside_allowed``). Idempotent like
    the ingest service: media are keyed by content hash, so a rerun (or a run after a
    crash) only adds what is missing. A cancel stops the import between files.
    """
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

    # Confined to the allowed folders: a symlink out of them is skipped, not followed.
    options = IngestOptions(workers=settings.INGEST_WORKERS, confine_to=allowed_roots(), ocr=ocr)
    summary = ingest_run(paths=[Path(path)], options=options, reporter=reporter, stop=stop)
    if cancelled:
        raise cancelled[0]
    indexed = []
    if index and not summary.interrupted:
        indexed = [_json_result(r) for r in ingest_index(features=None, reporter=report)]
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


def register_tasks() -> None:
    task_register(
        TaskSpec(
            name="ingest_folder",
            task_path="media_app.tasks.ingest_folder",
            description="Import every image and video of a server-side folder (one allowed in settings) as media, then index what is new.",
            params=IngestFolderParams,
            staff_only=True,
        )
    )
