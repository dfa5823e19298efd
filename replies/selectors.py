"""Reads for the replies app: queues, counts, display names."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser
from django.db.models import Count, F, Max, Q, QuerySet, TextField
from django.db.models.functions import Cast, Coalesce, Lower, TruncDay, TruncHour
from django.utils import timezone
from django.utils.translation import gettext as _

from replies.models import Conversation, InboundMessage, Message, StaffProfile, Tag, Team
from replies.pagination import Order
from subscribers.models import Subscriber, Subscription
from subscribers.selectors import is_suppressed


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


def campaign_repliers_by_language(campaign_id: int) -> dict[str, int]:
    """People who replied to a campaign, per subscriber language (conversations without a
    subscriber are left out: their language is unknown)."""
    rows = (
        Message.objects.filter(
            conversation__campaign_id=campaign_id,
            conversation__subscriber__isnull=False,
            direction=Message.Direction.INBOUND,
            kind=InboundMessage.Kind.HUMAN,
        )
        .values("conversation__subscriber__language")
        .annotate(people=Count("conversation__subscriber_id", distinct=True))
    )
    return {row["conversation__subscriber__language"]: row["people"] for row in rows}


def campaign_replies_over_time(campaign_id: int, *, unit: str) -> dict:
    """Human replies to a campaign per hour or day ({start of the bucket: count}), for its stats."""
    trunc = {"hour": TruncHour, "day": TruncDay}[unit]
    rows = (
        Message.objects.filter(
            conversation__campaign_id=campaign_id,
            direction=Message.Direction.INBOUND,
            kind=InboundMessage.Kind.HUMAN,
        )
        .annotate(bucket=trunc("created_at"))
        .values("bucket")
        .annotate(count=Count("pk"))
    )
    return {row["bucket"]: row["count"] for row in rows}


@dataclass(frozen=True)
class TagCount:
    tag_id: int
    name: str
    conversations: int  # conversations of the campaign carrying the tag
    people: int  # their subscribers (or, without one, senders), each counted once


def campaign_tag_counts(campaign_id: int) -> list[TagCount]:
    """The staff tags on a campaign's conversations, most used first: the themes staff saw."""
    rows = (
        Tag.objects.filter(conversations__campaign_id=campaign_id)
        .annotate(
            used=Count("conversations", distinct=True),
            people=Count(
                Coalesce(
                    Cast("conversations__subscriber_id", TextField()),
                    Lower("conversations__contact_address"),
                ),
                distinct=True,
            ),
        )
        .order_by("-used", "name")
    )
    return [TagCount(tag_id=t.pk, name=t.name, conversations=t.used, people=t.people) for t in rows]


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
    """Staff see their own, their teams' and the unassigned conversations; managers see all.

    Except what a subscriber kept for their contact person (dialogue.models.ConversationWish,
    reached by its relation name, no import): only the assignee reads it, and a manager who
    recorded an override for it (dialogue.models.ReaderOverride, with the reason).
    """
    overridden = Conversation.objects.filter(reader_overrides__manager=user).values("pk")
    readable = ~Q(dialogue_wish__readers="contact") | Q(assignee=user) | Q(pk__in=overridden)
    conversations = Conversation.objects.filter(readable)
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


def waiting_conversations() -> QuerySet[Conversation]:
    """Every conversation waiting for an answer (the backlog)."""
    return _waiting(Conversation.objects.filter(waiting_since__isnull=False))


def queue_order(name: str) -> Order:
    """Closed: newest activity first; every other queue: oldest waiting first (answered ones last)."""
    return Order("last_message_at", descending=True) if name == "closed" else Order("waiting_since")


INBOUND_ORDER = Order("received_at", descending=True)


def queue(user: AbstractBaseUser, name: str) -> QuerySet[Conversation]:
    """One queue of the inbox (unpaged; replies.pagination pages it in queue_order(name))."""
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


def refused_inbound() -> QuerySet[InboundMessage]:
    """Answers by mail to a notification that were refused (wrong sender, unknown token, ...)."""
    return InboundMessage.objects.filter(
        status=InboundMessage.Status.PROCESSED, kind=InboundMessage.Kind.REFUSED
    ).defer("raw")


