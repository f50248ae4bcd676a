"""Progress reporting for long work: one interface, whoever is watching.

Services that run for a while (building an index, ingesting a folder, downloading
weights) take an optional ``reporter`` and call it as ``reporter(current, total,
message)``. They never know who listens:

- :class:`ProgressReporter` logs (at most every ``log_every`` seconds) and keeps the
  last report, for management commands and tests; subclasses override ``emit``
  (``tasks_app.progress.CeleryTaskReporter`` turns reports into task state and
  websocket events);
- :func:`as_reporter` turns ``None`` into a silent reporter, so services can call it
  unconditionally.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any, Protocol

logger = logging.getLogger(__name__)


class Reporter(Protocol):
    def __call__(self, current: int, total: int, message: str = "") -> None: ...


@dataclass(frozen=True)
class Progress:
    current: int
    total: int
    message: str = ""

    @property
    def fraction(self) -> float:
        return min(1.0, self.current / self.total) if self.total > 0 else 0.0

    def as_dict(self) -> dict[str, Any]:
        return {"current": self.current, "total": self.total, "message": self.message, "fraction": round(self.fraction, 4)}


class ProgressReporter:
    """Keeps the last report and logs progress now and then (always the first and the
    final one).

    Subclasses override :meth:`emit`, which sees every report.
    """

    def __init__(self, name: str = "", *, log: logging.Logger | None = None, log_every: float = 5.0):
        self.name = name
        self.log = log or logger
        self.log_every = log_every
        self.last: Progress | None = None
        self.count = 0
        self._logged_at: float | None = None

    def __call__(self, current: int, total: int, message: str = "") -> None:
        progress = Progress(int(current), int(total), str(message))
        self.last = progress
        self.count += 1
        now = time.monotonic()
        if self._logged_at is None or now - self._logged_at >= self.log_every or progress.current >= progress.total:
            self._logged_at = now
            self.log.info("%s%d/%d %s", f"{self.name}: " if self.name else "", progress.current, progress.total, progress.message)
        self.emit(progress)

    def emit(self, progress: Progress) -> None:
        """Hook for subclasses; the base only logs."""


class NullReporter(ProgressReporter):
    """Stores the last report, says nothing."""

    def __call__(self, current: int, total: int, message: str = "") -> None:
        self.last = Progress(int(current), int(total), str(message))
        self.count += 1


def as_reporter(reporter: Reporter | None) -> Reporter:
    return reporter if reporter is not None else NullReporter()
