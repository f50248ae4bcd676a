"""manage.py modelzoo list | check [NAME] | test NAME: what the model zoo holds here.

- ``list``: every entry with its runtime, whether its weights are here, their checksum
  state, licence and the configuration file it comes from;
- ``check``: the configuration, then each model's files (a checksum that fails, an ONNX
  file whose inputs or outputs do not match its entry); exit 1 on any fault;
- ``test NAME``: load the model, run it on a sample picture (or ``--image``), print the
  timings and the output's shape.
"""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from core.commands import write_json
from core.errors import DomainError
from modelzoo import registry
from modelzoo.checks import entry_problems
from modelzoo.registry import all_models, get_model
from modelzoo.selectors import model_as_dict, modelzoo_list
from modelzoo.services import model_test


class Command(BaseCommand):
    help = (
        "The model zoo on this machine. list: every model, its weights and checksum state; check [NAME]: the configuration "
        "and each model's files (exit 1 on a fault); test NAME: load it, run it on a sample picture, print timings and output shape."
    )

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="action", required=True, metavar="list|check|test")
        listing = sub.add_parser("list", help="Every model and the state of its weights")
        listing.add_argument("--json", action="store_true")
        check = sub.add_parser("check", help="Check the configuration and the models' files")
        check.add_argument("name", nargs="?", metavar="NAME", help="Only this model")
        check.add_argument("--json", action="store_true")
        test = sub.add_parser("test", help="Load a model and run it on a picture")
        test.add_argument("name", metavar="NAME")
        test.add_argument("--image", metavar="FILE", help="Run on this picture instead of the sample one")
        test.add_argument("--runs", type=int, default=3, help="Forward passes to time (default 3)")
        test.add_argument("--json", action="store_true")

    def handle(self, *args, action: str, **options):
        getattr(self, f"_{action}")(**options)

    def _list(self, *, json: bool, **options):
        models = modelzoo_list()
        if json:
            write_json(self.stdout, models)
            return
        self.stdout.write(f"{'name':34} {'kind':9} {'runtime':11} {'weights':8} {'checksum':9} licence / configuration file")
        for m in models:
            present = self.style.SUCCESS("present ") if m["weights_present"] else self.style.WARNING("missing ")
            self.stdout.write(f"{m['name']:34} {m['type']:9} {m['runtime']:11} {present} {m['checksum']:9} {m['licence'][:60]}  [{m['config_file']}]")

    def _check(self, *, name: str | None, json: bool, **options):
        if registry.CONFIG_ERROR is not None:
            if json:
                write_json(self.stdout, {"config_error": str(registry.CONFIG_ERROR), "models": []})
            raise CommandError(f"Configuration: {registry.CONFIG_ERROR}")
        try:
            specs = [get_model(name)] if name else all_models()
        except DomainError as exc:
            raise CommandError(exc.message) from None
        rows = []
        for spec in specs:
            status = model_as_dict(spec)
            rows.append({"name": spec.name, "weights_present": status["weights_present"], "checksum": status["checksum"], "problems": entry_problems(spec)})
        faults = [row for row in rows if row["problems"]]
        if json:
            write_json(self.stdout, {"config_error": None, "files": registry.CONFIG_FILES, "models": rows})
        else:
            self.stdout.write(f"Configuration: {', '.join(registry.CONFIG_FILES)}: {len(registry.MODELS)} models.")
            for row in rows:
                state = "ok" if not row["problems"] else "FAULT"
                weights = "weights present" if row["weights_present"] else "weights missing"
                line = f"{row['name']:34} {state:6} {weights}, checksum {row['checksum']}"
                self.stdout.write(self.style.ERROR(line) if row["problems"] else line)
                for problem in row["problems"]:
                    self.stdout.write(f"    {problem}")
        if faults:
            raise CommandError(f"{len(faults)} model(s) with a fault: {', '.join(row['name'] for row in faults)}")

    def _test(self, *, name: str, image: str | None, runs: int, json: bool, **options):
        try:
            result = model_test(name=name, image=image, runs=runs)
        except DomainError as exc:
            raise CommandError(exc.message) from None
        except OSError as exc:
            raise CommandError(f"Cannot read {image}: {exc}") from None
        if json:
            write_json(self.stdout, result)
            return
        self.stdout.write(
            f"{result['name']} ({result['type']}, {result['runtime']}) on {result['image']}: loaded in {result['load_ms']} ms; "
            f"first run {result['first_ms']} ms, then {result['mean_ms']} ms per run; output shape {tuple(result['output_shape'])}"
        )
        for d in result.get("detections", []):
            self.stdout.write(f"    {d['label']:20} {d['score']:.3f}  box {d['box']}")
