"""Celery tasks: thin; they take ids and call services."""

from __future__ import annotations

import logging
import smtplib

from celery import shared_task
from django.db import OperationalError

from subscribers import services

logger = logging.getLogger(__name__)

# Mail hand-over can fail for a while (relay down): retry with backoff, for about two hours.
MAIL_RETRY = {
    "autoretry_for": (smtplib.SMTPException, OSError),
    "retry_backoff": 30,
    "retry_backoff_max": 900,
    "max_retries": 8,
}


@shared_task(**MAIL_RETRY)
def send_confirmation(subscriber_id: int, topic_slugs: list[str], request_mark: int | None = None) -> None:
    services.deliver_confirmation(
        subscriber_id=subscriber_id, topic_slugs=topic_slugs, request_mark=request_mark
    )


@shared_task(autoretry_for=(OperationalError,), retry_backoff=5, retry_backoff_max=300, max_retries=20)
def process_subscription_request(**request) -> None:
    """A signup from the page or the API, accepted and answered already (see the service)."""
    if not services.handle_subscription_request(**request):
        logger.warning("signup request dropped: its topics or consent text were deleted meanwhile")


@shared_task
def send_due_confirmations() -> int:
    return services.send_due_confirmations()


@shared_task(**MAIL_RETRY)
def send_preferences_link(subscriber_id: int) -> None:
    services.deliver_preferences_link(subscriber_id=subscriber_id)


@shared_task(**MAIL_RETRY)
def send_data_link(subscriber_id: int, action: str) -> None:
    services.deliver_data_link(subscriber_id=subscriber_id, action=action)


@shared_task
def purge_expired_pending() -> int:
    purged = services.purge_expired_pending()
    if purged:
        logger.info("purged %d pending subscribers whose confirmation link expired", purged)
    return purged
