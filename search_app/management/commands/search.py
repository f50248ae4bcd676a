"""manage.py search FILE [--feature ID] [--limit N] [--json]: reverse-search one picture.

The picture is stored as an upload and searched like one sent to search/upload/<id>/,
and the search is recorded; the answer is a ranked table, or JSON.
"""

from __future__ import annotations

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from core.commands import write_json
from core.errors import DomainError
from media_app.services import upload_create
from search_app.query import records
from search_app.query.search import SearchOptions, search_run
from search_app.query.sources import UploadSource


class Command(BaseCommand):
    help = "Search the collection with a picture: a ranked table of the closest media, or --json. Exit status 1 when the file or the search fails."

    def add_arguments(self, parser):
        parser.add_argument("file", type=Path, metavar="FILE", help="The query picture")
        parser.add_argument("--feature", type=int, metavar="ID", help="Search this feature (default: the default feature)")
        parser.add_argument("--limit", type=int, default=10, help="How many results (default 10)")
        parser.add_argument("--min-score", type=float, help="Only results with at least this cosine similarity")
        parser.add_argument("--json", action="store_true", help="Print the answer as JSON")

    def handle(self, *args, file: Path, feature: int | None, limit: int, min_score: float | None, json: bool, **options):
        if limit < 1:
            raise CommandError("--limit must be at least 1.")
        try:
            with file.open("rb") as fh:
                upload, _ = upload_create(stream=fh, original_name=file.name, username="manage.py search")
            search_options = SearchOptions(limit=limit, min_score=min_score, feature_id=feature)
            outcome = search_run(source=UploadSource(upload), options=search_options)
            record = records.search_record_create(outcome=outcome, options=search_options, route="upload", user=None)
        except OSError as exc:
            raise CommandError(f"Cannot read {file}: {exc.strerror or exc}") from None
        except DomainError as exc:
            raise CommandError(exc.message) from None
        results = []
        for rank, hit in enumerate(outcome.hits, start=1):
            media = outcome.media.get(hit.media_id)
            if media is None:
                continue
            results.append(
                {
                    "rank": rank,
                    "score": round(float(hit.score), 6),
                    "media_id": media.pk,
                    "media_type": media.media_type,
                    "sha256": media.sha256,
                    "original_name": media.original_name,
                    "source_path": media.source_path,
                }
            )
        answer = {
            "record_id": record.pk,
            "query": {"file": str(file), "upload_id": upload.pk, "sha256": upload.sha256},
            "feature": {"id": outcome.feature.pk, "modelzoo_name": outcome.feature.modelzoo_name, "index_version": outcome.index.version},
            "results": results,
        }
        if json:
            write_json(self.stdout, answer)
            return
        self.stdout.write(f"Feature {outcome.feature.pk} ({outcome.feature.modelzoo_name}), search record {record.pk}: {len(results)} result(s)")
        if results:
            self.stdout.write(f"{'rank':>4}  {'score':>8}  {'media':>7}  {'type':11}  name / source")
            for r in results:
                self.stdout.write(f"{r['rank']:>4}  {r['score']:>8.4f}  {r['media_id']:>7}  {r['media_type']:11}  {r['original_name']}  {r['source_path']}")
