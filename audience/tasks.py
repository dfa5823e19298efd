"""Celery tasks of the audience desk: thin; they take ids and call the module that does the work."""

from __future__ import annotations

from celery import shared_task

from audience import imports


@shared_task(name="audience.tasks.run_import_task")
def run_import_task(job_id: int) -> None:
    imports.run(job_id=job_id)


@shared_task(name="audience.tasks.purge_import_drafts_task")
def purge_import_drafts_task() -> int:
    return imports.purge_drafts()
