"""Counters every process can bump, kept in the shared cache (Redis in production).

The send worker counts what each `send_deliveries_task` reports (sent, failed); /metrics exposes
the totals as Prometheus counters, so `rate(rundbrief_deliveries_sent_total[5m])` is the send
rate of all workers on all hosts. One cache round trip per task of up to SEND_BATCH_SIZE
mails; nothing on the send path itself. Celery's publishing also stamps each task message
with the time it was queued, for the age of the oldest waiting task (rundbrief.monitoring).

Imported by rundbrief/celery.py before Django's apps are loaded: no model imports here.
"""

from __future__ import annotations

import logging
import time

from django.core.cache import cache

logger = logging.getLogger(__name__)

PREFIX = "rundbrief:counter:"
DELIVERIES_SENT = "deliveries_sent"
DELIVERIES_FAILED = "deliveries_failed"
PUBLISHED_AT_HEADER = "rundbrief_published_at"
SEND_TASK = "campaigns.tasks.send_deliveries_task"


def add(name: str, amount: int) -> None:
    if amount <= 0:
        return
    key = PREFIX + name
    try:
        cache.add(key, 0, timeout=None)
        cache.incr(key, amount)
    except Exception:  # noqa: BLE001 - a metric must never fail the work it counts
        logger.warning("could not count %s", name, exc_info=True)


def read(names: list[str]) -> dict[str, int]:
    values = cache.get_many([PREFIX + name for name in names])
    return {name: int(values.get(PREFIX + name) or 0) for name in names}


def count_task_result(sender=None, result=None, **kwargs) -> None:
    """Celery task_success: the send task returns {"sent": n, "failed": n, "retry": n}."""
    if getattr(sender, "name", None) != SEND_TASK or not isinstance(result, dict):
        return
    for field, name in (("sent", DELIVERIES_SENT), ("failed", DELIVERIES_FAILED)):
        value = result.get(field)
        if isinstance(value, int):
            add(name, value)


def stamp_published_at(headers=None, **kwargs) -> None:
    """Celery before_task_publish: when the message was queued (read back by /healthz, /metrics)."""
    if isinstance(headers, dict):
        headers.setdefault(PUBLISHED_AT_HEADER, time.time())
