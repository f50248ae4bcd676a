"""Progress of Celery tasks: reports become the task's ``PROGRESS`` state and websocket
events.

:class:`CeleryTaskReporter` is the :class:`core.progress.ProgressReporter` of a running
Celery task (also of an inline task run by ``tasks_app.queue``): it records each report
as the task's state and hands it to ``tasks_app.services.task_run_report_progress``, the one
place where progress becomes a websocket message (and where a requested cancel is raised as
``TaskCancelled``, so the task stops at its next report).
"""

from __future__ import annotations

from core.progress import Progress, ProgressReporter


class CeleryTaskReporter(ProgressReporter):
    """Reporter of a running Celery task (also of an inline task run by tasks_app.queue)."""

    def __init__(self, task, *, log_every: float = 5.0):
        super().__init__(getattr(task, "name", ""), log_every=log_every)
        self.task = task

    @property
    def task_id(self) -> str | None:
        request = getattr(self.task, "request", None)
        return getattr(request, "id", None)

    def emit(self, progress: Progress) -> None:
        task_id = self.task_id
        if task_id:
            try:
                self.task.update_state(task_id=task_id, state="PROGRESS", meta=progress.as_dict())
            except Exception:  # a result backend hiccup must not fail the work itself
                self.log.warning("could not store progress of task %s", task_id, exc_info=True)
        broadcast(task_id, progress)


def broadcast(task_id: str | None, progress: Progress) -> None:
    """Hand a report to the task's row and its websocket event
    (``tasks_app.services.task_run_report_progress``). A report outside any task (a
    management command) goes nowhere.

    Exceptions propagate on purpose: ``TaskCancelled`` stops the task.
    """
    if not task_id:
        return
    from tasks_app.services import task_run_report_progress  # needs the app registry, which is ready once a task runs

    task_run_report_progress(task_id=task_id, current=progress.current, total=progress.total, message=progress.message)
