"""Give the videos stored before the ingest made playable copies a copy browsers play."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from core.errors import DomainError
from media_app.models import Media, MediaType
from media_app.services import media_make_playable


class Command(BaseCommand):
    help = "Store an H.264/AAC MP4 copy of every video that browsers cannot play as it is (the original stays as it is)."

    def add_arguments(self, parser):
        parser.add_argument("--dry-run", action="store_true", help="Only count the videos without a copy.")

    def handle(self, *args, dry_run: bool, **options):
        videos = Media.objects.filter(media_type=MediaType.VIDEO, playable="").order_by("pk")
        total = videos.count()
        if dry_run:
            self.stdout.write(f"{total} video(s) without a playable copy (some may play as they are).")
            return
        made = failed = 0
        for n, video in enumerate(videos.iterator(), 1):
            try:
                if media_make_playable(media=video):
                    made += 1
            except (DomainError, OSError) as exc:
                failed += 1
                self.stderr.write(f"video {video.pk} ({video.original_name}): {exc}")
            self.stdout.write(f"\r{n}/{total}", ending="")
        self.stdout.write("")
        self.stdout.write(self.style.SUCCESS(f"{made} copies made, {total - made - failed} videos play as they are."))
        if failed:
            raise CommandError(f"{failed} video(s) could not be copied (above).")
