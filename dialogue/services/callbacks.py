"""Call-back requests: a phone number and a time window, stored only on that conversation.

The number is deleted CALLBACK_RETENTION_DAYS after the conversation was closed (a beat task),
and the subscriber is told so when they ask, on the page and in the request's message.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import Max, Q
from django.utils import timezone

from dialogue.models import CallbackRequest
from replies.interface import Conversation


def request_callback(*, conversation: Conversation, phone: str, window: str) -> CallbackRequest:
    return CallbackRequest.objects.create(
        conversation=conversation, phone=" ".join(phone.split()), window=" ".join(window.split())
    )


def purge_expired_callbacks(*, now: datetime | None = None) -> int:
    """Deletes the call-back requests of conversations closed more than the retention period ago.

    When a conversation closed is its latest "closed" event; a conversation reopened since (open
    or snoozed again) keeps its requests until it is closed again.
    """
    now = now or timezone.now()
    cutoff = now - timedelta(days=settings.CALLBACK_RETENTION_DAYS)
    closed_long_ago = (
        Conversation.objects.filter(status=Conversation.Status.CLOSED)
        .annotate(closed_at=Max("events__created_at", filter=Q(events__kind="closed")))
        .filter(closed_at__lte=cutoff)
    )
    deleted, _counts = CallbackRequest.objects.filter(conversation__in=closed_long_ago).delete()
    return deleted
