"""Reads for the API and its management pages (other apps' rows are only read here, never written)."""

from __future__ import annotations

from django.db.models import Q, QuerySet

from api.models import ApiKey, ApiWrite, WebhookDelivery, WebhookEndpoint
from campaigns.models import Campaign
from replies.models import Conversation
from subscribers.models import (
    Attribute,
    ImportJob,
    Segment,
    Subscriber,
    Suppression,
    Topic,
    email_hash,
    normalise_email,
)


def keys() -> QuerySet[ApiKey]:
    return ApiKey.objects.select_related("created_by").order_by("-created_at")


def recent_writes(key: ApiKey, *, limit: int = 50) -> list[ApiWrite]:
    return list(key.writes.order_by("-created_at", "-id")[:limit])


def endpoints() -> QuerySet[WebhookEndpoint]:
    return WebhookEndpoint.objects.order_by("-created_at")


def delivery_log(endpoint: WebhookEndpoint, *, limit: int = 100) -> list[WebhookDelivery]:
    return list(endpoint.deliveries.order_by("-created_at", "-id")[:limit])


def endpoints_for(event: str) -> list[WebhookEndpoint]:
    """Active endpoints subscribed to this event (the list is small: filtered in Python, any database)."""
    return [
        endpoint for endpoint in WebhookEndpoint.objects.filter(is_active=True) if event in endpoint.events
    ]


def topics() -> QuerySet[Topic]:
    return Topic.objects.order_by("pk")


def live_topics() -> QuerySet[Topic]:
    """Topics that can still be subscribed to (not archived)."""
    return topics().filter(archived_at__isnull=True)


def attributes() -> QuerySet[Attribute]:
    return Attribute.objects.order_by("key")


def segments() -> QuerySet[Segment]:
    return Segment.objects.all()


def import_jobs() -> QuerySet[ImportJob]:
    return ImportJob.objects.select_related("topic").defer("data")


def subscribers(
    *, email: str | None = None, q: str | None = None, status: str | None = None, topic: str | None = None
) -> QuerySet[Subscriber]:
    rows = Subscriber.objects.all()
    if email:
        rows = rows.filter(email__iexact=normalise_email(email))
    if q:
        rows = rows.filter(Q(email__icontains=q) | Q(name__icontains=q))
    if status:
        rows = rows.filter(status=status)
    if topic:
        rows = rows.filter(subscriptions__topic__slug=topic).exclude(subscriptions__status="unsubscribed")
    return rows.prefetch_related("subscriptions__topic").distinct()


def subscriber(pk: int) -> Subscriber | None:
    return Subscriber.objects.filter(pk=pk).prefetch_related("subscriptions__topic").first()


def subscribers_by_id(ids: list[int]) -> QuerySet[Subscriber]:
    return Subscriber.objects.filter(pk__in=ids).prefetch_related("subscriptions__topic")


def campaigns(*, status: str | None = None) -> QuerySet[Campaign]:
    rows = Campaign.objects.prefetch_related("topics")
    return rows.filter(status=status) if status else rows


def campaign(pk: int) -> Campaign | None:
    return Campaign.objects.filter(pk=pk).prefetch_related("topics").select_related("contact").first()


def conversations(*, status: str | None = None, assignee_id: int | None = None) -> QuerySet[Conversation]:
    rows = Conversation.objects.select_related("assignee")
    if status:
        rows = rows.filter(status=status)
    if assignee_id is not None:
        rows = rows.filter(assignee_id=assignee_id)
    return rows


def conversation(pk: int) -> Conversation | None:
    return Conversation.objects.filter(pk=pk).select_related("assignee", "subscriber").first()


def suppressions(*, reason: str | None = None) -> QuerySet[Suppression]:
    rows = Suppression.objects.all()
    return rows.filter(reason=reason) if reason else rows


def suppression_reason(email: str) -> str | None:
    return Suppression.objects.filter(email_hash=email_hash(email)).values_list("reason", flat=True).first()
