"""Queue this app's Celery tasks by name, so that services need not import tasks.

Tasks import services (they are thin wrappers); services queue tasks. Looking the task up
in the Celery app's registry (filled by autodiscovery, rundbrief/celery.py) keeps that a
one-way import, and `.delay` still honours eager mode in tests.
"""

from __future__ import annotations

from celery import current_app

TASKS_MODULE = "subscribers.tasks"


def enqueue(task: str, *args, **kwargs) -> None:
    current_app.tasks[f"{TASKS_MODULE}.{task}"].delay(*args, **kwargs)
