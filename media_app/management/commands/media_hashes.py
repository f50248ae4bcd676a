"""manage.py media_hashes: the perceptual hash of every picture stored before hashes were kept."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from core.commands import ProgressBar
from media_app.services import media_hashes_fill, media_without_hash


class Command(BaseCommand):
    help = (
        "Store the whole-picture perceptual hash of every image and video keyframe that has none yet (stored before hashes "
        "were kept); the default search compares it with the query's to find heavily edited copies. Resumable: a rerun continues."
    )

    def add_arguments(self, parser):
        parser.add_argument("--dry-run", action="store_true", help="Count the pictures without a hash; change nothing")
        parser.add_argument("--no-progress", action="store_true", help="No progress bar")

    def handle(self, *args, **opts):
        if opts["dry_run"]:
            left = media_without_hash().count()
            self.stdout.write(f"{left} picture(s) without a perceptual hash")
            return
        with ProgressBar(self.stderr, "hashes", enabled=not opts["no_progress"] and opts["verbosity"] > 0, unit="picture") as bar:
            hashed, unreadable = media_hashes_fill(reporter=bar)
        self.stdout.write(self.style.SUCCESS(f"hashed {hashed} picture(s)"))
        if unreadable:
            raise CommandError(f"{unreadable} picture(s) could not be read (logged above); a rerun tries them again.")
