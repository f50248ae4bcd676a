"""manage.py build_index FEATURE [--rebuild] [--json]: bring one feature's index up to date.

FEATURE is a feature id (an embedding model's index: embed what it lacks and write a
new version) or the name of a detection model (store its boxes for every image and
keyframe it has not looked at; the detection feature is created if there is none).
"""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from core.commands import ProgressBar, write_json
from core.errors import DomainError
from search_app.detection.services import detection_feature_create, detections_build
from search_app.indexing.build import feature_update_index
from search_app.selectors import feature_get


class Command(BaseCommand):
    help = (
        "Update the index of FEATURE: a feature id (embed the media it lacks and write a new index version), or the name of a "
        "detection model (store its boxes for the images and video keyframes it has not looked at). Exit status 0 when done, "
        "1 when the feature is unknown or the build failed, 2 on a usage error."
    )

    def add_arguments(self, parser):
        parser.add_argument("feature", metavar="FEATURE", help="A feature id, or a detection model's name")
        parser.add_argument("--rebuild", action="store_true", help="Rebuild from scratch (embeddings: from the stored vectors; detections: run again on all)")
        parser.add_argument("--json", action="store_true", help="Print the result as JSON (no progress bar)")
        parser.add_argument("--no-progress", action="store_true", help="No progress bar")

    def handle(self, *args, feature: str, rebuild: bool, json: bool, no_progress: bool, **options):
        show = not (json or no_progress) and options["verbosity"] > 0
        try:
            if feature.isdigit():
                target = feature_get(feature_id=int(feature))
                with ProgressBar(self.stderr, f"index {target.pk}", enabled=show) as bar:
                    result = feature_update_index(feature=target, reporter=bar, full=rebuild)
                line = _index_line(target, result)
            else:
                target = detection_feature_create(modelzoo_name=feature)
                with ProgressBar(self.stderr, f"detect {feature}", enabled=show) as bar:
                    result = {"detection_feature": target.modelzoo_name, **detections_build(feature=target, rebuild=rebuild, reporter=bar)}
                line = f"Detections of {feature}: {result['boxes']} boxes stored on {result['media']} media" + (
                    f"; {result['failed']} could not be read." if result["failed"] else "."
                )
        except DomainError as exc:
            raise CommandError(exc.message) from None
        except Exception as exc:  # the build failed; the feature's status says so too
            raise CommandError(f"Building {feature} failed: {type(exc).__name__}: {exc}") from exc
        if json:
            write_json(self.stdout, result)
        else:
            self.stdout.write(self.style.SUCCESS(line))


def _index_line(feature, result: dict) -> str:
    if result.get("claimed") is False:
        return f"Feature {feature.pk}: {result['message']}"
    counts = ", ".join(f"{key} {result[key]}" for key in ("embedded", "skipped", "removed") if result.get(key)) or "nothing new"
    return f"Feature {feature.pk} ({feature.modelzoo_name}) is up to date ({counts}); index version {result.get('version')} has {result.get('count')} items."
