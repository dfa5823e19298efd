"""Celery tasks: thin, they take ids and call services. Routed to the "send" queue.

Named ``<job>_task`` so a task is never mistaken for the service it calls; services enqueue
them by these names after their commit (rundbrief.effects).
"""

from __future__ import annotations

from celery import shared_task

from campaigns import abtest, services
from campaigns.sending.loop import send_deliveries


@shared_task
def queue_deliveries_task(campaign_id: int) -> int:
    return services.queue_deliveries(campaign_id=campaign_id)


@shared_task
def send_deliveries_task(campaign_id: int, delivery_ids: list[int]) -> dict:
    result = send_deliveries(campaign_id=campaign_id, delivery_ids=delivery_ids)
    if result.retry_ids:
        # A short backoff ETA is fine; anything lost is picked up by recover_stalled_sends.
        send_deliveries_task.apply_async((campaign_id, result.retry_ids), countdown=result.retry_in)
    return {"sent": result.sent, "failed": result.failed, "retry": len(result.retry_ids)}


@shared_task
def start_due_campaigns_task() -> int:
    return services.start_due_campaigns()


@shared_task
def recover_stalled_sends_task() -> int:
    return services.recover_stalled_sends()


@shared_task
def decide_due_ab_tests_task() -> int:
    return abtest.decide_due()
