"""Call-back data is kept only while needed: deleted a set number of days after the conversation
closed (CALLBACK_RETENTION_DAYS, a beat task), and the subscriber is told so when they ask."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import Max, Q
from django.utils import timezone

from dialogue.models import CallbackRequest
from replies.interface import Conversation


def purge_expired_callbacks(*, now: datetime | None = None) -> int:
    """Deletes the call-back requests of conversations closed more than the retention period ago.

    When a conversation closed is its latest "closed" event; one reopened since (open or snoozed)
    keeps its requests until it is closed again.
    """
    now = now or timezone.now()
    cutoff = now - timedelta(days=settings.CALLBACK_RETENTION_DAYS)
    closed_long_ago = (
        Conversation.objects.filter(status=Conversation.Status.CLOSED)
        .annotate(closed_at=Max("events__created_at", filter=Q(events__kind="closed")))
        .filter(closed_at__lte=cutoff)
    )
    deleted, _counts = CallbackRequest.objects.filter(
        inbound__thread_message__conversation__in=closed_long_ago
    ).delete()
    return deleted
