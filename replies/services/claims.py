"""Claims of inbound messages: each claim is counted in the row and locked for the claimer's session."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from django.conf import settings
from django.db import DatabaseError, connection, transaction
from django.db.models import F

from replies.models import InboundMessage

logger = logging.getLogger(__name__)


# A claim counts itself in the row (attempts + 1) in a statement committed before any
# processing starts, so the count survives a worker process that dies while processing
# (a Python exception is caught per message; a segfault, the OOM killer or SIGKILL are
# not). A message claimed more than INBOUND_MAX_ATTEMPTS times is marked failed instead
# of being processed once more.
#
# On PostgreSQL the claimer also takes a session advisory lock per message, held until
# its processing has committed: concurrent claims skip a message that is being processed,
# however slow, so they never count against it. The lock (unlike a lease) needs no
# timeout: it goes away with the session of a worker that dies.

_CLAIM_LOCK_CLASS = 0x52424931  # advisory lock namespace of inbound claims ("RBI1")

_CLAIM_SQL = """
    WITH candidates AS MATERIALIZED (
        SELECT m.id FROM {table} AS m
        WHERE m.status = %s AND {where}
        ORDER BY {order} LIMIT %s
        FOR UPDATE SKIP LOCKED
    ), locked AS MATERIALIZED (
        SELECT id FROM candidates WHERE pg_try_advisory_lock(%s, (id %% 2147483647)::integer)
    )
    UPDATE {table} AS m SET attempts = m.attempts + 1
    FROM locked WHERE m.id = locked.id
    RETURNING m.id, m.attempts
"""

_RELEASE_SQL = "SELECT pg_advisory_unlock(%s, (id %% 2147483647)::integer) FROM unnest(%s::bigint[]) AS id"


@dataclass(frozen=True)
class Claim:
    inbound_id: int
    attempts: int  # claims so far, this one included


def _claim(where: str, params: list, *, limit: int, order: str = "m.id") -> list[Claim]:
    """Count a claim on up to `limit` received messages (committed at once) and lock them for this session.

    `where` and `order` are SQL on the alias m (constants of this module, never user input).
    """
    table = InboundMessage._meta.db_table
    if connection.vendor == "postgresql":
        sql = _CLAIM_SQL.format(table=table, where=where, order=order)
        with connection.cursor() as cursor:  # one statement: in autocommit, committed at once
            cursor.execute(sql, [InboundMessage.Status.RECEIVED, *params, limit, _CLAIM_LOCK_CLASS])
            rows = cursor.fetchall()
    else:  # SQLite (`make run`): one writer at a time, no row locks to take
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(
                f"SELECT m.id FROM {table} AS m WHERE m.status = %s AND {where} ORDER BY {order} LIMIT %s",
                [InboundMessage.Status.RECEIVED, *params, limit],
            )
            ids = [row[0] for row in cursor.fetchall()]
            InboundMessage.objects.filter(pk__in=ids).update(attempts=F("attempts") + 1)
            rows = InboundMessage.objects.filter(pk__in=ids).values_list("id", "attempts")
    return [Claim(inbound_id=pk, attempts=attempts) for pk, attempts in sorted(rows)]


def _release(claims: list[Claim]) -> None:
    """Drop this session's advisory locks on the claimed messages (after their processing committed)."""
    if not claims or connection.vendor != "postgresql":
        return
    try:
        with connection.cursor() as cursor:
            cursor.execute(_RELEASE_SQL, [_CLAIM_LOCK_CLASS, [claim.inbound_id for claim in claims]])
    except DatabaseError:  # the connection is gone, and the session's locks with it
        logger.warning("could not release inbound claim locks", exc_info=True)


def claim_limit_error(attempts: int) -> str:
    return (
        f"Claimed {attempts} times without finishing (the limit is INBOUND_MAX_ATTEMPTS="
        f"{settings.INBOUND_MAX_ATTEMPTS}): the worker process probably died while processing "
        "this message (a crash, the OOM killer, a kill). Not processed again; reprocess it once "
        "the cause is fixed."
    )
