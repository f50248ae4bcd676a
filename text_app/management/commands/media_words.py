"""manage.py media_words: read the text on and label every stored picture not done yet."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from core.errors import DomainError


class Command(BaseCommand):
    help = "Read the text (OCR) on and label every stored image and video keyframe that is not done yet. Resumable: a rerun continues."

    def add_arguments(self, parser):
        parser.add_argument("--no-ocr", action="store_true", help="Labels only")
        parser.add_argument("--no-labels", action="store_true", help="Text only")
        parser.add_argument("--dry-run", action="store_true", help="Count what is left to do; change nothing")

    def handle(self, *args, **opts):
        from modelzoo.labels import label_model_name
        from text_app.services import media_words_run, pending_labels, pending_ocr

        ocr, labels = not opts["no_ocr"], not opts["no_labels"]
        if not ocr and not labels:
            raise CommandError("Nothing to do: --no-ocr and --no-labels together.")
        if opts["dry_run"]:
            self.stdout.write(
                f"text to read: {pending_ocr().count() if ocr else 0}, pictures to label: {pending_labels(label_model_name()).count() if labels else 0}"
            )
            return

        def report(current: int, total: int, message: str = "") -> None:
            if opts["verbosity"] > 0:
                self.stdout.write(f"\r{current}/{total} {message}", ending="")

        try:
            run = media_words_run(ocr=ocr, labels=labels, reporter=report)
        except DomainError as exc:
            raise CommandError(exc.message) from None
        self.stdout.write("")
        self.stdout.write(self.style.SUCCESS(f"read text on {run.ocr}, labelled {run.labelled}"))
