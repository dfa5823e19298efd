"""Double opt-in: requests, the confirmation mail and its throttle, and the confirming click.

The throttle: at most one confirmation mail per CONFIRMATION_RESEND_WINDOW per subscriber
and per mailbox (subscribers.mailboxes: `+tag` variants and Gmail's dots are one inbox).
Throttling delays a mail that has something new to confirm, it never drops it: the
subscriber gets `confirmation_due_at`, and the beat task `send_due_confirmations` sends it
when the window has passed. A repeated request for topics whose mail went out within the
window sends nothing (that mail is still valid).

Every path that decides about a confirmation mail locks the subscriber together with the
others of its mailbox (lock_mailbox), in primary-key order, so two requests for variants of
one inbox cannot both send.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from django.conf import settings
from django.db import transaction
from django.db.models import Max, Q
from django.db.models.functions import Coalesce
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from rundbrief.events import emit
from subscribers import mailboxes, mails, queue, selectors
from subscribers.models import (
    ConsentEvent,
    ConsentText,
    Subscriber,
    Subscription,
    Suppression,
    Topic,
    email_hash,
)
from subscribers.services.consent import check_source, record_event
from subscribers.validation import clean_email, clean_name

# What happened to the confirmation mail of a request (stored in the proof's details).
SENT = "sent"
DELAYED = "delayed"  # held back by the throttle; the beat task sends it at confirmation_due_at
THROTTLED = "throttled"  # nothing new: the mail sent within the window covers it
NOTHING_PENDING = "nothing_pending"

DUE_BATCH = 500


def _same_mailbox(subscriber_id: int, mailbox: str) -> Q:
    return (Q(pk=subscriber_id) | Q(mailbox_hash=mailbox)) if mailbox else Q(pk=subscriber_id)


def lock_mailbox(subscriber_id: int) -> Subscriber:
    """Lock the subscriber and every subscriber of the same mailbox (pk order); return the first.

    Raises Subscriber.DoesNotExist when the subscriber is gone.
    """
    mailbox = Subscriber.objects.filter(pk=subscriber_id).values_list("mailbox_hash", flat=True).first()
    if mailbox is None:
        raise Subscriber.DoesNotExist(subscriber_id)
    rows = Subscriber.objects.select_for_update().filter(_same_mailbox(subscriber_id, mailbox)).order_by("pk")
    locked = {row.pk: row for row in rows}
    if subscriber_id not in locked:
        raise Subscriber.DoesNotExist(subscriber_id)
    return locked[subscriber_id]


def _pending(subscriber: Subscriber):
    return subscriber.subscriptions.filter(status=Subscription.Status.PENDING).annotate(
        requested=Coalesce("requested_at", "created_at")
    )


def _pending_slugs(subscriber: Subscriber) -> list[str]:
    return sorted(_pending(subscriber).values_list("topic__slug", flat=True))


def mark_pending(subscriber: Subscriber, topics: Sequence[Topic], now: datetime) -> list[str]:
    """Make each topic not yet received a pending subscription; returns the slugs that changed."""
    existing = {s.topic_id: s for s in subscriber.subscriptions.all()}
    newly_pending = []
    for topic in topics:
        subscription = existing.get(topic.pk)
        if subscription is None:
            Subscription.objects.create(subscriber=subscriber, topic=topic, requested_at=now)
        elif subscription.status == Subscription.Status.PENDING:
            continue  # already waiting; the throttle decides whether to mail again
        elif (
            subscription.status == Subscription.Status.ACTIVE
            and subscriber.status == Subscriber.Status.CONFIRMED
        ):
            continue  # already receiving it: nothing to confirm
        else:
            # A new request: links sent for an earlier one must not confirm it.
            subscription.status = Subscription.Status.PENDING
            subscription.requested_at = now
            subscription.save(update_fields=["status", "requested_at"])
        newly_pending.append(topic.slug)
    return newly_pending


def next_allowed_send(subscriber: Subscriber, now: datetime) -> datetime | None:
    """None when a confirmation mail may go to this subscriber's mailbox now, else from when."""
    last = Subscriber.objects.filter(_same_mailbox(subscriber.pk, subscriber.mailbox_hash)).aggregate(
        last=Max("last_confirmation_sent_at")
    )["last"]
    if last is None or now - last >= settings.CONFIRMATION_RESEND_WINDOW:
        return None
    return last + settings.CONFIRMATION_RESEND_WINDOW


def _has_unmailed(subscriber: Subscriber) -> bool:
    """A pending topic that no confirmation mail has asked about yet."""
    last = subscriber.last_confirmation_sent_at
    pending = _pending(subscriber)
    return pending.exists() if last is None else pending.filter(requested__gt=last).exists()


def _set_due(subscriber: Subscriber, due: datetime | None) -> None:
    if subscriber.confirmation_due_at != due:
        subscriber.confirmation_due_at = due
        subscriber.save(update_fields=["confirmation_due_at", "updated_at"])


