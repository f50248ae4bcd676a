"""What the operator commands share: a progress bar that is a progress ``Reporter``
(so a command hands it to the service it wraps), and JSON output for scripts.

Exit codes of the commands built on these: 0 done, 1 the work failed or its input was
wrong (Django's CommandError, with the reason on stderr), 2 a usage error (argparse).
"""

from __future__ import annotations

import json
from typing import Any

from tqdm import tqdm


def raw_stream(wrapper):
    """The stream under Django's OutputWrapper: tqdm redraws with "\\r", and the wrapper
    would add a newline to each write."""
    return getattr(wrapper, "_out", wrapper)


class ProgressBar:
    """A tqdm bar on the command's stderr, fed as ``bar(current, total, message)``;
    silent when ``enabled`` is false (``--json``, ``--no-progress``, verbosity 0)."""

    def __init__(self, stderr, desc: str, *, enabled: bool = True, unit: str = "item"):
        self.bar = tqdm(desc=desc, unit=unit, file=raw_stream(stderr), disable=not enabled, dynamic_ncols=True)

    def __call__(self, current: int, total: int, message: str = "") -> None:
        if total and self.bar.total != total:
            self.bar.total = total
        self.bar.n = current
        self.bar.set_postfix_str(message[:60], refresh=False)
        self.bar.refresh()

    def __enter__(self) -> ProgressBar:
        return self

    def __exit__(self, *exc) -> None:
        self.bar.close()


def write_json(stdout, data: Any) -> None:
    """``data`` as one JSON document on stdout (non-JSON values as strings)."""
    stdout.write(json.dumps(data, indent=2, sort_keys=True, default=str))
