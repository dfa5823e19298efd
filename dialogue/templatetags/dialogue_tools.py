"""Template tags for the includes other apps' pages carry (campaign detail, conversation,
preference centre): each include loads what it shows, so those views stay unchanged."""

from __future__ import annotations

from django import template

from dialogue import selectors

register = template.Library()


@register.simple_tag
def archive_state(campaign) -> dict:
    """Whether a campaign is on the public archive, and where."""
    topic = selectors.public_topic_of(campaign)
    return {
        "sent": campaign.status == "sent",
        "public_topic": topic,
        "on_archive": selectors.is_on_archive(campaign),
    }