def drop_due_if_nothing_pending(subscriber: Subscriber) -> None:
    """A held-back mail whose topics were all confirmed or left meanwhile has nothing to ask."""
    if subscriber.confirmation_due_at and not _pending(subscriber).exists():
        _set_due(subscriber, None)


def send_if_due(subscriber: Subscriber, now: datetime, *, delay_when_throttled: bool) -> str:
    """Queue one confirmation mail for every pending topic, within the throttle (see the module).

    The caller holds lock_mailbox. delay_when_throttled: the person asked for the mail again
    (it is scheduled even if the earlier one covered everything).
    """
    pending = _pending(subscriber)
    slugs = sorted(pending.values_list("topic__slug", flat=True))
    if not slugs:
        _set_due(subscriber, None)
        return NOTHING_PENDING
    allowed_at = next_allowed_send(subscriber, now)
    if allowed_at is not None:
        if delay_when_throttled or _has_unmailed(subscriber):
            _set_due(subscriber, allowed_at)
            return DELAYED
        return THROTTLED
    mark = selectors.request_mark(pending.aggregate(newest=Max("requested"))["newest"])
    subscriber.last_confirmation_sent_at = now
    subscriber.confirmation_due_at = None
    subscriber.save(update_fields=["last_confirmation_sent_at", "confirmation_due_at", "updated_at"])
    _enqueue_confirmation(subscriber.pk, slugs, mark)
    return SENT


def _enqueue_confirmation(subscriber_id: int, slugs: list[str], mark: int) -> None:
    transaction.on_commit(lambda: queue.enqueue("send_confirmation", subscriber_id, slugs, mark))


def _default_language(language: str | None) -> str:
    codes = [code for code, _ in settings.LANGUAGES]
    if language in codes:
        return language
    fallback = settings.LANGUAGE_CODE[:2]
    return fallback if fallback in codes else codes[0]


def submit_subscription_request(
    *,
    email: str,
    topics: Sequence[Topic],
    source: str,
    consent: ConsentText,
    name: str = "",
    language: str | None = None,
    ip: str | None = None,
    user_agent: str = "",
    attributes: dict | None = None,
) -> None:
    """Hand a checked signup to a worker, and return at once.

    The signup page and the API answer the same for known and unknown addresses; doing the
    work here would make them differ in time (an insert for a new address, a look-up for a
    known one). So the request does the same small thing for everyone, and the worker does
    the rest (handle_subscription_request). The proof keeps the time of the request.
    """
    check_source(source)
    clean_email(email)
    clean_name(name)
    request = {
        "email": email,
        "topic_ids": [topic.pk for topic in topics],
        "source": source,
        "consent_id": consent.pk,
        "name": name,
        "language": language,
        "ip": ip,
        "user_agent": user_agent,
        "requested_at": timezone.now().isoformat(),
        "attributes": attributes or {},
    }
    # Not on_commit: the task carries everything it needs and depends on no row of the caller's.
    queue.enqueue("process_subscription_request", **request)


def handle_subscription_request(
    *,
    email: str,
    topic_ids: Sequence[int],
    source: str,
    consent_id: int,
    name: str,
    language: str | None,
    ip: str | None,
    user_agent: str,
    requested_at: str,
    attributes: dict | None = None,
) -> bool:
    """The worker's half of submit_subscription_request. False if its topics were deleted meanwhile."""
    topics = list(Topic.objects.filter(pk__in=topic_ids))
    consent = ConsentText.objects.filter(pk=consent_id).first()
    if not topics or consent is None:
        return False
    request_subscription(
        email=email,
        topics=topics,
        source=source,
        consent=consent,
        name=name,
        language=language,
        ip=ip,
        user_agent=user_agent,
        attributes=attributes,
        at=parse_datetime(requested_at),
    )
    return True


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
    at: datetime | None = None,
    attributes: dict | None = None,
) -> None:
    """Start (or repeat) a double opt-in for these topics. Returns nothing, on purpose.

    The caller answers the same way whatever happened here, so nobody can learn whether an
    address is known. An existing subscriber's name and language are never changed by
    someone who merely knows the address; suppressed addresses go through the opt-in like
    anyone else, and their suppression is lifted only when they confirm. A name longer than
    the limit is refused (ValidationError), never cut. ``attributes`` (values of public fields,
    already typed) are stored only for a subscriber this request creates, for the same reason.
    """
    check_source(source)
    address = clean_email(email)
    name = clean_name(name)
    if not topics:
        raise ValueError("request_subscription needs at least one topic")
    now = timezone.now()
    with transaction.atomic():
        subscriber, created = Subscriber.objects.get_or_create(
            email__iexact=address,
            defaults={
                "email": address,
                "email_hash": email_hash(address),
                "mailbox_hash": mailboxes.mailbox_hash(address),
                "name": name,
                "language": _default_language(language),
                "attributes": attributes or {},
            },
        )
        subscriber = lock_mailbox(subscriber.pk)
        newly_pending = mark_pending(subscriber, topics, now)
        if not newly_pending and not _pending_slugs(subscriber):
            return  # asked for what they already receive: nothing to confirm, nothing to record
        mail = send_if_due(subscriber, now, delay_when_throttled=False)
        details = {"confirmation_mail": mail, "language": subscriber.language}
        if created and attributes:
            details["fields_given"] = sorted(attributes)
        if mail == DELAYED:
            details["confirmation_due_at"] = subscriber.confirmation_due_at.isoformat()
        record_event(
            kind=ConsentEvent.Kind.REQUESTED,
            source=source,
            subscriber=subscriber,
            topic_slugs=[topic.slug for topic in topics],
            ip=ip,
            user_agent=user_agent,
            consent=consent,
            details=details,
            at=at,
        )


