"""ESP tracking events (via anymail's webhooks) applied to deliveries and the suppression list.

Hard bounces and rejections suppress the address, soft bounces are counted, complaints
unsubscribe and suppress. Opens and clicks are not tracked: subscribers' data stays theirs.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from django.db.models import F
from django.utils import timezone

from campaigns.models import Delivery
from subscribers.models import ConsentEvent, Suppression, email_hash, normalise_email
from subscribers.services import suppress_address, unsubscribe

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
    kind: str | None  # HARD, SOFT, COMPLAINT, or None when ignored
    delivery_id: int | None


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
    """By the ESP's id, else by our Message-ID (ESPs differ on the angle brackets)."""
    if message_id:
        bare = message_id.strip().strip("<>")
        by_esp_id = Delivery.objects.select_related("subscriber").filter(
            esp_message_id__in=[message_id, bare, f"<{bare}>"]
        )
        delivery = _one_for_recipient(by_esp_id, recipient) or (
            Delivery.objects.select_related("subscriber").filter(message_id=f"<{bare}>").first()
        )
        if delivery is not None:
            return delivery
    return None


def _one_for_recipient(deliveries, recipient: str | None) -> Delivery | None:
    """Some ESPs (Mailgun, SparkPost) give one id to a whole batch: the recipient tells them apart."""
    candidates = list(deliveries[:2])
    if len(candidates) <= 1 or not recipient:
        return candidates[0] if candidates else None
    return deliveries.filter(subscriber__email_hash=email_hash(recipient)).first()


def record_tracking_event(
    *,
    event_type: str,
    message_id: str | None,
    recipient: str | None,
    esp_event: object = None,
    description: str = "",
) -> TrackingOutcome:
    kind = classify(event_type, esp_event)
    if kind is None:
        return TrackingOutcome(kind=None, delivery_id=None)
    delivery = find_delivery(message_id=message_id, recipient=recipient)
    email = recipient or (delivery.subscriber.email if delivery and delivery.subscriber else None)
    campaign_details = {"campaign_id": delivery.campaign_id} if delivery else {}
    if kind == SOFT:
        if delivery:
            Delivery.objects.filter(pk=delivery.pk).update(soft_bounces=F("soft_bounces") + 1)
        return TrackingOutcome(kind=kind, delivery_id=delivery.pk if delivery else None)

    if delivery:
        status = Delivery.Status.COMPLAINED if kind == COMPLAINT else Delivery.Status.BOUNCED
        Delivery.objects.filter(pk=delivery.pk).update(
            status=status, error=description[:1000] or event_type, updated_at=timezone.now()
        )
    if kind == COMPLAINT and delivery and delivery.subscriber:
        unsubscribe(
            subscriber=delivery.subscriber,
            source=ConsentEvent.Source.ESP_EVENT,
            details={**campaign_details, "reason": "complaint"},
        )
    if email:
        suppress_address(
            email=normalise_email(email),
            reason=Suppression.Reason.COMPLAINT if kind == COMPLAINT else Suppression.Reason.HARD_BOUNCE,
            source=ConsentEvent.Source.ESP_EVENT,
            details={**campaign_details, "event": event_type, "description": description[:500]},
        )
    else:
        logger.warning("Tracking event %s for unknown message %s ignored", event_type, message_id)
    return TrackingOutcome(kind=kind, delivery_id=delivery.pk if delivery else None)
