"""Reads for the replies app: queues, counts, display names."""

from __future__ import annotations

from django.contrib.auth.models import AbstractBaseUser

from replies.models import InboundMessage, Message, StaffProfile


def replies_received_for_campaign(campaign_id: int) -> int:
    """Human replies to a campaign (auto-replies, bounces and unsubscribes not counted)."""
    return Message.objects.filter(
        conversation__campaign_id=campaign_id,
        direction=Message.Direction.INBOUND,
        kind=InboundMessage.Kind.HUMAN,
    ).count()


def staff_display_name(user: AbstractBaseUser) -> str:
    """The name a staff member answers under: profile display name, else full name, else username."""
    try:
        profile = user.staff_profile
    except StaffProfile.DoesNotExist:
        profile = None
    if profile and profile.display_name:
        return profile.display_name
    return user.get_full_name() or user.get_username()
