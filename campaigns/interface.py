"""What the campaigns app offers the replies app: the only campaigns module replies imports.

Replies find the campaign mail an answer or a bounce is about (by its reply token or
Message-ID), read the campaign's topics for routing, and mark deliveries bounced; they do
not query campaigns' models or call its services for that (an import-linter contract in
pyproject.toml). The model classes are exported for type annotations and foreign keys.
"""

from __future__ import annotations

from collections.abc import Iterable

from django.db.models import QuerySet
from django.utils import timezone

from campaigns.models import Campaign, Delivery

__all__ = [
    "Campaign",
    "Delivery",
    "campaign_topic_ids",
    "deliveries_by_message_id",
    "deliveries_by_reply_token",
    "deliveries_quoted",
    "delivery_by_reply_token",
    "deliveries_of_subscriber",
    "campaign_ids_named",
    "mark_bounced",
    "mark_complained",
    "was_mailed",
]


def _deliveries() -> QuerySet[Delivery]:
    """With what matching, threading and routing read: the subscriber, the campaign, its contact
    person and their staff profile (the replies app's relation, for the display name)."""
    return Delivery.objects.select_related("subscriber", "campaign__contact__staff_profile")


def deliveries_by_reply_token(tokens: Iterable[str]) -> dict[str, Delivery]:
    tokens = set(tokens)
    if not tokens:
        return {}
    return {d.reply_token: d for d in _deliveries().filter(reply_token__in=tokens)}


def delivery_by_reply_token(token: str) -> Delivery | None:
    return _deliveries().filter(reply_token=token).first()


def deliveries_by_message_id(message_ids: Iterable[str]) -> dict[str, Delivery]:
    message_ids = set(message_ids)
    if not message_ids:
        return {}
    return {d.message_id: d for d in _deliveries().filter(message_id__in=message_ids)}


def deliveries_quoted(*, tokens: Iterable[str], message_ids: Iterable[str]) -> list[Delivery]:
    """Deliveries named by any of these reply tokens or Message-IDs (quoted in a returned original)."""
    tokens, message_ids = set(tokens), set(message_ids)
    if not tokens and not message_ids:
        return []
    found = Delivery.objects.filter(reply_token__in=tokens) | Delivery.objects.filter(
        message_id__in=message_ids
    )
    return list(found.select_related("subscriber", "campaign"))


def was_mailed(subscriber_id: int) -> bool:
    """Whether we ever handed campaign mail to this subscriber over (a bounce can only be about such)."""
    handed_over = [Delivery.Status.SENT, Delivery.Status.BOUNCED, Delivery.Status.COMPLAINED]
    return Delivery.objects.filter(subscriber_id=subscriber_id, status__in=handed_over).exists()


def mark_bounced(delivery_ids: Iterable[int]) -> int:
    """A bounce came back for these deliveries (a DSN by mail; tracking webhooks record their own)."""
    return Delivery.objects.filter(pk__in=list(delivery_ids)).update(
        status=Delivery.Status.BOUNCED, updated_at=timezone.now()
    )


def mark_complained(delivery_ids: Iterable[int]) -> int:
    """A spam complaint came back for these deliveries (an ARF report or ESP notice by mail)."""
    return Delivery.objects.filter(pk__in=list(delivery_ids)).update(
        status=Delivery.Status.COMPLAINED, updated_at=timezone.now()
    )


def campaign_topic_ids(campaign_id: int) -> list[int]:
    return list(
        Campaign.topics.through.objects.filter(campaign_id=campaign_id).values_list("topic_id", flat=True)
    )


def deliveries_of_subscriber(subscriber_id: int, limit: int = 20) -> list[Delivery]:
    """The campaigns one subscriber was sent, newest first (the inbox's customer history)."""
    return list(
        Delivery.objects.filter(subscriber_id=subscriber_id)
        .select_related("campaign")
        .order_by("-id")[:limit]
    )


def campaign_ids_named(text: str, limit: int = 200) -> list[int]:
    """Campaigns whose name contains the text (the inbox search; a small table)."""
    return list(Campaign.objects.filter(name__icontains=text).values_list("pk", flat=True)[:limit])
