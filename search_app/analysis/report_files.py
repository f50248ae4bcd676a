"""Who may read a batch search's report files through ``/files/``: the user who started
the run, and staff, as the API's report routes (``search/batch/<id>/report.*``) decide.
Registered into media_app's ``file_access`` hook by ``SearchAppConfig.ready()``."""

from __future__ import annotations

from media_app import hooks
from tasks_app.selectors import task_run_list

# Where batch.py stores a run's reports: reports/batch/<task id>/<token>-report.<fmt>.
BATCH_REPORTS = "reports/batch/"


def batch_report_readable(*, path: str, user) -> bool | None:
    """True or False for a batch report's path, None for any other path."""
    if not path.startswith(BATCH_REPORTS):
        return None
    task_id = path[len(BATCH_REPORTS) :].split("/", 1)[0]
    return bool(task_id) and task_run_list(user=user).filter(task_id=task_id).exists()


def register() -> None:
    hooks.file_access.register(batch_report_readable)
