"""Celery tasks: thin; they take ids and call services."""

from __future__ import annotations

import logging
import smtplib

from celery import shared_task

from subscribers import services

logger = logging.getLogger(__name__)


@shared_task(
    autoretry_for=(smtplib.SMTPException, OSError),
    retry_backoff=30,
    retry_backoff_max=900,
    max_retries=8,
)
def send_confirmation(subscriber_id: int, topic_slugs: list[str]) -> None:
    services.deliver_confirmation(subscriber_id=subscriber_id, topic_slugs=topic_slugs)


@shared_task
def purge_expired_pending() -> int:
    purged = services.purge_expired_pending()
    if purged:
        logger.info("purged %d pending subscribers whose confirmation link expired", purged)
    return purged
