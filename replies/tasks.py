"""Celery tasks for replies (queue "inbound"): thin, they take ids and call services.

Named ``<job>_task`` so a task is never mistaken for the service it calls; services and the
decision loop enqueue them by these names after their commit (rundbrief.effects).
"""

from __future__ import annotations

from celery import shared_task
from django.conf import settings

from replies import services
from replies.models import ConversationEvent, InboundMessage, Message
from replies.services import collaboration


# A drain hands over to a fresh task after DRAIN_MAX_SECONDS; one that runs past the hard limit
# is stuck in one message: Celery kills its process, the claim counts against the message
# (INBOUND_MAX_ATTEMPTS), and the sweeper's next drain goes on without it.
@shared_task(time_limit=settings.INBOUND_TASK_TIME_LIMIT_SECONDS)
def drain_inbound_task() -> int:
    """Process every received message, in batches (queued by storing, see services.schedule_drain)."""
    return services.drain_inbound()


@shared_task(time_limit=settings.INBOUND_TASK_TIME_LIMIT_SECONDS)
def requeue_stale_inbound_task() -> int:
    return services.requeue_stale_inbound()


@shared_task
def notify_assignee_task(message_id: int) -> bool:
    message = Message.objects.select_related("conversation__assignee").filter(pk=message_id).first()
    if message is not None:
        collaboration.notify_followers(message=message)  # who follows the conversation hears of it too
    return bool(message) and services.notify_assignee(message=message)


@shared_task
def notify_mentioned_task(event_id: int) -> int:
    event = ConversationEvent.objects.select_related("conversation", "actor").filter(pk=event_id).first()
    return collaboration.notify_mentioned(event=event) if event else 0


@shared_task
def notify_reassigned_task(event_id: int) -> bool:
    event = (
        ConversationEvent.objects.select_related("conversation", "assignee", "actor")
        .filter(pk=event_id)
        .first()
    )
    return bool(event) and services.notify_reassigned(event=event)


@shared_task
def send_unsubscribe_confirmation_task(subscriber_id: int, inbound_id: int | None = None) -> bool:
    inbound = InboundMessage.objects.filter(pk=inbound_id).first() if inbound_id else None
    return services.send_unsubscribe_confirmation(subscriber_id=subscriber_id, inbound=inbound)


@shared_task
def send_staff_answer_task(message_id: int) -> str:
    """Send one queued answer (see services.send_staff_answer); after a temporary failure the
    next try is this task again, with a countdown. A duplicate run sends nothing."""
    outcome = services.send_staff_answer(message_id=message_id)
    if outcome.retry_in is not None:
        send_staff_answer_task.apply_async((message_id,), countdown=outcome.retry_in)
    return outcome.status


@shared_task
def requeue_stuck_staff_answers_task() -> int:
    return services.requeue_stuck_staff_answers()
