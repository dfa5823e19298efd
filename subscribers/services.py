"""Writes on the subscriber side: every change to a subscriber goes through here.

Each function is keyword-only and records what it did in the append-only consent
proof (ConsentEvent), so that the history a subscriber sees is complete.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.db.models.functions import Coalesce
from django.utils import timezone

from subscribers import mails, signals
from subscribers.models import (
    ConsentEvent,
    ConsentText,
    Subscriber,
    Subscription,
    Suppression,
    Topic,
    email_hash,
)
from subscribers.validation import clean_email

PURGE_CHUNK = 1000


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
    consent: ConsentText | None = None,
    details: dict | None = None,
) -> ConsentEvent:
    """Append one entry to the consent proof (never updated; deleted only by erasure)."""
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
        consent_text=consent.text if consent else "",
        consent_text_version=consent.version if consent else "",
        details=details or {},
    )


def _enqueue_confirmation(subscriber: Subscriber, topic_slugs: Sequence[str]) -> None:
    from subscribers.tasks import send_confirmation  # tasks import services: avoid the cycle

    subscriber_id, slugs = subscriber.pk, sorted(topic_slugs)
    transaction.on_commit(lambda: send_confirmation.delay(subscriber_id, slugs))


def _pending_slugs(subscriber: Subscriber) -> list[str]:
    return sorted(
        subscriber.subscriptions.filter(status=Subscription.Status.PENDING).values_list(
            "topic__slug", flat=True
        )
    )


def _mark_pending(subscriber: Subscriber, topics: Sequence[Topic]) -> list[str]:
    """Make each topic not yet received a pending subscription; returns the slugs that changed."""
    existing = {s.topic_id: s for s in subscriber.subscriptions.all()}
    newly_pending = []
    for topic in topics:
        subscription = existing.get(topic.pk)
        if subscription is None:
            Subscription.objects.create(subscriber=subscriber, topic=topic)
        elif subscription.status == Subscription.Status.PENDING:
            continue  # already waiting; the caller decides whether to mail again
        elif (
            subscription.status == Subscription.Status.ACTIVE
            and subscriber.status == Subscriber.Status.CONFIRMED
        ):
            continue  # already receiving it: nothing to confirm
        else:
            subscription.status = Subscription.Status.PENDING
            subscription.save(update_fields=["status"])
        newly_pending.append(topic.slug)
    return newly_pending


def _confirmation_due(subscriber: Subscriber, now: datetime) -> bool:
    last = subscriber.last_confirmation_sent_at
    return last is None or now - last >= settings.CONFIRMATION_RESEND_WINDOW


def _send_if_due(subscriber: Subscriber, now: datetime, *, throttle: bool = True) -> str:
    """Queue one confirmation mail for every pending topic, at most once per window per address."""
    pending = _pending_slugs(subscriber)
    if not pending:
        return "nothing_pending"
    if throttle and not _confirmation_due(subscriber, now):
        return "throttled"
    subscriber.last_confirmation_sent_at = now
    subscriber.save(update_fields=["last_confirmation_sent_at", "updated_at"])
    _enqueue_confirmation(subscriber, pending)
    return "sent"


def _default_language(language: str | None) -> str:
    codes = [code for code, _ in settings.LANGUAGES]
    if language in codes:
        return language
    fallback = settings.LANGUAGE_CODE[:2]
    return fallback if fallback in codes else codes[0]


def request_subscription(
    *,
    email: str,
    topics: Sequence[Topic],
    source: str,
    consent: ConsentText,
    name: str = "",
    language: str | None = None,
    ip: str | None = None,
    user_agent: str = "",
) -> None:
    """Start (or repeat) a double opt-in for these topics. Returns nothing, on purpose.

    The caller answers the same way whatever happened here, so nobody can learn whether an
    address is known. An existing subscriber's name and language are never changed by
    someone who merely knows the address; suppressed addresses go through the opt-in like
    anyone else, and their suppression is lifted only when they confirm.
    """
    _check_source(source)
    address = clean_email(email)
    if not topics:
        raise ValueError("request_subscription needs at least one topic")
    now = timezone.now()
    with transaction.atomic():
        subscriber, _created = Subscriber.objects.get_or_create(
            email__iexact=address,
            defaults={
                "email": address,
                "email_hash": email_hash(address),
                "name": name.strip()[:200],
                "language": _default_language(language),
            },
        )
        subscriber = Subscriber.objects.select_for_update().get(pk=subscriber.pk)
        newly_pending = _mark_pending(subscriber, topics)
        if not newly_pending and not _pending_slugs(subscriber):
            return  # asked for what they already receive: nothing to confirm, nothing to record
        mail = _send_if_due(subscriber, now)
        record_event(
            kind=ConsentEvent.Kind.REQUESTED,
            source=source,
            subscriber=subscriber,
            topic_slugs=[topic.slug for topic in topics],
            ip=ip,
            user_agent=user_agent,
            consent=consent,
            details={"confirmation_mail": mail, "language": subscriber.language},
        )


def resend_confirmation(*, subscriber: Subscriber) -> str:
    """A fresh link for the pending topics (from an expired link's page), within the throttle."""
    with transaction.atomic():
        subscriber = Subscriber.objects.select_for_update().get(pk=subscriber.pk)
        return _send_if_due(subscriber, timezone.now())


@dataclass(frozen=True)
class Confirmation:
    subscriber: Subscriber
    confirmed_slugs: list[str]  # empty when the link had been used already


def confirm(
    *, subscriber_id: int, topic_slugs: Sequence[str], ip: str | None = None, user_agent: str = ""
) -> Confirmation:
    """The click on the confirmation link: the pending topics in the link become active.

    Raises Subscriber.DoesNotExist when the subscriber was purged or erased meanwhile.
    Topics left since the mail was sent stay left: only pending subscriptions are confirmed.
    """
    now = timezone.now()
    with transaction.atomic():
        subscriber = Subscriber.objects.select_for_update().get(pk=subscriber_id)
        pending = subscriber.subscriptions.filter(status=Subscription.Status.PENDING)
        if topic_slugs:
            pending = pending.filter(topic__slug__in=topic_slugs)
        slugs = sorted(pending.values_list("topic__slug", flat=True))
        if not slugs:
            return Confirmation(subscriber=subscriber, confirmed_slugs=[])
        pending.update(status=Subscription.Status.ACTIVE, confirmed_at=now, unsubscribed_at=None)
        if subscriber.status != Subscriber.Status.CONFIRMED:
            subscriber.status = Subscriber.Status.CONFIRMED
            subscriber.confirmed_at = now
            subscriber.unsubscribed_at = None
            subscriber.save(update_fields=["status", "confirmed_at", "unsubscribed_at", "updated_at"])
        details = {}
        lifted = Suppression.objects.filter(email_hash=subscriber.email_hash).first()
        if lifted is not None:
            # The confirmed click is fresh, explicit consent: it outweighs an earlier opt-out.
            details["lifted_suppression"] = lifted.reason
            lifted.delete()
        record_event(
            kind=ConsentEvent.Kind.CONFIRMED,
            source=ConsentEvent.Source.LINK,
            subscriber=subscriber,
            topic_slugs=slugs,
            ip=ip,
            user_agent=user_agent,
            details=details,
        )
    return Confirmation(subscriber=subscriber, confirmed_slugs=slugs)


def deliver_confirmation(*, subscriber_id: int, topic_slugs: Sequence[str]) -> bool:
    """Send the confirmation mail for those of the topics that still wait (called by the task)."""
    subscriber = Subscriber.objects.filter(pk=subscriber_id).first()
    if subscriber is None:
        return False  # purged or erased before the worker got to it
    topics = list(
        Topic.objects.filter(
            slug__in=topic_slugs,
            subscriptions__subscriber=subscriber,
            subscriptions__status=Subscription.Status.PENDING,
        ).order_by("name")
    )
    if not topics:
        return False
    mails.send_confirmation_mail(subscriber=subscriber, topics=topics)
    return True


def update_preferences(
    *,
    subscriber: Subscriber,
    topics: Sequence[Topic],
    frequency: str,
    frequency_limit: int,
    paused_until: date | None,
    format: str,
    name: str,
    language: str,
    ip: str | None = None,
    user_agent: str = "",
) -> list[str]:
    """Save the preference centre. Returns the slugs of added topics that now wait for confirmation.

    Leaving a topic takes effect at once; a new topic needs the confirmation mail, like a signup.
    """
    now = timezone.now()
    wanted = {topic.slug for topic in topics}
    with transaction.atomic():
        subscriber = Subscriber.objects.select_for_update().get(pk=subscriber.pk)
        changes: dict[str, list] = {}
        for field, value in [
            ("frequency", frequency),
            ("frequency_limit", frequency_limit),
            ("paused_until", paused_until),
            ("format", format),
            ("name", name.strip()),
            ("language", language),
        ]:
            old = getattr(subscriber, field)
            if old != value:
                setattr(subscriber, field, value)
                # Names are personal data: the proof says that it changed, not what it was.
                changes[field] = ["…", "…"] if field == "name" else [_json_value(old), _json_value(value)]
        if changes:
            subscriber.save(update_fields=[*changes, "updated_at"])

        left = subscriber.subscriptions.exclude(status=Subscription.Status.UNSUBSCRIBED).exclude(
            topic__slug__in=wanted
        )
        left_slugs = sorted(left.values_list("topic__slug", flat=True))
        left.update(status=Subscription.Status.UNSUBSCRIBED, unsubscribed_at=now)
        if left_slugs:
            changes["topics_left"] = left_slugs

        awaiting = _mark_pending(subscriber, topics)
        if awaiting:
            changes["topics_awaiting_confirmation"] = awaiting
            # The person holds a link from their own mail: no throttle on their own request.
            _send_if_due(subscriber, now, throttle=False)
        if changes:
            record_event(
                kind=ConsentEvent.Kind.PREFERENCES_CHANGED,
                source=ConsentEvent.Source.PREFERENCE_CENTRE,
                subscriber=subscriber,
                topic_slugs=sorted(wanted),
                ip=ip,
                user_agent=user_agent,
                details=changes,
            )
    return awaiting


def _json_value(value: object) -> object:
    return value.isoformat() if isinstance(value, date) else value


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


def erase(*, subscriber: Subscriber, source: str) -> str:
    """Delete the subscriber and everything personal; keep only the address hash. Returns it.

    What stays: Suppression(reason=erased) so no import or signup re-adds the address
    silently, and one ConsentEvent(erased) that holds nothing but the hash. Other apps
    delete their personal data about the subscriber on the `subscriber_erasing` signal;
    their rows pointing at the subscriber (deliveries, conversations) are set to null.
    """
    _check_source(source)
    with transaction.atomic():
        subscriber = Subscriber.objects.select_for_update().get(pk=subscriber.pk)
        address_hash = subscriber.email_hash
        signals.subscriber_erasing.send(sender=Subscriber, subscriber=subscriber, email_hash=address_hash)
        ConsentEvent.objects.filter(Q(subscriber=subscriber) | Q(email_hash=address_hash)).delete()
        subscriber.delete()  # subscriptions cascade
        Suppression.objects.update_or_create(
            email_hash=address_hash, defaults={"reason": Suppression.Reason.ERASED, "details": {}}
        )
        record_event(kind=ConsentEvent.Kind.ERASED, source=source, address_hash=address_hash)
    return address_hash


def purge_expired_pending(*, now: datetime | None = None) -> int:
    """Delete never-confirmed subscribers whose last confirmation link has expired.

    They never consented, so nothing about them is kept (their request events go too).
    """
    cutoff = (now or timezone.now()) - settings.CONFIRMATION_LINK_MAX_AGE
    expired = (
        Subscriber.objects.filter(status=Subscriber.Status.PENDING)
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
