"""manage.py prune_tasks [--days N]: delete old finished task runs, mark orphaned ones failed."""

from __future__ import annotations

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from tasks_app.services import task_runs_prune, task_runs_reap_orphans


class Command(BaseCommand):
    help = (
        "Delete finished task runs (with Celery's results and the files they left, like batch reports) older than "
        "--days (default VFRAME_TASK_RETENTION_DAYS), and mark failed the runs whose worker is gone. Workers do "
        "the same at start and every VFRAME_TASK_HOUSEKEEPING_HOURS; this is for cron or a one-off."
    )

    def add_arguments(self, parser):
        parser.add_argument("--days", type=float, default=None, help="Keep finished runs younger than this many days (default: %(default)s, the setting).")

    def handle(self, *args, days: float | None, **options):
        days = settings.TASK_RETENTION_DAYS if days is None else days
        if days < 0:
            raise CommandError("--days must be 0 or more")
        reaped = task_runs_reap_orphans()
        pruned = task_runs_prune(days=days)
        self.stdout.write(
            f"{pruned['runs']} task run(s) and {pruned['results']} Celery result(s) older than {days:g} day(s) deleted; {reaped} orphaned run(s) marked failed."
        )
