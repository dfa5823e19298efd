"""Keyset pagination for the inbox lists (queues, search, inbound mail): no OFFSET, no caps.

A list is ordered by one column (which may be NULL) and the id; a page ends with a cursor, the
(column value, id) of its last row, and the next page starts after it. The same position is
found however many rows come before it, and rows added meanwhile do not shift a page.
The cursor is only a position: what a person may see is decided by the queryset it is applied to.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.db.models import F, Q, QuerySet

PAGE_SIZE = 50


@dataclass(frozen=True)
class Order:
    field: str  # a datetime column that may be NULL; NULLs always come last
    descending: bool = False


@dataclass(frozen=True)
class Page:
    items: list
    total: int | None  # None: not counted (a search matching very many, replies.search)
    next_cursor: str  # empty on the last page
    first: bool  # no cursor was given: this is the first page


def _encode(value: datetime | None, pk: int) -> str:
    return f"{value.isoformat() if value else ''}~{pk}"


def _decode(cursor: str) -> tuple[datetime | None, int] | None:
    value, sep, pk = cursor.rpartition("~")
    if not sep or not pk.isdigit():
        return None
    if not value:
        return None, int(pk)
    try:
        return datetime.fromisoformat(value), int(pk)
    except ValueError:
        return None


def ordered(queryset: QuerySet, order: Order) -> QuerySet:
    column = F(order.field).desc(nulls_last=True) if order.descending else F(order.field).asc(nulls_last=True)
    return queryset.order_by(column, "-pk" if order.descending else "pk")


def after(queryset: QuerySet, order: Order, cursor: str) -> QuerySet:
    """The rows after the cursor's position in this order (all of them for an unreadable cursor)."""
    position = _decode(cursor) if cursor else None
    if position is None:
        return queryset
    value, pk = position
    later, beyond = ("lt", "lt") if order.descending else ("gt", "gt")
    if value is None:  # among the NULLs at the end: only the id goes on
        return queryset.filter(**{f"{order.field}__isnull": True, f"pk__{beyond}": pk})
    return queryset.filter(
        Q(**{f"{order.field}__{later}": value})
        | Q(**{order.field: value, f"pk__{beyond}": pk})
        | Q(**{f"{order.field}__isnull": True})
    )


def _rows(queryset: QuerySet, pks: list) -> QuerySet:
    """The rows of these (already filtered) ids with what the queryset selects, but without its
    filters: repeating a search's conditions for 50 ids cost more than the search itself."""
    if queryset.query.annotations or queryset.query.extra:
        return queryset.filter(pk__in=pks)  # annotated rows need the original query
    rows = queryset.model._default_manager.filter(pk__in=pks)
    rows.query.select_related = queryset.query.select_related
    rows.query.deferred_loading = queryset.query.deferred_loading
    return rows.prefetch_related(*queryset._prefetch_related_lookups)


def page(
    queryset: QuerySet, order: Order, cursor: str = "", size: int = PAGE_SIZE, count: bool = True
) -> Page:
    """One page of the ordered queryset, its total count (without any cap) and the next cursor.

    Two steps: the page's ids and sort values first (no joins for select_related: a search
    matching thousands of rows sorts narrow tuples), then the page's rows with everything
    the queryset selects."""
    total = queryset.count() if count else None
    keys = list(ordered(after(queryset, order, cursor), order).values_list("pk", order.field)[: size + 1])
    more = len(keys) > size
    keys = keys[:size]
    found = queryset.model._default_manager.none()
    if keys:
        found = _rows(queryset, [pk for pk, _value in keys])
    by_pk = {row.pk: row for row in found}
    rows = [by_pk[pk] for pk, _value in keys if pk in by_pk]
    next_cursor = _encode(keys[-1][1], keys[-1][0]) if more and keys else ""
    return Page(items=rows, total=total, next_cursor=next_cursor, first=not cursor)
