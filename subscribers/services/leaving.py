"""Leaving: unsubscribe, the suppression list, erasure, and the purge of never-confirmed addresses."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.db.models.functions import Coalesce
from django.utils import timezone

from rundbrief.events import emit
from subscribers import signals
from subscribers.models import Bounce, ConsentEvent, Subscriber, Subscription, Suppression, email_hash
from subscribers.services.consent import check_source, record_event
from subscribers.services.optin import drop_due_if_nothing_pending

PURGE_CHUNK = 1000


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
    check_source(source)
    now = timezone.now()
    with transaction.atomic():
        subscriber = Subscriber.objects.select_for_update().get(pk=subscriber.pk)
        live = subscriber.subscriptions.exclude(status=Subscription.Status.UNSUBSCRIBED)
        if topic_slugs:
            live = live.filter(topic__slug__in=topic_slugs)
        ended = sorted(live.values_list("topic__slug", flat=True))
        live.update(status=Subscription.Status.UNSUBSCRIBED, unsubscribed_at=now)
        drop_due_if_nothing_pending(subscriber)

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
        emit("subscriber.unsubscribed", subscriber_id=subscriber.pk, topics=ended, everything=not topic_slugs)


def suppress_address(*, email: str, reason: str, source: str, details: dict | None = None) -> None:
    """Put an address on the suppression list (hard bounce, complaint, DSN, staff).

    Idempotent by hash. A later, different reason replaces the earlier one (a complaint
    after an unsubscribe is the more telling fact); the subscriber's proof records it.
    """
    check_source(source)
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
        if reason == Suppression.Reason.HARD_BOUNCE:
            emit("delivery.hard_bounce", subscriber_id=subscriber and subscriber.pk, email_hash=address_hash)
        if subscriber is not None:
            record_event(
                kind=ConsentEvent.Kind.SUPPRESSED,
                source=source,
                subscriber=subscriber,
                details={"reason": reason, **(details or {})},
            )


def erase(*, subscriber: Subscriber, source: str) -> str:
    """Delete the subscriber and everything personal; keep only the address hash. Returns it.

    Their bounce records go too (also those kept for the address before it was a subscriber's).
    What stays: Suppression(reason=erased) so no import or signup re-adds the address
    silently, and one ConsentEvent(erased) that holds nothing but the hash. Other apps
    delete their personal data about the subscriber on the `subscriber_erasing` signal;
    their rows pointing at the subscriber (deliveries, conversations) are set to null.
    """
    check_source(source)
    with transaction.atomic():
        subscriber = Subscriber.objects.select_for_update().get(pk=subscriber.pk)
        address_hash = subscriber.email_hash
        signals.subscriber_erasing.send(sender=Subscriber, subscriber=subscriber, email_hash=address_hash)
        ConsentEvent.objects.filter(Q(subscriber=subscriber) | Q(email_hash=address_hash)).delete()
        emit("subscriber.erased", subscriber_id=subscriber.pk, email_hash=address_hash)
        Bounce.objects.filter(Q(subscriber=subscriber) | Q(address_hash=address_hash)).delete()
        subscriber.delete()  # subscriptions cascade
        Suppression.objects.update_or_create(
            email_hash=address_hash, defaults={"reason": Suppression.Reason.ERASED, "details": {}}
        )
        record_event(kind=ConsentEvent.Kind.ERASED, source=source, address_hash=address_hash)
    return address_hash


def purge_expired_pending(*, now: datetime | None = None) -> int:
    """Delete never-confirmed subscribers whose last confirmation link has expired.

    They never consented, so nothing about them is kept (their request events go too). A
    subscriber whose confirmation mail is still held back by the throttle is kept: the
    mail is on its way, and its link gets its full lifetime.
    """
    cutoff = (now or timezone.now()) - settings.CONFIRMATION_LINK_MAX_AGE
    expired = (
        Subscriber.objects.filter(status=Subscriber.Status.PENDING, confirmation_due_at__isnull=True)
        .annotate(last_link_at=Coalesce("last_confirmation_sent_at", "created_at"))
        .filter(last_link_at__lt=cutoff)
    )
    purged = 0
    while ids := list(expired.order_by("pk").values_list("pk", flat=True)[:PURGE_CHUNK]):
        with transaction.atomic():
            ConsentEvent.objects.filter(subscriber_id__in=ids).delete()
            purged += (
                Subscriber.objects.filter(pk__in=ids, status=Subscriber.Status.PENDING)
                .delete()[1]
                .get("subscribers.Subscriber", 0)
            )
        if len(ids) < PURGE_CHUNK:
            break
    return purged
