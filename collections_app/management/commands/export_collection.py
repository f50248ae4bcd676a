"""manage.py export_collection ID -o FILE.zip [--json]: write a collection's evidence ZIP.

The same archive as GET collection/<id>/export/ (originals checked against their
sha256, manifests, reports, the searches and detections), written to a temporary name
and renamed into place, so FILE.zip is never half-written.
"""

from __future__ import annotations

import json as jsonlib
import zipfile
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from collections_app.export import STATUS_OK, collection_export_stream, export_detections
from collections_app.selectors import collection_get, collection_items
from core.commands import ProgressBar, write_json
from core.errors import DomainError
from core.files import atomic_write

# Exit status when the ZIP was written but some originals were missing or damaged.
EXIT_INCOMPLETE = 3


class Command(BaseCommand):
    help = (
        "Export collection ID as a ZIP evidence package to FILE.zip. Exit status 0 when every item is in it intact, "
        f"{EXIT_INCOMPLETE} when it was written but some originals were missing or damaged (the manifest lists them), "
        "1 when the collection does not exist or the file cannot be written, 2 on a usage error."
    )

    def add_arguments(self, parser):
        parser.add_argument("collection_id", type=int, metavar="ID")
        parser.add_argument("-o", "--output", type=Path, required=True, metavar="FILE.zip", help="Where to write the ZIP")
        parser.add_argument("--json", action="store_true", help="Print a summary as JSON (no progress bar)")
        parser.add_argument("--no-progress", action="store_true", help="No progress bar")

    def handle(self, *args, collection_id: int, output: Path, json: bool, no_progress: bool, **options):
        try:
            collection = collection_get(collection_id=collection_id)
        except DomainError as exc:
            raise CommandError(exc.message) from None
        items = list(collection_items(collection=collection))
        total = sum(m.media.byte_size for m in items)
        show = not (json or no_progress) and options["verbosity"] > 0

        def write(fh) -> None:
            written = 0
            with ProgressBar(self.stderr, f"collection {collection.pk}", enabled=show, unit="B") as bar:
                for chunk in collection_export_stream(
                    collection=collection, items=items, exported_by="manage.py export_collection", detections=export_detections(items)
                ):
                    fh.write(chunk)
                    written += len(chunk)
                    bar(min(written, total), total, f"{len(items)} items")

        try:
            atomic_write(output, write)
        except OSError as exc:
            raise CommandError(f"Cannot write {output}: {exc.strerror or exc}") from None
        with zipfile.ZipFile(output) as zf:
            manifest = jsonlib.loads(zf.read("manifest.json"))
        rows = manifest.get("items", [])
        bad = [row for row in rows if row.get("status") != STATUS_OK]
        summary = {"collection_id": collection.pk, "path": str(output), "bytes": output.stat().st_size, "items": len(rows), "incomplete": len(bad)}
        if json:
            write_json(self.stdout, summary)
        else:
            self.stdout.write(self.style.SUCCESS(f"Collection {collection.pk} ({collection.title}): {len(rows)} item(s), {summary['bytes']} bytes in {output}"))
        if bad:
            listed = ", ".join(f"{row['id']} ({row['status']})" for row in bad[:10])
            raise CommandError(f"{len(bad)} item(s) missing or damaged: {listed}", returncode=EXIT_INCOMPLETE)
