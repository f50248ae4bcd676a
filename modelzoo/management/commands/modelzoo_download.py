"""manage.py modelzoo_download NAME [NAME ...]: fetch model weights into MODELS_DIR."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from core.errors import DomainError
from modelzoo.registry import all_models
from modelzoo.services import model_download
from modelzoo.weights import weights_status


class Command(BaseCommand):
    help = "Download the weights of model-zoo models (needs internet) into VFRAME_MODELS_DIR."

    def add_arguments(self, parser):
        parser.add_argument("names", nargs="*", metavar="NAME", help="Model zoo names; see --list.")
        parser.add_argument("--list", dest="list_models", action="store_true", help="List the models and whether their weights are present.")
        parser.add_argument("--force", action="store_true", help="Download again even if the file is there.")

    def handle(self, *args, names: list[str], list_models: bool, force: bool, **options):
        if list_models or not names:
            for spec in all_models():
                status = weights_status(spec)
                mark = self.style.SUCCESS("present") if status.present else self.style.WARNING("missing")
                self.stdout.write(f"{spec.name:36} {spec.type:10} {mark:>8}  {status.path or status.expected_path}")
            if not names:
                return
        failed = []
        for name in names:
            self.stdout.write(f"{name}: downloading...")
            try:
                result = model_download(name=name, force=force)
            except DomainError as exc:
                self.stderr.write(self.style.ERROR(f"{name}: {exc.message}"))
                failed.append(name)
                continue
            self.stdout.write(self.style.SUCCESS(f"{name}: {result['path']} ({result['bytes']} bytes)"))
        if failed:
            raise CommandError(f"could not download: {', '.join(failed)}")
