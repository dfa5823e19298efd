"""What campaigns store about a subscriber, for their data download (see subscribers.exports)."""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _

from campaigns.models import Delivery
from subscribers import exports
from subscribers.models import Subscriber


def _deliveries(subscriber: Subscriber):
    return (
        Delivery.objects.filter(subscriber=subscriber).select_related("campaign").order_by("created_at", "pk")
    )


def _collect(subscriber: Subscriber) -> exports.SectionData:
    return exports.SectionData(
        records=[
            {
                "campaign": delivery.campaign.name,
                "subject": delivery.campaign.subject,
                "status": delivery.status,
                "created_at": delivery.created_at,
                "sent_at": delivery.sent_at,
                "message_id": delivery.message_id,
                "soft_bounces": delivery.soft_bounces,
                "error": delivery.error,
            }
            for delivery in _deliveries(subscriber)
        ]
    )


def register() -> None:
    """Called from CampaignsConfig.ready."""
    exports.register(
        exports.Section(
            key="deliveries",
            label=_("Newsletters we sent you (campaign, time, state)"),
            count=lambda subscriber: _deliveries(subscriber).count(),
            collect=_collect,
        )
    )
