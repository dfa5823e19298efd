"""Webhook tasks (queue `default`): thin, they take ids and call api.webhooks."""

from __future__ import annotations

from celery import shared_task

from api import webhooks


@shared_task(name="api.tasks.fan_out_event_task")
def fan_out_event_task(event: str, data: dict, occurred_at: str) -> int:
    return webhooks.fan_out(event=event, data=data, occurred_at=webhooks.parse_occurred_at(occurred_at))


@shared_task(name="api.tasks.fan_out_subscriber_events_task")
def fan_out_subscriber_events_task(
    event: str, subscriber_ids: list[int], data: dict, occurred_at: str
) -> int:
    return webhooks.fan_out_each(
        event=event,
        subscriber_ids=subscriber_ids,
        data=data,
        occurred_at=webhooks.parse_occurred_at(occurred_at),
    )


@shared_task(name="api.tasks.deliver_webhook_task", bind=True)
def deliver_webhook_task(self, delivery_id: int) -> str:
    attempt = webhooks.deliver(delivery_id=delivery_id)
    if attempt.retry_in is not None and not self.request.is_eager:
        deliver_webhook_task.apply_async((delivery_id,), countdown=attempt.retry_in)
    return attempt.status


@shared_task(name="api.tasks.requeue_lost_webhook_deliveries_task")
def requeue_lost_webhook_deliveries_task() -> int:
    return webhooks.requeue_lost_retries()
