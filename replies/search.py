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

import json
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from django.contrib.auth.models import AbstractBaseUser
from django.db import connection
from django.db.models import BooleanField, Q, QuerySet
from django.db.models.expressions import RawSQL
from django.utils import timezone

from campaigns.interface import campaign_ids_named
from replies import selectors
from replies.models import Conversation, ConversationEvent, Message, Tag
from replies.pagination import Order
from subscribers.models import Subscriber, email_hash

# Newest activity first.
ORDER = Order("last_message_at", descending=True)

# The indexed documents (migration 0007_inbox creates the GIN indexes on exactly these).
# Messages, the big table, keep their vector in a stored generated column (search_vector, on
# PostgreSQL only, unknown to the model): a phrase query rechecks rows, and recomputing two
# to_tsvector()s per candidate row made a phrase search over a million messages take seconds.
MESSAGE_DOCUMENT = (
    "left(coalesce(subject, '') || ' ' || coalesce(from_address, '') || ' ' || coalesce(text, ''), 200000)"
)
NOTE_DOCUMENT = "left(coalesce(text, ''), 200000)"
CONVERSATION_DOCUMENT = "coalesce(subject, '') || ' ' || coalesce(contact_address, '')"
# The same document, of the rows of a query that names its table (the broad way).
CONVERSATION_DOCUMENT_OF_ROW = (
    "coalesce(replies_conversation.subject, '') || ' ' || coalesce(replies_conversation.contact_address, '')"
)
# Subscribers' names: words as they are (a name has no stem), "simple" configuration.
NAME_VECTOR = "to_tsvector('simple'::regconfig, coalesce(name, ''))"
NAME_QUERY = "websearch_to_tsquery('simple'::regconfig, %s)"


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


def _raw(condition: str, *params: str) -> RawSQL:
    return RawSQL(condition, params, output_field=BooleanField())


def _messages_full_text(query: str) -> QuerySet:
    return Message.objects.filter(_raw(f"search_vector @@ {QUERY}", query, query))


# The first three parts of _full_text: messages, notes, the conversation's own subject and
# address (the broad way, _broad_condition, treats them apart); the rest are looked up whole.
ROW_PARTS = 3


def _full_text(query: str) -> list[QuerySet]:
    return [
        _messages_full_text(query).values("conversation_id"),
        ConversationEvent.objects.filter(
            _raw(f"{vector(NOTE_DOCUMENT)} @@ {QUERY}", query, query), kind=ConversationEvent.Kind.NOTE
        ).values("conversation_id"),
        Conversation.objects.filter(_raw(f"{vector(CONVERSATION_DOCUMENT)} @@ {QUERY}", query, query)).values(
            "pk"
        ),
        Conversation.objects.filter(
            subscriber_id__in=Subscriber.objects.filter(_raw(f"{NAME_VECTOR} @@ {NAME_QUERY}", query)).values(
                "pk"
            )
        ).values("pk"),
    ]


def _substrings(query: str) -> list[QuerySet]:
    return [
        Message.objects.filter(
            Q(text__icontains=query)
            | Q(stripped_text__icontains=query)
            | Q(subject__icontains=query)
            | Q(from_address__icontains=query)
        ).values("conversation_id"),
        ConversationEvent.objects.filter(kind=ConversationEvent.Kind.NOTE, text__icontains=query).values(
            "conversation_id"
        ),
        Conversation.objects.filter(
            Q(subject__icontains=query)
            | Q(contact_address__icontains=query)
            | Q(subscriber__name__icontains=query)
            | Q(subscriber__email__icontains=query)
        ).values("pk"),
    ]


def _matching(query: str) -> QuerySet:
    """The ids of every conversation the words match, in any of the searched fields: one UNION,
    each part answered by its own index, before any conversation row is read."""
    parts = _matching_parts(query)
    return parts[0].union(*parts[1:])


def _matching_parts(query: str) -> list[QuerySet]:
    parts = _full_text(query) if uses_full_text() else _substrings(query)
    if "@" in query:  # a whole address: the subscriber by their address's hash (indexed)
        parts.append(
            Conversation.objects.filter(
                subscriber_id__in=Subscriber.objects.filter(email_hash=email_hash(query)).values("pk")
            ).values("pk")
        )
    # Tags and campaigns: small tables, looked up first, so that the plan sees what they found
    # (a join to an empty campaigns table was estimated as every conversation).
    tag_ids = list(Tag.objects.filter(name__iexact=query.lstrip("#")).values_list("pk", flat=True))
    if tag_ids:
        parts.append(Conversation.tags.through.objects.filter(tag_id__in=tag_ids).values("conversation_id"))
    campaign_ids = campaign_ids_named(query)
    if campaign_ids:
        parts.append(Conversation.objects.filter(campaign_id__in=campaign_ids).values("pk"))
    return [part.order_by() for part in parts]


def _probe(matching_parts: list[QuerySet], limit: int) -> list[int]:
    """Up to `limit` hits (conversation ids, with repeats) of every part, UNION ALL: it stops
    reading after `limit` rows, where a UNION would read every match to remove the repeats."""
    parts = [part.query.sql_with_params() for part in matching_parts]
    sql = " UNION ALL ".join(f"({part_sql})" for part_sql, _params in parts)
    params = [param for _sql, part_params in parts for param in part_params]
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT * FROM ({sql}) AS hits LIMIT %s", [*params, limit])
        return [row[0] for row in cursor.fetchall()]


def _tagged(tag_id: int) -> QuerySet:
    return Conversation.tags.through.objects.filter(tag_id=tag_id).values("conversation_id")


