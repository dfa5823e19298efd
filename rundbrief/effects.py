"""Work announced for after the commit: a Celery task, by its registered name, enqueued on commit.

Services and the inbound decision loop say what should happen once their transaction has
committed (send this answer, notify that person, drain the inbound queue) with an ``Enqueue``;
they never import a tasks module, which imports them (tasks -> services -> effects: no cycle).
Tasks are looked up in Celery's registry by name; each app's AppConfig.ready() imports its
tasks module, so every process (web, worker, management command) knows them.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from celery import Task
from django.db import transaction

from rundbrief.celery import app

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Enqueue:
    task: str  # the registered name, e.g. "replies.tasks.notify_assignee_task"
    args: tuple = ()
    countdown: float | None = None
    # A sweeper finds this work again if the broker cannot take it now: log instead of raising.
    best_effort: bool = False


def task(name: str) -> Task:
    """A registered task (KeyError for a name no tasks module defines)."""
    return app.tasks[name]


def runs_eagerly() -> bool:
    """Eager tasks (tests, CELERY_TASK_ALWAYS_EAGER) run in the caller's process at once."""
    return bool(app.conf.task_always_eager)


def enqueue(effect: Enqueue) -> None:
    """Enqueue now (the caller has committed, or there is nothing to wait for)."""
    try:
        task(effect.task).apply_async(effect.args, countdown=effect.countdown)
    except Exception:
        if not effect.best_effort:
            raise
        logger.exception("could not enqueue %s%r; its sweeper will retry", effect.task, effect.args)


def after_commit(*effects: Enqueue) -> None:
    """Enqueue each effect once the current transaction commits (at once outside one)."""
    for effect in effects:
        transaction.on_commit(lambda effect=effect: enqueue(effect))
