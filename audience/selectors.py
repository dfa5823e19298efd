"""Reads of the audience desk: the subscriber list (keyset-paged, counted), a subscriber's page,
topics with their counts, and the audience over time.

The list never uses OFFSET: every page continues after the last row of the one before
(``WHERE (sort key, id) > (last) ORDER BY sort key, id LIMIT n``) on an index per sort order, so
page 1 and page 20,000 cost the same. Counting a filter result exactly can take longer than a page
at a million subscribers: the count gets a time budget, and when it runs out the planner's
estimate is shown, marked as one.
"""

from __future__ import annotations

import base64
import binascii
import json
import time
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from django.db import DatabaseError, connection, transaction
from django.db.models import (
    BigIntegerField,
    BooleanField,
    Count,
    DateTimeField,
    ExpressionWrapper,
    F,
    Q,
    QuerySet,
    Value,
)
from django.db.models.expressions import RawSQL
from django.db.models.functions import Concat, Lower, TruncWeek
from django.utils import formats, timezone
from django.utils.dateparse import parse_datetime
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _

from subscribers.models import Attribute, Segment, Subscriber, Subscription, Suppression, Topic

PAGE_SIZE = 50
# What an exact count may take before the estimate is shown instead (PostgreSQL only).
COUNT_BUDGET_MS = 80
# More rows than PostgreSQL counts in that time on these machines (~2 M rows/s on an index).
COUNTABLE_IN_BUDGET = 150_000
# What the page query's index walk may take before it is planned without one (_planned).
PAGE_BUDGET_MS = 150
# A filter result the planner expects to be smaller than this gives the index walk only
# SHORT_WALK_MS before the fenced query (_planned): a walk that finds few matches usually passes
# most of the table, and would spend the whole PAGE_BUDGET_MS for nothing.
FENCE_BELOW = 20_000
SHORT_WALK_MS = 60
# What a whole list page may spend on its queries (list_page): the count gets what the page
# query left of it, at least MIN_COUNT_BUDGET_MS, at most COUNT_BUDGET_MS.
QUERY_BUDGET_MS = 200
MIN_COUNT_BUDGET_MS = 20

_TABLE = Subscriber._meta.db_table


@dataclass(frozen=True)
class SortOrder:
    key: str
    label: str


SORTS = (
    SortOrder("newest", _("Newest first")),
    SortOrder("oldest", _("Oldest first")),
    SortOrder("email", _("Address A–Z")),
    SortOrder("email_desc", _("Address Z–A")),
    SortOrder("name", _("Name A–Z")),
    SortOrder("confirmed", _("Most recently confirmed")),
)
SORT_KEYS = {sort.key for sort in SORTS}
DEFAULT_SORT = "newest"


class BadCursor(ValueError):
    """A page cursor that was not made by this page (edited by hand): start again at page 1."""


