"""Reads for the replies app: queues, counts, display names."""

from __future__ import annotations

from dataclasses import dataclass

from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser
from django.db.models import Count, F, Q, QuerySet, TextField
from django.db.models.functions import Cast, Coalesce, Lower
from django.utils import timezone

from replies.models import Conversation, InboundMessage, Message, StaffProfile, Team


@dataclass(frozen=True)
class CampaignReplies:
    """Human replies to a campaign (auto-replies, bounces and unsubscribes not counted)."""

    messages: int  # every reply, follow-ups included
    people: int  # who replied, each counted once however often they wrote


def campaign_replies(campaign_id: int) -> CampaignReplies:
    """People are subscribers (or, for a conversation without one, the sender's address)."""
    counts = Message.objects.filter(
        conversation__campaign_id=campaign_id,
        direction=Message.Direction.INBOUND,
        kind=InboundMessage.Kind.HUMAN,
    ).aggregate(
        messages=Count("pk"),
        people=Count(
            Coalesce(
                Cast("conversation__subscriber_id", TextField()),
                Lower("from_address"),
            ),
            distinct=True,
        ),
    )
    return CampaignReplies(messages=counts["messages"], people=counts["people"])


def staff_display_name(user: AbstractBaseUser) -> str:
    """The name a staff member answers under: profile display name, else full name, else username."""
    try:
        profile = user.staff_profile
    except StaffProfile.DoesNotExist:
        profile = None
    if profile and profile.display_name:
        return profile.display_name
    return user.get_full_name() or user.get_username()


def wants_reply_notifications(user: AbstractBaseUser | None) -> bool:
    """A mail per new reply: only with an address, and unless the person turned it off."""
    if user is None or not user.email:
        return False
    try:
        return user.staff_profile.notify_by_email
    except StaffProfile.DoesNotExist:
        return True


# --- Queues and visibility ------------------------------------------------------------------

QUEUES = ("mine", "team", "unassigned", "unmatched", "snoozed", "closed", "all")


def can_see_all(user: AbstractBaseUser) -> bool:
    return user.has_perm("replies.view_all_conversations")


def visible_conversations(user: AbstractBaseUser) -> QuerySet[Conversation]:
    """Staff see their own, their teams' and the unassigned conversations; managers see all."""
    conversations = Conversation.objects.all()
    if can_see_all(user):
        return conversations
    team_ids = list(Team.objects.filter(members__user=user).values_list("id", flat=True))
    return conversations.filter(Q(assignee=user) | Q(team_id__in=team_ids) | Q(assignee__isnull=True))


def _waiting(conversations: QuerySet[Conversation]) -> QuerySet[Conversation]:
    """Open, or snoozed until a time that has passed (the snooze ends by itself)."""
    now = timezone.now()
    return conversations.filter(
        Q(status=Conversation.Status.OPEN) | Q(status=Conversation.Status.SNOOZED, snoozed_until__lte=now)
    )


def queue(user: AbstractBaseUser, name: str) -> QuerySet[Conversation]:
    """One queue of the inbox, oldest waiting first (answered conversations after those waiting)."""
    visible = visible_conversations(user)
    if name == "mine":
        result = _waiting(visible.filter(assignee=user))
    elif name == "team":
        team_ids = list(Team.objects.filter(members__user=user).values_list("id", flat=True))
        result = _waiting(visible.filter(team_id__in=team_ids))
    elif name == "unassigned":
        result = _waiting(visible.filter(assignee__isnull=True, is_unmatched=False))
    elif name == "unmatched":
        result = _waiting(visible.filter(is_unmatched=True))
    elif name == "snoozed":
        result = visible.filter(status=Conversation.Status.SNOOZED, snoozed_until__gt=timezone.now())
    elif name == "closed":
        return (
            visible.filter(status=Conversation.Status.CLOSED)
            .select_related("subscriber", "campaign", "assignee")
            .order_by("-last_message_at", "-id")
        )
    elif name == "all":
        result = _waiting(visible)
    else:
        raise ValueError(f"unknown queue {name!r}")
    return result.select_related("subscriber", "campaign", "assignee", "team").order_by(
        F("waiting_since").asc(nulls_last=True), "id"
    )


def queue_counts(user: AbstractBaseUser) -> dict[str, int]:
    names = [n for n in QUEUES if n not in ("closed",)]
    if not can_see_all(user):
        names.remove("all")
    return {name: queue(user, name).count() for name in names}


def failed_inbound() -> QuerySet[InboundMessage]:
    return InboundMessage.objects.filter(status=InboundMessage.Status.FAILED).defer("raw")


def automatic_inbound() -> QuerySet[InboundMessage]:
    """Auto-replies, bounces, complaints and unsubscribes: recognised, kept, never queued."""
    return InboundMessage.objects.filter(
        status=InboundMessage.Status.PROCESSED,
        kind__in=[
            InboundMessage.Kind.AUTO_REPLY,
            InboundMessage.Kind.BOUNCE,
            InboundMessage.Kind.COMPLAINT,
            InboundMessage.Kind.UNSUBSCRIBE,
        ],
    ).defer("raw")


def assignable_staff() -> QuerySet:
    """People a conversation can be given to: members of Staff or Managers, active."""
    return (
        get_user_model()
        .objects.filter(is_active=True, groups__name__in=["Staff", "Managers"])
        .distinct()
        .order_by("first_name", "username")
    )


def thread(conversation: Conversation) -> list:
    """Messages and staff events of one conversation, in order."""
    messages = list(
        conversation.messages.select_related("author", "inbound")
        .prefetch_related("attachments")
        .defer("inbound__raw")
    )
    events = list(conversation.events.select_related("actor", "assignee"))
    items = [("message", m.created_at, m) for m in messages] + [("event", e.created_at, e) for e in events]
    items.sort(key=lambda item: item[1])
    return items