def _estimate(queryset: QuerySet) -> int:
    """PostgreSQL's estimate of the rows a query returns (from the statistics of its indexes,
    no row read)."""
    sql, params = queryset.query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute(f"EXPLAIN (FORMAT JSON) {sql}", params)
        plan = cursor.fetchone()[0]
    if isinstance(plan, str):
        plan = json.loads(plan)
    return int(plan[0]["Plan"]["Plan Rows"])


def estimated_message_hits(query: str) -> int:
    """How many messages the words match, as PostgreSQL estimates it: a word in tens of
    thousands of messages need not be probed."""
    return _estimate(_messages_full_text(query).values("pk"))


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
        # The through table directly: from the tag (a LEFT JOIN) PostgreSQL checked every
        # conversation of the activity index against the tag, one by one.
        conversations = conversations.filter(pk__in=_tagged(filters.tag))
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


# Up to this many hits (matching messages, notes, ...) a search is answered from the ids of
# their conversations, with an exact count; beyond it ("heat pump" in an energy newsletter's
# inbox), from the newest conversations down (replies.pagination over the activity index, each
# checked against the message index), and the page says "many" instead of a count, which would
# read every match. Every match is still reachable, page by page. The same for a tag filter
# alone: a tag on more conversations than this is not counted.
BROAD_MATCHES = 1000
# Between BROAD_MATCHES and this many hits the probe reads them all (a few milliseconds): the
# page comes from their conversations' ids, not counted. Checking conversation by conversation
# (the broad way) would read tens of thousands of conversations to fill a page of such a word.
PROBE_LIMIT = 6 * BROAD_MATCHES
# Words PostgreSQL estimates in more messages than this go the broad way without probing first
# (the probe reads its first BROAD_MATCHES + 1 hits: ~40 ms for a word in 50,000 messages). The
# estimate is ten times the limit: even a tenfold overestimate still has more than
# BROAD_MATCHES hits, so a narrow search is never mistaken for a broad one.
SURELY_BROAD = 10 * BROAD_MATCHES
# The broad way checks each conversation's own subject per row only when PostgreSQL expects
# more subjects than this to match (a word of the subjects' everyday vocabulary); below it, and
# for every word the statistics do not know (estimated at ~2,500 of 250,000 whatever it is),
# the matching subjects are looked up once: per row, two to_tsvector() calls on each of the
# thousands of conversations a sparse word's first page reads cost more.
SUBJECTS_PER_ROW = 5 * BROAD_MATCHES


def _broad_condition(query: str, parts: list[QuerySet]) -> Q:
    """Many hits: the conversations, newest first, are checked one by one against their
    messages (an EXISTS each; OFFSET 0 keeps PostgreSQL from turning it into a hashed list of
    every match, which is what this path avoids), so the first page stops after a few hundred
    or thousand conversations. The other parts (notes, subscribers by name or address, tags,
    campaigns) are looked up whole, and so are the conversations' own subjects unless
    PostgreSQL expects very many of them: then each row's subject is checked instead (two
    to_tsvector() calls per conversation read, cheaper than collecting thousands)."""
    condition = (
        "EXISTS (SELECT 1 FROM replies_message m WHERE m.conversation_id = replies_conversation.id"
        f" AND m.search_vector @@ {QUERY} OFFSET 0)"
    )
    params = [query] * 2
    notes, subjects, whole = parts[1], parts[2], parts[ROW_PARTS:]
    if _estimate(subjects) > SUBJECTS_PER_ROW:
        condition += f" OR {vector(CONVERSATION_DOCUMENT_OF_ROW)} @@ {QUERY}"
        params += [query] * 2
        whole = [notes, *whole]
    else:
        whole = [notes, subjects, *whole]
    rest = whole[0].union(*whole[1:])
    sql, rest_params = rest.query.sql_with_params()
    return _raw(condition, *params) | Q(pk__in=RawSQL(sql, rest_params))


@dataclass(frozen=True)
class Results:
    conversations: QuerySet[Conversation]
    exact: bool  # False: more than BROAD_MATCHES matched, the total is not counted


def search(user: AbstractBaseUser, query: str, filters: Filters | None = None) -> QuerySet[Conversation]:
    """The conversations this person may see that match the words and the filters (unordered:
    replies.pagination orders and pages it). No words and no filters: nothing."""
    return find(user, query, filters).conversations


def find(user: AbstractBaseUser, query: str, filters: Filters | None = None) -> Results:
    """search(), and whether its total can be counted exactly (see BROAD_MATCHES)."""
    query = query.strip()[:200]
    filters = filters or Filters()
    if not query and not filters.any:
        return Results(Conversation.objects.none(), exact=True)
    conversations = _filtered(selectors.visible_conversations(user), filters)
    exact = True
    if not query and filters.tag and _tagged(filters.tag).count() > BROAD_MATCHES:
        exact = False  # a tag on thousands of conversations: paged, not counted
    if query:
        parts = _matching_parts(query)
        matching = parts[0].union(*parts[1:])
        ids, broad = None, False
        if uses_full_text():
            broad = estimated_message_hits(query) > SURELY_BROAD
            ids = [] if broad else _probe(parts, PROBE_LIMIT + 1)
        if ids is not None and not broad and len(ids) <= PROBE_LIMIT:
            conversations = conversations.filter(pk__in=set(ids))
            exact = len(ids) <= BROAD_MATCHES
        elif ids is not None:
            exact = False
            conversations = conversations.filter(_broad_condition(query, parts))
        else:
            # Compiled once: the page runs two queries (count, page) with this subquery in both.
            sql, params = matching.query.sql_with_params()
            conversations = conversations.filter(pk__in=RawSQL(sql, params))
    return Results(conversations.select_related("subscriber", "campaign", "assignee", "team"), exact=exact)
