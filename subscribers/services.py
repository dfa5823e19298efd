"""Writes on the subscriber side: every change to a subscriber goes through here.

Each function is keyword-only and records what it did in the append-only consent
proof (ConsentEvent), so that the history a subscriber sees is complete.
"""

from __future__ import annotations

from collections.abc import Sequence

from django.db import transaction
from django.utils import timezone

from subscribers.models import ConsentEvent, Subscriber, Subscription, Suppression, email_hash


def _check_source(source: str) -> None:
    # Callers in other apps pass plain strings: a typo must fail loudly, not end up in the proof.
    if source not in ConsentEvent.Source.values:
        raise ValueError(f"unknown consent source {source!r}; use one of {ConsentEvent.Source.values}")


def record_event(
    *,
    kind: str,
    source: str,
    subscriber: Subscriber | None = None,
    address_hash: str | None = None,
    topic_slugs: Sequence[str] = (),
    ip: str | None = None,
    user_agent: str = "",
    consent_text: str = "",
    consent_text_version: str = "",
    details: dict | None = None,
) -> ConsentEvent:
    """Append one entry to the consent proof (never updated, never deleted except by erasure)."""
    _check_source(source)
    if address_hash is None:
        if subscriber is None:
            raise ValueError("record_event needs a subscriber or an address hash")
        address_hash = subscriber.email_hash
    return ConsentEvent.objects.create(
        subscriber=subscriber,
        email_hash=address_hash,
        kind=kind,
        source=source,
        ip_address=ip or None,
        user_agent=user_agent[:1000],
        topics=sorted(topic_slugs),
        consent_text=consent_text,
        consent_text_version=consent_text_version,
        details=details or {},
    )


def unsubscribe(
    *,
    subscriber: Subscriber,
    topic_slugs: Sequence[str] = (),
    source: str,
    ip: str | None = None,
    user_agent: str = "",
    details: dict | None = None,
) -> None:
    """Leave the given topics, or everything when no topic is given.

    From everything: status unsubscribed, every subscription ended, the address on the
    suppression list. Idempotent: repeating it (mail providers retry one-click POSTs)
    changes nothing and records nothing new.
    """
    _check_source(source)
    now = timezone.now()
    with transaction.atomic():
        subscriber = Subscriber.objects.select_for_update().get(pk=subscriber.pk)
        live = subscriber.subscriptions.exclude(status=Subscription.Status.UNSUBSCRIBED)
        if topic_slugs:
            live = live.filter(topic__slug__in=topic_slugs)
        ended = sorted(live.values_list("topic__slug", flat=True))
        live.update(status=Subscription.Status.UNSUBSCRIBED, unsubscribed_at=now)

        status_changed = False
        if not topic_slugs:
            status_changed = subscriber.status != Subscriber.Status.UNSUBSCRIBED
            if status_changed:
                subscriber.status = Subscriber.Status.UNSUBSCRIBED
                subscriber.unsubscribed_at = now
                subscriber.save(update_fields=["status", "unsubscribed_at", "updated_at"])
            Suppression.objects.get_or_create(
                email_hash=subscriber.email_hash,
                defaults={"reason": Suppression.Reason.UNSUBSCRIBED, "details": {"source": source}},
            )
        if not ended and not status_changed:
            return
        record_event(
            kind=ConsentEvent.Kind.UNSUBSCRIBED,
            source=source,
            subscriber=subscriber,
            topic_slugs=ended,
            ip=ip,
            user_agent=user_agent,
            details={"scope": "topics" if topic_slugs else "everything", **(details or {})},
        )


def suppress_address(*, email: str, reason: str, source: str, details: dict | None = None) -> None:
    """Put an address on the suppression list (hard bounce, complaint, DSN, staff).

    Idempotent by hash. A later, different reason replaces the earlier one (a complaint
    after an unsubscribe is the more telling fact); the subscriber's proof records it.
    """
    _check_source(source)
    if reason not in Suppression.Reason.values:
        raise ValueError(f"unknown suppression reason {reason!r}; use one of {Suppression.Reason.values}")
    address_hash = email_hash(email)
    with transaction.atomic():
        suppression, created = Suppression.objects.select_for_update().get_or_create(
            email_hash=address_hash, defaults={"reason": reason, "details": details or {}}
        )
        if not created:
            if suppression.reason == reason:
                return
            suppression.reason = reason
            suppression.details = {**suppression.details, **(details or {})}
            suppression.save(update_fields=["reason", "details"])
        subscriber = Subscriber.objects.filter(email_hash=address_hash).first()
        if subscriber is not None:
            record_event(
                kind=ConsentEvent.Kind.SUPPRESSED,
                source=source,
                subscriber=subscriber,
                details={"reason": reason, **(details or {})},
            )
