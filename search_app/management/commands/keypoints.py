"""manage.py keypoints: keep the keypoints of every stored picture before searches need them."""

from __future__ import annotations

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from core.commands import ProgressBar
from search_app.query.keypoint_store import fill


class Command(BaseCommand):
    help = (
        "Find and keep the keypoints of every image and video keyframe that has none kept yet. The geometric check of a "
        "search compares them with the query's; a picture without kept keypoints is decoded by the first search that "
        "checks it. Run after a large import so that no search pays for it. Resumable: a rerun continues."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--workers",
            type=int,
            default=settings.INGEST_WORKERS,
            help=f"Pictures decoded in parallel (default {settings.INGEST_WORKERS}, VFRAME_INGEST_WORKERS)",
        )
        parser.add_argument("--no-progress", action="store_true", help="No progress bar")

    def handle(self, *args, **opts):
        with ProgressBar(self.stderr, "keypoints", enabled=not opts["no_progress"] and opts["verbosity"] > 0, unit="picture") as bar:
            made, unreadable = fill(reporter=bar, workers=max(1, opts["workers"]))
        self.stdout.write(self.style.SUCCESS(f"kept the keypoints of {made} picture(s)"))
        if unreadable:
            raise CommandError(f"{unreadable} picture(s) could not be read (logged above); a rerun tries them again.")
