"""Celery tasks: thin, they take ids and call services. Routed to the "send" queue."""

from __future__ import annotations

from celery import shared_task

from campaigns import sending, services


@shared_task
def queue_deliveries(campaign_id: int) -> int:
    return services.queue_deliveries(campaign_id=campaign_id)


@shared_task
def send_batch(campaign_id: int, delivery_ids: list[int]) -> dict:
    result = sending.send_deliveries(campaign_id=campaign_id, delivery_ids=delivery_ids)
    if result.retry_ids:
        # A short backoff ETA is fine; anything lost is picked up by recover_stalled_sends.
        send_batch.apply_async((campaign_id, result.retry_ids), countdown=result.retry_in)
    return {"sent": result.sent, "failed": result.failed, "retry": len(result.retry_ids)}


@shared_task
def start_due_campaigns() -> int:
    return services.start_due_campaigns()


@shared_task
def recover_stalled_sends() -> int:
    return services.recover_stalled_sends()
