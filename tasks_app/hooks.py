"""What the tasks app lets the apps above it do, without importing them (see core/hooks.py)."""

from __future__ import annotations

from core.hooks import Hook

task_runs_pruned = Hook(
    "task_runs_pruned",
    "Called with ``runs=[{pk, task_id, name, result}, ...]`` just before those finished runs are "
    "deleted for their age: the app whose task wrote files (a batch report) removes them.",
)
