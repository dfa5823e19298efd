"""Bounces and complaints applied to a subscriber: the record, the score, the suppression, the undo.

Every bounce is recorded (subscribers.models.Bounce), also one for an address we do not know
(it suppresses nothing). For a subscriber (the recipient of the delivery the bounce is about,
or a known subscriber named as a failed recipient; the callers decide that):

- a permanent failure suppresses at once (``hard_bounce``);
- temporary failures count, as GNU Mailman's bounce score does: each adds
  BOUNCE_SCORE_TEMPORARY (a permanent one BOUNCE_SCORE_PERMANENT), at most one bounce per day
  counts, and a gap of more than BOUNCE_INFO_STALE_AFTER_DAYS without bounces starts the score
  afresh; at BOUNCE_SCORE_THRESHOLD the address is suppressed (``soft_bounces``);
- a complaint unsubscribes from everything and suppresses (``complaint``).

Each suppression records why in its details (rule, reader, reason, status, how the bounce was
attributed, the Bounce row). ``lift_suppression`` is a manager's undo: the suppression goes, the
score starts afresh, and the consent proof records who lifted what.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from subscribers.models import Bounce, ConsentEvent, Subscriber, Suppression, email_hash
from subscribers.services.consent import check_source, record_event
from subscribers.services.leaving import suppress_address, unsubscribe


@dataclass(frozen=True)
class BounceFacts:
    """What a bounce reader (or an ESP event) said about one recipient."""

    kind: str = Bounce.Kind.BOUNCE
    address: str = ""
    permanent: bool = False
    reason: str = Bounce.Reason.OTHER
    status: str = ""
    action: str = ""
    diagnostic: str = ""
    evidence: str = ""
    rule: str = ""


@dataclass(frozen=True)
class BounceResult:
    bounce: Bounce
    suppressed: bool
    score: float
    already_suppressed: bool = False


def _weight(bounce: Bounce) -> float:
    return settings.BOUNCE_SCORE_PERMANENT if bounce.permanent else settings.BOUNCE_SCORE_TEMPORARY


def bounce_score(*, subscriber: Subscriber, now: datetime | None = None) -> float:
    """The subscriber's bounce score now, from their recorded bounces (Mailman's rule, see above)."""
    now = now or timezone.now()
    stale = timedelta(days=settings.BOUNCE_INFO_STALE_AFTER_DAYS)
    rows = Bounce.objects.filter(subscriber=subscriber, kind=Bounce.Kind.BOUNCE, counts=True).order_by(
        "received_at", "id"
    )
    score, last_at, last_day = 0.0, None, None
    for row in rows.only("received_at", "permanent"):
        if last_at is not None and row.received_at - last_at > stale:
            score, last_day = 0.0, None
        day = timezone.localdate(row.received_at)
        if day != last_day:
            score += _weight(row)
            last_day = day
        last_at = row.received_at
    if last_at is None or now - last_at > stale:
        return 0.0
    return score


def record_bounce(
    *,
    facts: BounceFacts,
    subscriber: Subscriber | None,
    match: str,
    source: str,
    delivery_id: int | None = None,
    campaign_id: int | None = None,
    inbound_message_id: int | None = None,
) -> BounceResult:
    """Record one bounce or complaint and act on it (only for a subscriber; see the module doc)."""
    check_source(source)
    with transaction.atomic():
        bounce = _create_bounce(
            facts,
            subscriber,
            match=match,
            delivery_id=delivery_id,
            campaign_id=campaign_id,
            inbound_message_id=inbound_message_id,
        )
        if subscriber is None:
            return BounceResult(bounce=bounce, suppressed=False, score=0.0)
        why = {
            "rule": facts.rule,
            "evidence": facts.evidence,
            "reason": bounce.reason,
            "status": facts.status,
            "match": match,
            "bounce_id": bounce.pk,
            **({"inbound_message_id": inbound_message_id} if inbound_message_id else {}),
            **({"campaign_id": campaign_id} if campaign_id else {}),
        }
        already = Suppression.objects.filter(email_hash=subscriber.email_hash).exists()
        if facts.kind == Bounce.Kind.COMPLAINT:
            unsubscribe(subscriber=subscriber, source=source, details={"complaint": True, **why})
            suppress_address(
                email=subscriber.email, reason=Suppression.Reason.COMPLAINT, source=source, details=why
            )
            bounce.suppressed = True
            bounce.save(update_fields=["suppressed"])
            return BounceResult(bounce=bounce, suppressed=True, score=0.0, already_suppressed=already)
        score = bounce_score(subscriber=subscriber, now=bounce.received_at)
        bounce.score = score
        suppression_reason = None
        if facts.permanent:
            suppression_reason = Suppression.Reason.HARD_BOUNCE
        elif score >= settings.BOUNCE_SCORE_THRESHOLD:
            suppression_reason = Suppression.Reason.SOFT_BOUNCES
            why["score"] = score
        if suppression_reason is not None and not already:
            suppress_address(email=subscriber.email, reason=suppression_reason, source=source, details=why)
            bounce.suppressed = True
        bounce.save(update_fields=["score", "suppressed"])
        return BounceResult(
            bounce=bounce, suppressed=bounce.suppressed, score=score, already_suppressed=already
        )


def record_only(
    *,
    facts: BounceFacts,
    subscriber: Subscriber | None,
    match: str,
    suppressed: bool,
    delivery_id: int | None = None,
    campaign_id: int | None = None,
) -> Bounce:
    """Keep a bounce or complaint whose consequences the caller applied itself (ESP tracking events)."""
    return _create_bounce(
        facts,
        subscriber,
        match=match,
        delivery_id=delivery_id,
        campaign_id=campaign_id,
        suppressed=suppressed,
    )


def _create_bounce(
    facts: BounceFacts, subscriber: Subscriber | None, *, match: str, **links: object
) -> Bounce:
    """The Bounce row of these facts (values cut to their columns); `links`: delivery, campaign,
    inbound message ids and `suppressed`."""
    address = (subscriber.email if subscriber is not None else facts.address).strip().lower()
    return Bounce.objects.create(
        kind=facts.kind,
        subscriber=subscriber,
        address=(facts.address or address)[:254],
        address_hash=email_hash(address) if address else "",
        permanent=facts.permanent,
        reason=facts.reason if facts.reason in Bounce.Reason.values else Bounce.Reason.OTHER,
        status=facts.status[:16],
        action=facts.action[:16],
        diagnostic=facts.diagnostic[:2000],
        evidence=facts.evidence[:32],
        rule=facts.rule[:32],
        match=match,
        **links,
    )


class CannotLift(Exception):
    """The suppression is not one a manager may lift (an unsubscribe, erasure or complaint)."""


def lift_suppression(*, suppression: Suppression, by: str, note: str = "") -> None:
    """A manager's undo of a bounce suppression: it is deleted, the score restarts, the proof records it."""
    if not suppression.liftable:
        raise CannotLift(suppression.reason)
    with transaction.atomic():
        suppression = Suppression.objects.select_for_update().get(pk=suppression.pk)
        subscriber = Subscriber.objects.filter(email_hash=suppression.email_hash).first()
        Bounce.objects.filter(address_hash=suppression.email_hash, counts=True).update(counts=False)
        if subscriber is not None:
            Bounce.objects.filter(subscriber=subscriber, counts=True).update(counts=False)
        details = {"reason": suppression.reason, "suppressed": suppression.details, "by": by}
        if note:
            details["note"] = note
        suppression.delete()
        record_event(
            kind=ConsentEvent.Kind.UNSUPPRESSED,
            source=ConsentEvent.Source.ADMIN,
            subscriber=subscriber,
            address_hash=None if subscriber is not None else suppression.email_hash,
            details=details,
        )