def encode_cursor(values: list) -> str:
    return base64.urlsafe_b64encode(json.dumps(values, separators=(",", ":")).encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> list:
    try:
        values = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (binascii.Error, ValueError) as exc:
        raise BadCursor(cursor) from exc
    if not isinstance(values, list) or not values:
        raise BadCursor(cursor)
    return values


def _row_after(columns: str, params: list, *, descending: bool = False) -> RawSQL:
    """A row comparison, ``(a, b) > (x, y)``: PostgreSQL walks the index from there."""
    operator = "<" if descending else ">"
    placeholders = ", ".join(["%s"] * len(params))
    return RawSQL(f"({columns}) {operator} ({placeholders})", params, output_field=BooleanField())


def _int(value) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise BadCursor(str(value))
    return value


def _key(name: str, fenced: bool):
    """A sort key; fenced, it is an expression no index matches (see _planned)."""
    if not fenced:
        return F(name)
    if name == "pk":
        return ExpressionWrapper(F("pk") + 0, output_field=BigIntegerField())
    if name == "confirmed_at":
        return ExpressionWrapper(F("confirmed_at") + Value(timedelta(0)), output_field=DateTimeField())
    return Concat(F(name), Value(""))


def _keyset(
    qs: QuerySet[Subscriber], sort: str, cursor: list | None, limit: int, fenced: bool = False
) -> list[Subscriber]:
    """``limit`` rows in the sort order, after the cursor's row."""
    if sort == "newest":
        if cursor:
            qs = qs.filter(pk__lt=_int(cursor[0]))
        return list(qs.order_by(_key("pk", fenced).desc())[:limit])
    if sort == "oldest":
        if cursor:
            qs = qs.filter(pk__gt=_int(cursor[0]))
        return list(qs.order_by(_key("pk", fenced).asc())[:limit])
    if sort in ("email", "email_desc"):
        # lower(email) is unique (subscriber_email_ci_unique), so it is a keyset by itself.
        qs = qs.alias(email_lower=Lower("email"))
        if cursor:
            if not isinstance(cursor[0], str):
                raise BadCursor(str(cursor))
            qs = qs.filter(**{"email_lower__lt" if sort == "email_desc" else "email_lower__gt": cursor[0]})
        key = _key("email_lower", fenced)
        return list(qs.order_by(key.desc() if sort == "email_desc" else key.asc())[:limit])
    if sort == "name":
        if cursor:
            if len(cursor) != 2 or not isinstance(cursor[0], str):
                raise BadCursor(str(cursor))
            qs = qs.filter(_row_after(f'"{_TABLE}"."name", "{_TABLE}"."id"', [cursor[0], _int(cursor[1])]))
        return list(qs.order_by(_key("name", fenced).asc(), _key("pk", fenced).asc())[:limit])
    if sort == "confirmed":
        return _by_confirmation(qs, cursor, limit, fenced)
    raise BadCursor(sort)


def _by_confirmation(
    qs: QuerySet[Subscriber], cursor: list | None, limit: int, fenced: bool
) -> list[Subscriber]:
    """Most recently confirmed first, never-confirmed last: two index walks, not one OR."""
    rows: list[Subscriber] = []
    in_nulls = False
    order = (_key("confirmed_at", fenced).desc(), _key("pk", fenced).desc())
    if cursor:
        if len(cursor) != 2:
            raise BadCursor(str(cursor))
        moment, last_id = cursor[0], _int(cursor[1])
        if moment is None:
            in_nulls = True
        else:
            parsed = parse_datetime(moment) if isinstance(moment, str) else None
            if parsed is None:
                raise BadCursor(str(cursor))
            confirmed = qs.filter(confirmed_at__isnull=False).filter(
                _row_after(f'"{_TABLE}"."confirmed_at", "{_TABLE}"."id"', [parsed, last_id], descending=True)
            )
            rows = list(confirmed.order_by(*order)[:limit])
    else:
        rows = list(qs.filter(confirmed_at__isnull=False).order_by(*order)[:limit])
    if len(rows) < limit:
        nulls = qs.filter(confirmed_at__isnull=True)
        if in_nulls:
            nulls = nulls.filter(pk__lt=last_id)
        rows += list(nulls.order_by(_key("pk", fenced).desc())[: limit - len(rows)])
    return rows


def _cursor_of(subscriber: Subscriber, sort: str) -> list:
    if sort in ("newest", "oldest"):
        return [subscriber.pk]
    if sort in ("email", "email_desc"):
        return [subscriber.email.lower()]
    if sort == "name":
        return [subscriber.name, subscriber.pk]
    return [subscriber.confirmed_at.isoformat() if subscriber.confirmed_at else None, subscriber.pk]


@dataclass(frozen=True)
class ListRow:
    subscriber: Subscriber
    topics: list[str]
    suppression: str  # the reason's label, or ""


@dataclass(frozen=True)
class Page:
    rows: list[ListRow]
    next_cursor: str | None


def subscriber_page(
    qs: QuerySet[Subscriber],
    *,
    sort: str,
    cursor: str = "",
    limit: int = PAGE_SIZE,
    expected: int | None = None,
) -> Page:
    """One page of the list with each row's active topics and suppression (two small queries).

    ``expected``: the planner's estimate of the filter result (estimate), if known."""
    if sort not in SORT_KEYS:
        sort = DEFAULT_SORT
    values = decode_cursor(cursor) if cursor else None
    found = _planned(
        lambda fenced: _keyset(qs.only(*LIST_FIELDS), sort, values, limit + 1, fenced),
        walk_ms=SHORT_WALK_MS if expected is not None and expected < FENCE_BELOW else PAGE_BUDGET_MS,
    )
    more, found = len(found) > limit, found[:limit]
    topics: dict[int, list[str]] = {}
    for subscriber_id, name in (
        Subscription.objects.filter(subscriber__in=[s.pk for s in found], status=Subscription.Status.ACTIVE)
        .order_by("topic__name")
        .values_list("subscriber_id", "topic__name")
    ):
        topics.setdefault(subscriber_id, []).append(name)
    reasons = dict(Suppression.Reason.choices)
    suppressed = {
        row["email_hash"]: str(reasons.get(row["reason"], row["reason"]))
        for row in Suppression.objects.filter(email_hash__in=[s.email_hash for s in found]).values(
            "email_hash", "reason"
        )
    }
    rows = [ListRow(s, topics.get(s.pk, []), suppressed.get(s.email_hash, "")) for s in found]
    return Page(rows=rows, next_cursor=encode_cursor(_cursor_of(found[-1], sort)) if more else None)


def _planned(fetch, *, walk_ms: int = PAGE_BUDGET_MS):
    """Run the page query; if PostgreSQL's plan walks an index for too long, plan it again.

    With ORDER BY ... LIMIT the planner walks the sort order's index and filters row by row,
    betting that matches come soon. For a combination of filters that matches few or none
    (say pending and English) that bet walks the whole table. The walk gets PAGE_BUDGET_MS;
    then the same page is asked for with the sort keys "fenced" (``id + 0``): no index has that
    order, so the filters' own indexes find the rows and only those are sorted. ``walk_ms``: the
    walk's budget (shorter when the planner expects few matches, see FENCE_BELOW).
    """
    if connection.vendor != "postgresql":
        return fetch(False)
    with transaction.atomic():
        try:
            with transaction.atomic():
                with connection.cursor() as cursor:
                    cursor.execute("SET LOCAL statement_timeout = %s", [f"{int(walk_ms)}ms"])
                    cursor.execute("SET LOCAL jit = off")
                return fetch(False)
        except DatabaseError:  # canceled by the statement timeout
            pass
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL jit = off")
        return fetch(True)


LIST_FIELDS = ("id", "email", "email_hash", "name", "language", "status", "created_at", "confirmed_at")


@dataclass(frozen=True)
class Total:
    value: int
    exact: bool

    @property
    def label(self) -> str:
        number = formats.number_format(self.value, force_grouping=True)
        if self.exact:
            return ngettext("%(count)s subscriber", "%(count)s subscribers", self.value) % {"count": number}
        return gettext(
            "about %(count)s subscribers (estimated: counting them exactly would take too long)"
        ) % {"count": number}


def estimate(qs: QuerySet[Subscriber]) -> int | None:
    """The planner's estimate of how many rows match (a millisecond); None off PostgreSQL."""
    if connection.vendor != "postgresql":
        return None
    return _estimate(qs)


def list_page(qs: QuerySet[Subscriber], *, sort: str, cursor: str = "") -> tuple[Page, Total]:
    """A page of the list and the count, within QUERY_BUDGET_MS of queries where possible.

    One estimate serves both (it picks the page query's plan and may be the count); the exact
    count gets the time the page query left. Raises BadCursor for a cursor not made here.
    """
    started = time.monotonic()
    expected = estimate(qs)
    page = subscriber_page(qs, sort=sort, cursor=cursor, expected=expected)
    spent_ms = (time.monotonic() - started) * 1000
    budget = int(min(COUNT_BUDGET_MS, max(MIN_COUNT_BUDGET_MS, QUERY_BUDGET_MS - spent_ms)))
    return page, count(qs, budget_ms=budget, expected=expected)


def _estimate(qs: QuerySet[Subscriber]) -> int:
    sql, params = qs.values("pk").query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute(f"EXPLAIN (FORMAT JSON) {sql}", params)
        plan = cursor.fetchone()[0]
    if isinstance(plan, str):
        plan = json.loads(plan)
    return int(plan[0]["Plan"]["Plan Rows"])


def count(
    qs: QuerySet[Subscriber], *, budget_ms: int = COUNT_BUDGET_MS, expected: int | None = None
) -> Total:
    """The exact count if it takes at most ``budget_ms``, else PostgreSQL's estimate.

    The planner's estimate comes first (a millisecond; ``expected`` if the caller has it): when
    it expects more rows than can be counted within the budget, the estimate is the answer
    without trying.
    """
    if connection.vendor != "postgresql":
        return Total(qs.count(), exact=True)
    with transaction.atomic():
        estimate = _estimate(qs) if expected is None else expected
        if estimate > COUNTABLE_IN_BUDGET * budget_ms / COUNT_BUDGET_MS:
            return Total(estimate, exact=False)
        try:
            with transaction.atomic():
                with connection.cursor() as cursor:
                    cursor.execute("SET LOCAL statement_timeout = %s", [f"{int(budget_ms)}ms"])
                    cursor.execute("SET LOCAL jit = off")
                return Total(qs.count(), exact=True)
        except DatabaseError:  # canceled by the statement timeout
            return Total(estimate, exact=False)


# A subscriber's page.


def deliveries(subscriber: Subscriber, *, limit: int = 100) -> QuerySet:
    return subscriber.deliveries.select_related("campaign").order_by("-created_at", "-pk")[:limit]


def conversations(subscriber: Subscriber) -> QuerySet:
    """Their conversations, without any message: the page shows state and a link, never text."""
    return (
        subscriber.conversations.select_related("campaign")
        .order_by("-created_at")
        .only("pk", "status", "created_at", "last_message_at", "campaign__name", "campaign__id")
    )


def suppression(subscriber: Subscriber) -> Suppression | None:
    return Suppression.objects.filter(email_hash=subscriber.email_hash).first()


def changes(subscriber: Subscriber, *, limit: int = 50) -> QuerySet:
    return subscriber.changes.select_related("changed_by")[:limit]


def attribute_values(subscriber: Subscriber) -> list[tuple[Attribute, object]]:
    return [(attribute, subscriber.attributes.get(attribute.key)) for attribute in Attribute.objects.all()]


# Topics.


def topics_with_counts(*, archived: bool = False) -> QuerySet[Topic]:
    return (
        Topic.objects.filter(archived_at__isnull=not archived)
        .select_related("owner")
        .annotate(
            active=Count("subscriptions", filter=Q(subscriptions__status=Subscription.Status.ACTIVE)),
            pending=Count("subscriptions", filter=Q(subscriptions__status=Subscription.Status.PENDING)),
        )
        .order_by("name")
    )


@dataclass(frozen=True)
class TopicCounts:
    active: int
    pending: int
    unsubscribed: int


def topic_counts(topic: Topic) -> TopicCounts:
    counts = topic.subscriptions.aggregate(
        **{status.value: Count("pk", filter=Q(status=status)) for status in Subscription.Status}
    )
    return TopicCounts(
        active=counts[Subscription.Status.ACTIVE],
        pending=counts[Subscription.Status.PENDING],
        unsubscribed=counts[Subscription.Status.UNSUBSCRIBED],
    )


def live_topics() -> QuerySet[Topic]:
    return Topic.objects.filter(archived_at__isnull=True).order_by("name")


def segments() -> QuerySet[Segment]:
    return Segment.objects.select_related("created_by").order_by("name")


# The audience over time.


def _week_start(day: date) -> date:
    return day - timedelta(days=day.weekday())


@dataclass(frozen=True)
class WeekRow:
    week: date
    confirmed_total: int
    new_confirmations: int
    unsubscribes: int
    bounces: int


def weekly(*, topic: Topic | None = None, weeks: int = 12, now: datetime | None = None) -> list[WeekRow]:
    """Per week (Monday): confirmed subscribers at its end, new confirmations, unsubscribes, bounces.

    Counted from the subscriptions' dates (per topic) or the subscribers' (all topics), and the
    suppression list's hard bounces and complaints; one grouped query each.
    """
    from_day = _week_start(timezone.localdate(now) - timedelta(weeks=weeks - 1))
    start = timezone.make_aware(datetime.combine(from_day, datetime.min.time()))
    if topic is None:
        base = Subscriber.objects.all()
        confirmed_field, left_field = "confirmed_at", "unsubscribed_at"
        active = Q(status=Subscriber.Status.CONFIRMED)
    else:
        base = Subscription.objects.filter(topic=topic)
        confirmed_field, left_field = "confirmed_at", "unsubscribed_at"
        active = Q(status=Subscription.Status.ACTIVE)
    before = (
        base.filter(active | Q(**{f"{left_field}__gte": start}))
        .filter(**{f"{confirmed_field}__lt": start})
        .count()
    )

    def per_week(qs, field_name) -> dict[date, int]:
        grouped = (
            qs.filter(**{f"{field_name}__gte": start})
            .annotate(week=TruncWeek(field_name))
            .values("week")
            .annotate(n=Count("pk"))
            .order_by()
        )
        return {
            (row["week"].date() if isinstance(row["week"], datetime) else row["week"]): row["n"]
            for row in grouped
        }

    confirmations = per_week(base, confirmed_field)
    leaving = per_week(base.exclude(**{f"{confirmed_field}__isnull": True}), left_field)
    bounce_hashes = Suppression.objects.filter(
        reason__in=[Suppression.Reason.HARD_BOUNCE, Suppression.Reason.COMPLAINT]
    )
    if topic is not None:
        bounce_hashes = bounce_hashes.filter(
            email_hash__in=Subscriber.objects.filter(subscriptions__topic=topic).values("email_hash")
        )
    bounces = per_week(bounce_hashes, "created_at")
    rows = []
    total = before
    for index in range(weeks):
        week = from_day + timedelta(weeks=index)
        total += confirmations.get(week, 0) - leaving.get(week, 0)
        rows.append(
            WeekRow(
                week, max(total, 0), confirmations.get(week, 0), leaving.get(week, 0), bounces.get(week, 0)
            )
        )
    return rows
