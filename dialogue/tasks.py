"""Celery tasks: thin; they take ids and call services."""

from __future__ import annotations

from celery import shared_task

from dialogue.services import callbacks, letters
from subscribers.tasks import MAIL_RETRY


@shared_task(**MAIL_RETRY)
def send_letter_request_task(letter_id: int) -> bool:
    return letters.deliver_letter_request(letter_id=letter_id)


@shared_task
def purge_callbacks_task() -> int:
    return callbacks.purge_expired_callbacks()
