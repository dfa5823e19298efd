"""Search across the conversations a person may see: subscriber address and name, subject,
message text (the full text, so the stripped text too), internal notes, tags and campaign.

On PostgreSQL: full-text search with the German and the English configuration at once (a
subscriber may write either; "Heizungen" finds "Heizung", "pumps" finds "pump"), through GIN
expression indexes (migration 0007_inbox) whose expressions are the ones below, character for
character: change one, change the other, or the index is no longer used. Elsewhere (SQLite,
`make run` on a bare machine): case-insensitive substring matching on the same fields.

Results are the newest activity first, keyset-paginated (replies.pagination).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from django.contrib.auth.models import AbstractBaseUser
from django.db import connection
from django.db.models import BooleanField, Q, QuerySet
from django.db.models.expressions import RawSQL
from django.utils import timezone

from replies import selectors
from replies.models import Conversation, ConversationEvent, Message, Tag
from replies.pagination import Order
from subscribers.models import Subscriber, email_hash

# Newest activity first.
ORDER = Order("last_message_at", descending=True)

# The indexed documents (migration 0007_inbox creates the GIN indexes on exactly these).
MESSAGE_DOCUMENT = (
    "left(coalesce(subject, '') || ' ' || coalesce(from_address, '') || ' ' || coalesce(text, ''), 200000)"
)
NOTE_DOCUMENT = "left(coalesce(text, ''), 200000)"
CONVERSATION_DOCUMENT = "coalesce(subject, '') || ' ' || coalesce(contact_address, '')"


def vector(document: str) -> str:
    return f"(to_tsvector('german'::regconfig, {document}) || to_tsvector('english'::regconfig, {document}))"


QUERY = "(websearch_to_tsquery('german'::regconfig, %s) || websearch_to_tsquery('english'::regconfig, %s))"

STATUSES = ("open", "snoozed", "closed")


@dataclass(frozen=True)
class Filters:
    status: str = ""
    assignee: str = ""  # a user id, or "none"
    team: int | None = None
    tag: int | None = None
    campaign: int | None = None
    date_from: date | None = None
    date_to: date | None = None

    @property
    def any(self) -> bool:
        return any(
            [self.status, self.assignee, self.team, self.tag, self.campaign, self.date_from, self.date_to]
        )


def uses_full_text() -> bool:
    return connection.vendor == "postgresql"


def _matches(document: str, query: str) -> RawSQL:
    return RawSQL(f"{vector(document)} @@ {QUERY}", (query, query), output_field=BooleanField())


def _matching_ids_postgresql(query: str) -> Q:
    in_messages = Message.objects.filter(_matches(MESSAGE_DOCUMENT, query)).values("conversation_id")
    in_notes = ConversationEvent.objects.filter(
        _matches(NOTE_DOCUMENT, query), kind=ConversationEvent.Kind.NOTE
    ).values("conversation_id")
    itself = Conversation.objects.filter(_matches(CONVERSATION_DOCUMENT, query)).values("pk")
    return Q(pk__in=in_messages) | Q(pk__in=in_notes) | Q(pk__in=itself)


def _matching_ids_plain(query: str) -> Q:
    in_messages = Message.objects.filter(
        Q(text__icontains=query)
        | Q(stripped_text__icontains=query)
        | Q(subject__icontains=query)
        | Q(from_address__icontains=query)
    ).values("conversation_id")
    in_notes = ConversationEvent.objects.filter(
        kind=ConversationEvent.Kind.NOTE, text__icontains=query
    ).values("conversation_id")
    return (
        Q(pk__in=in_messages)
        | Q(pk__in=in_notes)
        | Q(subject__icontains=query)
        | Q(contact_address__icontains=query)
    )


def _matching(query: str) -> Q:
    """Every conversation the words match, in any of the searched fields."""
    found = _matching_ids_postgresql(query) if uses_full_text() else _matching_ids_plain(query)
    # Subscriber (name, or the whole address), tags and campaigns: small tables, matched by substring.
    subscribers = Subscriber.objects.filter(name__icontains=query)
    if "@" in query:
        subscribers = subscribers | Subscriber.objects.filter(email_hash=email_hash(query.strip()))
    found |= Q(subscriber_id__in=subscribers.values("pk"))
    found |= Q(pk__in=Tag.objects.filter(name__iexact=query.strip().lstrip("#")).values("conversations"))
    found |= Q(campaign__name__icontains=query)
    return found


def _filtered(conversations: QuerySet[Conversation], filters: Filters) -> QuerySet[Conversation]:
    if filters.status in STATUSES:
        conversations = conversations.filter(status=filters.status)
    if filters.assignee == "none":
        conversations = conversations.filter(assignee__isnull=True)
    elif filters.assignee.isdigit():
        conversations = conversations.filter(assignee_id=int(filters.assignee))
    if filters.team:
        conversations = conversations.filter(team_id=filters.team)
    if filters.tag:
        conversations = conversations.filter(
            pk__in=Tag.objects.filter(pk=filters.tag).values("conversations")
        )
    if filters.campaign:
        conversations = conversations.filter(campaign_id=filters.campaign)
    tz = timezone.get_current_timezone()
    if filters.date_from:
        conversations = conversations.filter(
            last_message_at__gte=datetime.combine(filters.date_from, time.min, tzinfo=tz)
        )
    if filters.date_to:
        conversations = conversations.filter(
            last_message_at__lt=datetime.combine(filters.date_to + timedelta(days=1), time.min, tzinfo=tz)
        )
    return conversations


def search(user: AbstractBaseUser, query: str, filters: Filters | None = None) -> QuerySet[Conversation]:
    """The conversations this person may see that match the words and the filters (unordered:
    replies.pagination orders and pages it). No words and no filters: nothing."""
    query = query.strip()[:200]
    filters = filters or Filters()
    if not query and not filters.any:
        return Conversation.objects.none()
    conversations = selectors.visible_conversations(user)
    if query:
        conversations = conversations.filter(_matching(query))
    return _filtered(conversations, filters).select_related("subscriber", "campaign", "assignee", "team")
