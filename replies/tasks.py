"""Celery tasks for replies (queue "inbound"): thin, they take ids and call services."""

from __future__ import annotations

from celery import shared_task

from replies import services
from replies.models import ConversationEvent, InboundMessage, Message


@shared_task(name="replies.tasks.process_inbound")
def process_inbound(inbound_id: int) -> str:
    return services.process_inbound(inbound_id=inbound_id).status


@shared_task(name="replies.tasks.notify_assignee")
def notify_assignee(message_id: int) -> bool:
    message = Message.objects.select_related("conversation__assignee").filter(pk=message_id).first()
    return bool(message) and services.notify_assignee(message=message)


@shared_task(name="replies.tasks.notify_reassigned")
def notify_reassigned(event_id: int) -> bool:
    event = (
        ConversationEvent.objects.select_related("conversation", "assignee", "actor")
        .filter(pk=event_id)
        .first()
    )
    return bool(event) and services.notify_reassigned(event=event)


@shared_task(name="replies.tasks.send_unsubscribe_confirmation")
def send_unsubscribe_confirmation(subscriber_id: int, inbound_id: int | None = None) -> bool:
    inbound = InboundMessage.objects.filter(pk=inbound_id).first() if inbound_id else None
    return services.send_unsubscribe_confirmation(subscriber_id=subscriber_id, inbound=inbound)


@shared_task(name="replies.tasks.requeue_stale_inbound")
def requeue_stale_inbound() -> int:
    return services.requeue_stale_inbound()


@shared_task(name="replies.tasks.drain_inbound")
def drain_inbound() -> int:
    """Process every received message, in batches (queued by storing, see services.schedule_drain)."""
    return services.drain_inbound()


@shared_task(name="replies.tasks.send_staff_reply")
def send_staff_reply(message_id: int) -> str:
    """Send one stored answer (see services.deliver_staff_reply); after a temporary failure
    the next try is this task again, with a countdown. A duplicate run sends nothing."""
    outcome = services.deliver_staff_reply(message_id=message_id)
    if outcome.retry_in is not None:
        send_staff_reply.apply_async((message_id,), countdown=outcome.retry_in)
    return outcome.status


@shared_task(name="replies.tasks.requeue_stuck_staff_replies")
def requeue_stuck_staff_replies() -> int:
    return services.requeue_stuck_staff_replies()
