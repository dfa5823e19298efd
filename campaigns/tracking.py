"""ESP tracking events (via anymail's webhooks) applied to deliveries and the suppression list.

Only events about mail we sent act: the event must name one of our deliveries (by the ESP's
message id, also while the send loop still holds it as an acceptance, or by our own
Message-ID), and if it names a recipient, that delivery's. Then hard bounces and rejections
suppress the delivery's subscriber (never an address the event merely names), soft bounces
are counted (toward the subscriber's bounce score too), complaints unsubscribe and suppress;
every one acted on is kept as a subscribers.Bounce (shown on the campaign page). Events that
match nothing are recorded as IgnoredTrackingEvent with the reason (and logged). Opens and
clicks are not tracked.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from django.db.models import F
from django.utils import timezone

from campaigns.models import Acceptance, Delivery, IgnoredTrackingEvent
from subscribers.models import Bounce, ConsentEvent, Suppression, email_hash
from subscribers.services import BounceFacts, record_bounce, record_only, suppress_address, unsubscribe

logger = logging.getLogger(__name__)

HARD = "hard_bounce"
SOFT = "soft_bounce"
COMPLAINT = "complaint"
# ESP-specific hints that a "bounced" event was only temporary.
_SOFT_MARKERS = {
    ("Type", "SoftBounce"),
    ("Type", "Transient"),
    ("Type", "DnsError"),
    ("severity", "temporary"),
}


@dataclass(frozen=True)
class TrackingOutcome:
    kind: str | None  # HARD, SOFT, COMPLAINT, or None when not a bounce or complaint
    delivery_id: int | None
    ignored: str | None = None  # an IgnoredTrackingEvent.Reason when the event matched no mail of ours


def classify(event_type: str, esp_event: object) -> str | None:
    if event_type == "complained":
        return COMPLAINT
    if event_type == "deferred":
        return SOFT
    if event_type in ("bounced", "rejected"):
        if isinstance(esp_event, dict) and any(esp_event.get(key) == value for key, value in _SOFT_MARKERS):
            return SOFT
        return HARD
    return None


def find_delivery(*, message_id: str | None, recipient: str | None) -> Delivery | None:
    """By the ESP's id (on the delivery, or on an acceptance not yet folded into it), else by our
    Message-ID (ESPs differ on the angle brackets)."""
    if not message_id:
        return None
    bare = message_id.strip().strip("<>")
    if not bare:
        return None
    ids = [message_id, bare, f"<{bare}>"]
    deliveries = Delivery.objects.select_related("subscriber")
    by_esp_id = deliveries.filter(esp_message_id__in=ids)
    delivery = _one_for_recipient(by_esp_id, recipient)
    if delivery is None:
        accepted = Acceptance.objects.filter(esp_message_id__in=ids).values("delivery_id")
        delivery = _one_for_recipient(deliveries.filter(pk__in=accepted), recipient)
    if delivery is None:
        delivery = deliveries.filter(message_id=f"<{bare}>").first()
    return delivery


def _one_for_recipient(deliveries, recipient: str | None) -> Delivery | None:
    """Some ESPs (Mailgun, SparkPost) give one id to a whole batch: the recipient tells them apart."""
    candidates = list(deliveries[:2])
    if len(candidates) <= 1 or not recipient:
        return candidates[0] if candidates else None
    return deliveries.filter(subscriber__email_hash=email_hash(recipient)).first()


def _ignore(
    *,
    reason: str,
    esp: str,
    event_type: str,
    event_id: str,
    message_id: str,
    recipient: str,
    description: str,
) -> None:
    IgnoredTrackingEvent.objects.create(
        esp=esp[:40],
        event_type=event_type[:32],
        event_id=(event_id or "")[:255],
        message_id=(message_id or "")[:255],
        recipient=(recipient or "")[:254],
        recipient_hash=email_hash(recipient) if recipient else "",
        reason=reason,
        description=description[:2000],
    )
    logger.warning(
        "%s %s event for message %r (recipient %r) ignored: %s",
        esp,
        event_type,
        message_id,
        recipient,
        reason,
    )


def record_tracking_event(
    *,
    event_type: str,
    message_id: str | None,
    recipient: str | None,
    esp_event: object = None,
    description: str = "",
    esp: str = "",
    event_id: str | None = None,
) -> TrackingOutcome:
    kind = classify(event_type, esp_event)
    if kind is None:
        return TrackingOutcome(kind=None, delivery_id=None)
    delivery = find_delivery(message_id=message_id, recipient=recipient)
    reason = None
    if delivery is None:
        reason = IgnoredTrackingEvent.Reason.NO_DELIVERY
    elif recipient and delivery.subscriber and email_hash(recipient) != delivery.subscriber.email_hash:
        # A real message id with someone else's address: whoever received that mail could
        # otherwise suppress any address by naming it.
        reason = IgnoredTrackingEvent.Reason.OTHER_RECIPIENT
    if reason is not None:
        _ignore(
            reason=reason,
            esp=esp,
            event_type=event_type,
            event_id=event_id or "",
            message_id=message_id or "",
            recipient=recipient or "",
            description=description,
        )
        return TrackingOutcome(kind=kind, delivery_id=None, ignored=reason)

    facts = BounceFacts(
        kind=Bounce.Kind.COMPLAINT if kind == COMPLAINT else Bounce.Kind.BOUNCE,
        address=(recipient or "").lower(),
        permanent=kind != SOFT,
        reason=Bounce.Reason.COMPLAINT if kind == COMPLAINT else Bounce.Reason.OTHER,
        diagnostic=description,
        evidence=f"webhook:{esp}"[:32] if esp else "webhook",
        rule=event_type,
    )
    if kind == SOFT:
        Delivery.objects.filter(pk=delivery.pk).update(soft_bounces=F("soft_bounces") + 1)
        if delivery.subscriber is not None:  # counts toward the bounce score, as a bounce by mail does
            record_bounce(
                facts=facts,
                subscriber=delivery.subscriber,
                match=Bounce.Match.ESP_EVENT,
                source=ConsentEvent.Source.ESP_EVENT,
                delivery_id=delivery.pk,
                campaign_id=delivery.campaign_id,
            )
        return TrackingOutcome(kind=kind, delivery_id=delivery.pk)

    status = Delivery.Status.COMPLAINED if kind == COMPLAINT else Delivery.Status.BOUNCED
    Delivery.objects.filter(pk=delivery.pk).update(
        status=status, error=description[:1000] or event_type, updated_at=timezone.now()
    )
    subscriber = delivery.subscriber
    if subscriber is None:  # erased since: the erasure already suppressed the address
        return TrackingOutcome(kind=kind, delivery_id=delivery.pk)
    campaign_details = {"campaign_id": delivery.campaign_id}
    if kind == COMPLAINT:
        unsubscribe(
            subscriber=subscriber,
            source=ConsentEvent.Source.ESP_EVENT,
            details={**campaign_details, "reason": "complaint"},
        )
    suppress_address(
        email=subscriber.email,
        reason=Suppression.Reason.COMPLAINT if kind == COMPLAINT else Suppression.Reason.HARD_BOUNCE,
        source=ConsentEvent.Source.ESP_EVENT,
        details={**campaign_details, "event": event_type, "description": description[:500]},
    )
    record_only(
        facts=facts,
        subscriber=subscriber,
        match=Bounce.Match.ESP_EVENT,
        suppressed=True,
        delivery_id=delivery.pk,
        campaign_id=delivery.campaign_id,
    )
    return TrackingOutcome(kind=kind, delivery_id=delivery.pk)


def erase_ignored_events(*, address_hash: str) -> int:
    """An erased subscriber's address leaves the ignored-events log too."""
    deleted, _ = IgnoredTrackingEvent.objects.filter(recipient_hash=address_hash).delete()
    return deleted