@dataclass(frozen=True)
class Resend:
    state: str  # SENT, DELAYED or NOTHING_PENDING
    due_at: datetime | None = None


def resend_confirmation(*, subscriber: Subscriber) -> Resend:
    """The person asks for the confirmation mail again: now, or as soon as the throttle allows."""
    with transaction.atomic():
        subscriber = lock_mailbox(subscriber.pk)
        state = send_if_due(subscriber, timezone.now(), delay_when_throttled=True)
        return Resend(state=state, due_at=subscriber.confirmation_due_at)


def send_due_confirmations(*, now: datetime | None = None) -> int:
    """The beat task: send the confirmation mails the throttle held back. Returns how many went."""
    now = now or timezone.now()
    sent = 0
    due_ids = list(
        Subscriber.objects.filter(confirmation_due_at__lte=now)
        .order_by("confirmation_due_at", "pk")
        .values_list("pk", flat=True)[:DUE_BATCH]
    )
    for subscriber_id in due_ids:
        with transaction.atomic():
            try:
                subscriber = lock_mailbox(subscriber_id)
            except Subscriber.DoesNotExist:
                continue
            if subscriber.confirmation_due_at is None or subscriber.confirmation_due_at > now:
                continue  # sent or rescheduled meanwhile
            sent += send_if_due(subscriber, now, delay_when_throttled=True) == SENT
    return sent


@dataclass(frozen=True)
class Confirmation:
    subscriber: Subscriber
    confirmed_slugs: list[str]  # empty when there was nothing (left) to confirm
    outdated: bool = False  # the link belongs to an earlier request than the one now waiting


def confirm(
    *,
    subscriber_id: int,
    topic_slugs: Sequence[str],
    requested_until: datetime,
    ip: str | None = None,
    user_agent: str = "",
) -> Confirmation:
    """The click on the confirmation link: the pending topics it was sent for become active.

    requested_until: the newest request the link was sent for (selectors.link_request_limit).
    A request made later (a new signup after an unsubscribe, perhaps by a stranger) is not
    confirmed by it, and it cannot lift a suppression recorded after it was sent.
    Raises Subscriber.DoesNotExist when the subscriber was purged or erased meanwhile.
    Topics left since the mail was sent stay left: only pending subscriptions are confirmed.
    """
    now = timezone.now()
    with transaction.atomic():
        subscriber = Subscriber.objects.select_for_update().get(pk=subscriber_id)
        check = selectors.confirmable(subscriber, topic_slugs=topic_slugs, requested_until=requested_until)
        slugs = sorted(check.subscriptions.values_list("topic__slug", flat=True))
        if not slugs:
            return Confirmation(subscriber=subscriber, confirmed_slugs=[], outdated=check.outdated)
        Subscription.objects.filter(pk__in=check.subscriptions.values("pk")).update(
            status=Subscription.Status.ACTIVE, confirmed_at=now, unsubscribed_at=None
        )
        if subscriber.status != Subscriber.Status.CONFIRMED:
            subscriber.status = Subscriber.Status.CONFIRMED
            subscriber.confirmed_at = now
            subscriber.unsubscribed_at = None
            subscriber.save(update_fields=["status", "confirmed_at", "unsubscribed_at", "updated_at"])
        drop_due_if_nothing_pending(subscriber)
        details = {}
        lifted = Suppression.objects.filter(email_hash=subscriber.email_hash).first()
        if lifted is not None:
            # The confirmed click is fresh, explicit consent to a request made after the opt-out.
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
        emit("subscriber.confirmed", subscriber_id=subscriber.pk, topics=slugs)
    return Confirmation(subscriber=subscriber, confirmed_slugs=slugs)


def deliver_confirmation(*, subscriber_id: int, topic_slugs: Sequence[str], request_mark: int | None) -> bool:
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
    mails.send_confirmation_mail(subscriber=subscriber, topics=topics, request_mark=request_mark)
    return True