def new_conversation_refusal(subscriber: object) -> str:
    """Why we must not write to this subscriber out of the blue ("" if we may).

    Writing first needs their consent: a confirmed subscriber with at least one active topic,
    whose address is not suppressed (unsubscribed, bounced, complained, erased). Answering
    in a conversation they began is not writing first (services.queue_staff_answer).
    """
    if subscriber is None:
        return _("The subscriber was erased: nobody can write to them.")
    if is_suppressed(subscriber.email):
        return _(
            "%(email)s is on the suppression list (unsubscribed, bounced, complained or erased): "
            "we must not write to them first."
        ) % {"email": subscriber.email}
    if (
        subscriber.status == Subscriber.Status.UNSUBSCRIBED
        or not subscriber.subscriptions.filter(status=Subscription.Status.ACTIVE).exists()
    ):
        return _(
            "%(email)s has unsubscribed from everything: we must not write to them first. "
            "If they write to us, their conversation can be answered."
        ) % {"email": subscriber.email}
    if subscriber.status != Subscriber.Status.CONFIRMED:
        return _("%(email)s has not confirmed the subscription yet: we must not write to them first.") % {
            "email": subscriber.email
        }
    return ""


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


@dataclass(frozen=True)
class ConsentLine:
    kind: str
    source: str
    at: object  # the latest of the events this line stands for
    count: int


def consent_lines(subscriber: object, limit: int = 5) -> list[ConsentLine]:
    """The subscriber's consent history for the sidebar, newest first, one line per kind and
    source: the same event recorded more than once (a confirmation link clicked twice, a
    preference saved twice) is one line with its count, not two identical lines."""
    lines: dict[tuple[str, str], ConsentLine] = {}
    for event in subscriber.consent_events.order_by("-created_at", "-id")[:200]:
        key = (event.get_kind_display(), event.get_source_display())
        if key in lines:
            line = lines[key]
            lines[key] = ConsentLine(line.kind, line.source, line.at, line.count + 1)
        elif len(lines) < limit:
            lines[key] = ConsentLine(key[0], key[1], event.created_at, 1)
    return list(lines.values())


def thread_version(conversation: Conversation) -> str:
    """A fingerprint of everything the thread shows: changes when a reply, answer, note or
    assignment arrives or an answer's send state moves on (the live view re-renders then)."""
    messages = conversation.messages.aggregate(
        count=Count("pk"), last=Max("pk"), status_at=Max("send_status_at")
    )
    events = conversation.events.aggregate(count=Count("pk"), last=Max("pk"))
    current = (
        Conversation.objects.filter(pk=conversation.pk)
        .values_list("status", "assignee_id", "snoozed_until")
        .first()
    )
    status_at = messages["status_at"].timestamp() if messages["status_at"] else 0
    state = (
        f"{messages['count']}.{messages['last']}.{status_at:.3f}.{events['count']}.{events['last']}.{current}"
    )
    return hashlib.sha256(state.encode()).hexdigest()[:16]


def last_answer_id(conversation: Conversation) -> int:
    """The newest answer in the conversation (0: none): what a composer saw when it was loaded."""
    return (
        conversation.messages.filter(direction=Message.Direction.OUTBOUND).aggregate(last=Max("pk"))["last"]
        or 0
    )


def answers_since(conversation: Conversation, answer_id: int, *, exclude_author_id: int) -> list[Message]:
    """Answers by somebody else written after the composer was loaded (a possible double answer)."""
    return list(
        conversation.messages.filter(direction=Message.Direction.OUTBOUND, pk__gt=answer_id)
        .exclude(author_id=exclude_author_id)
        .select_related("author")
        .order_by("pk")
    )


def other_conversations(user: AbstractBaseUser, conversation: Conversation) -> list[Conversation]:
    """The same subscriber's (or unknown sender's) other conversations this person sees: where
    a merge or a moved message can go, and the customer history in the sidebar."""
    others = visible_conversations(user).exclude(pk=conversation.pk)
    if conversation.subscriber_id:
        others = others.filter(subscriber_id=conversation.subscriber_id)
    elif conversation.contact_address:
        others = others.filter(subscriber__isnull=True, contact_address__iexact=conversation.contact_address)
    else:
        return []
    return list(
        others.select_related("campaign", "assignee")
        .prefetch_related("tags")
        .order_by("-last_message_at", "-id")[:50]
    )


def is_following(user: AbstractBaseUser, conversation: Conversation) -> bool:
    return conversation.follows.filter(user=user).exists()


def next_waiting(user: AbstractBaseUser, current: Conversation) -> Conversation | None:
    """Where "next conversation" goes: the oldest waiting one in their own queue, else their
    teams', else the unassigned (never the one they are on)."""
    for name in ("mine", "team", "unassigned"):
        found = (
            queue(user, name)
            .exclude(pk=current.pk)
            .filter(waiting_since__isnull=False)
            .order_by("waiting_since", "id")
            .first()
        )
        if found is not None:
            return found
    return None
