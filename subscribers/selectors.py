"""Reads on the subscriber side."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from django.db.models import Q, QuerySet
from django.db.models.functions import Coalesce
from django.utils import timezone

from subscribers.models import (
    Bounce,
    ConsentEvent,
    ConsentText,
    Subscriber,
    Subscription,
    Suppression,
    Topic,
    email_hash,
)
from subscribers.tokens import TokenPayload


class NoConsentText(LookupError):
    """No consent wording is published: signup cannot record what people agree to."""


def is_suppressed(email: str) -> bool:
    """True if the address must not be mailed (unsubscribed, erased, bounced, complained)."""
    return Suppression.objects.filter(email_hash=email_hash(email)).exists()


def current_consent_text(language: str) -> ConsentText:
    """The newest published wording in this language (else the newest in any language)."""
    text = ConsentText.objects.filter(language=language).first() or ConsentText.objects.first()
    if text is None:
        raise NoConsentText(
            "No consent text is published; add one in the admin (Subscribers › Consent texts)."
        )
    return text


def consent_text(*, version: str, language: str) -> ConsentText | None:
    return ConsentText.objects.filter(version=version, language=language).first()


def public_topics() -> QuerySet[Topic]:
    """Offered on the signup page and in the API: public and not archived."""
    return Topic.objects.filter(is_public=True, archived_at__isnull=True).order_by("name")


def public_topics_by_slug(slugs: Iterable[str]) -> tuple[list[Topic], list[str]]:
    """The public topics for these slugs, and the slugs that name no public topic."""
    wanted = list(dict.fromkeys(slugs))
    found = {topic.slug: topic for topic in public_topics().filter(slug__in=wanted)}
    return [found[slug] for slug in wanted if slug in found], [slug for slug in wanted if slug not in found]


def preference_topics(subscriber: Subscriber) -> QuerySet[Topic]:
    """What the preference centre offers: public topics plus any the subscriber already has."""
    return Topic.objects.filter(
        Q(is_public=True, archived_at__isnull=True) | Q(pk__in=subscriber.subscriptions.values("topic_id"))
    ).order_by("name")


def subscriptions(subscriber: Subscriber) -> QuerySet[Subscription]:
    return subscriber.subscriptions.select_related("topic").order_by("topic__name")


def consent_history(subscriber: Subscriber) -> QuerySet[ConsentEvent]:
    return subscriber.consent_events.order_by("created_at", "id")


EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
MICROSECOND = timedelta(microseconds=1)


def request_mark(moment: datetime) -> int:
    """An opt-in request's time as a whole number for a confirmation link (microseconds)."""
    return (moment - EPOCH) // MICROSECOND


def link_request_limit(payload: TokenPayload) -> datetime:
    """The newest opt-in request a confirmation link was sent for.

    Links from before the request mark existed: requests made up to the second after the
    link was signed (the signature's time has whole seconds).
    """
    if payload.request_mark is not None:
        return EPOCH + payload.request_mark * MICROSECOND
    return payload.issued_at + timedelta(seconds=1)


@dataclass(frozen=True)
class Confirmable:
    subscriptions: QuerySet[Subscription]
    outdated: bool  # something waits, but for a later request than the link's


def confirmable(
    subscriber: Subscriber, *, topic_slugs: Sequence[str], requested_until: datetime
) -> Confirmable:
    """The pending subscriptions a confirmation link may confirm (see services.optin.confirm)."""
    pending = subscriber.subscriptions.filter(status=Subscription.Status.PENDING).annotate(
        requested=Coalesce("requested_at", "created_at")
    )
    if topic_slugs:
        pending = pending.filter(topic__slug__in=topic_slugs)
    later_opt_out = Suppression.objects.filter(
        email_hash=subscriber.email_hash, created_at__gt=requested_until
    ).exists()
    if later_opt_out:
        return Confirmable(subscriptions=pending.none(), outdated=pending.exists())
    mine = pending.filter(requested__lte=requested_until)
    return Confirmable(subscriptions=mine, outdated=not mine.exists() and pending.exists())


def _iso(value) -> str | None:
    return value.isoformat() if value else None


def subscriber_export(subscriber: Subscriber) -> dict:
    """Everything stored about the subscriber, as JSON-ready data (the preference centre download)."""
    return {
        "exported_at": timezone.now().isoformat(),
        "subscriber": {
            "email": subscriber.email,
            "name": subscriber.name,
            "language": subscriber.language,
            "status": subscriber.status,
            "frequency": subscriber.frequency,
            "frequency_limit": subscriber.frequency_limit,
            "paused_until": _iso(subscriber.paused_until),
            "format": subscriber.format,
            "created_at": _iso(subscriber.created_at),
            "updated_at": _iso(subscriber.updated_at),
            "confirmed_at": _iso(subscriber.confirmed_at),
            "unsubscribed_at": _iso(subscriber.unsubscribed_at),
            "last_confirmation_sent_at": _iso(subscriber.last_confirmation_sent_at),
            "attributes": subscriber.attributes,
        },
        "subscriptions": [
            {
                "topic": subscription.topic.slug,
                "topic_name": subscription.topic.name,
                "status": subscription.status,
                "created_at": _iso(subscription.created_at),
                "confirmed_at": _iso(subscription.confirmed_at),
                "unsubscribed_at": _iso(subscription.unsubscribed_at),
            }
            for subscription in subscriptions(subscriber)
        ],
        "consent_history": [
            {
                "kind": event.kind,
                "source": event.source,
                "created_at": _iso(event.created_at),
                "ip_address": event.ip_address,
                "user_agent": event.user_agent,
                "topics": event.topics,
                "consent_text": event.consent_text,
                "consent_text_version": event.consent_text_version,
                "details": event.details,
            }
            for event in consent_history(subscriber)
        ],
        "on_suppression_list": is_suppressed(subscriber.email),
    }


@dataclass(frozen=True)
class SuppressionRow:
    """One line of the managers' suppression list: who (if still known), why, and can it be lifted."""

    suppression: Suppression
    subscriber: Subscriber | None
    bounces: list[Bounce]
    liftable: bool


def suppression_list(*, reasons: Sequence[str] = (), limit: int = 200) -> list[SuppressionRow]:
    """The newest suppressions first, each with its subscriber and the bounces that led to it."""
    rows = Suppression.objects.order_by("-created_at", "-id")
    if reasons:
        rows = rows.filter(reason__in=reasons)
    suppressions = list(rows[:limit])
    hashes = [s.email_hash for s in suppressions]
    subscribers = {s.email_hash: s for s in Subscriber.objects.filter(email_hash__in=hashes)}
    bounces: dict[str, list[Bounce]] = {}
    for bounce in Bounce.objects.filter(address_hash__in=hashes).order_by("-received_at", "-id")[: limit * 5]:
        bounces.setdefault(bounce.address_hash, []).append(bounce)
    return [
        SuppressionRow(
            suppression=s,
            subscriber=subscribers.get(s.email_hash),
            bounces=bounces.get(s.email_hash, [])[:5],
            liftable=s.liftable,
        )
        for s in suppressions
    ]


def unattributed_bounces(*, limit: int = 50) -> QuerySet[Bounce]:
    """Bounces for addresses that are no subscriber's: kept and shown, they suppressed nothing."""
    return Bounce.objects.filter(subscriber__isnull=True).order_by("-received_at", "-id")[:limit]


def subscriber_bounces(subscriber: Subscriber, *, limit: int = 50) -> QuerySet[Bounce]:
    return Bounce.objects.filter(subscriber=subscriber).order_by("-received_at", "-id")[:limit]
