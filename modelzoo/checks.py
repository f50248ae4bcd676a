"""``manage.py check`` for the model zoo: the configuration, and what only the files can
tell (a pinned checksum, an ONNX file's inputs and outputs against its entry)."""

from __future__ import annotations

from django.core import checks

from core.errors import DomainError


def entry_problems(spec) -> list[str]:
    """What is wrong with one entry's files here, as sentences (empty: nothing found).
    Missing weights are not a fault here: they may be fetched or copied later."""
    from .weights import checksum_state, weights_status

    status = weights_status(spec)
    if not status.present:
        return []
    problems = []
    if checksum_state(spec, status) == "mismatch":
        problems.append(f"the weights file {status.path} does not have the pinned sha256 {spec.sha256}.")
    elif getattr(spec, "runtime", "") == "onnx":
        from .onnx_runtime import onnx_session

        try:
            onnx_session(spec, status.path)
        except DomainError as exc:
            problems.append(exc.message)
    return problems


@checks.register("modelzoo")
def check_modelzoo(app_configs=None, **kwargs) -> list[checks.CheckMessage]:
    from . import registry

    if registry.CONFIG_ERROR is not None:
        return [checks.Error(str(registry.CONFIG_ERROR), hint="Nothing of that file is used until it is fixed.", id="modelzoo.E001")]
    messages: list[checks.CheckMessage] = []
    for spec in registry.all_models():
        for problem in entry_problems(spec):
            messages.append(checks.Error(f"model {spec.name!r} ({spec.source_file}): {problem}", id="modelzoo.E002"))
    return messages
