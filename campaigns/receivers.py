"""anymail's tracking signal → campaigns.tracking; erasure → the ignored-events log
(both connected in CampaignsConfig.ready)."""

from __future__ import annotations

from anymail.signals import AnymailTrackingEvent

from campaigns.tracking import erase_ignored_events, record_tracking_event


def on_tracking(sender, event: AnymailTrackingEvent, esp_name: str, **kwargs) -> None:
    # A few indexed writes: done inline, well within the ESPs' webhook timeouts.
    record_tracking_event(
        event_type=event.event_type,
        message_id=event.message_id,
        recipient=event.recipient,
        esp_event=event.esp_event,
        description=event.description or event.mta_response or "",
        esp=esp_name,
        event_id=event.event_id,
    )


def on_subscriber_erasing(sender, email_hash: str, **kwargs) -> None:
    erase_ignored_events(address_hash=email_hash)
