"""The acceptance ledger: a backend's acceptance of a delivery, committed the moment it can happen.

Acceptances are committed before the backend can accept (SMTP: before the final "."; an ESP
batch: before the call), with ``synchronous_commit = off`` on PostgreSQL: cheap, and it
survives a killed worker. A narrow append-only Acceptance row costs far less per mail than
updating the wide Delivery row; each chunk's acceptances are folded into its deliveries at
the end, and recovery folds what a killed worker left before re-queueing anything.

On PostgreSQL a send task commits its acceptances on a connection of its own (``Ledger``),
one prepared statement per round, while the chunk's claim is a transaction on Django's
connection that holds the row locks until the fold (campaigns.sending.loop). A killed worker's
transaction is rolled back by the server (the rows are queued again, unlocked), its
acceptances stay: recovery folds them, and the next claim leaves them alone.

Each acceptance names its chunk and round (one round in flight per chunk, the next one is
recorded only after the previous round's dots and replies). So for a dead worker's chunk,
only its last round can be "committed, but maybe never dotted": recovery marks exactly those
deliveries ``handover_unconfirmed`` (sent, but not confirmed) instead of silently sent.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import psycopg
from django.db import connection, transaction
from django.utils import timezone

from campaigns.models import Acceptance, Delivery

S = Delivery.Status
_ACCEPTANCE = Acceptance._meta.db_table
_DELIVERY = Delivery._meta.db_table

_INSERT_ONE = (
    f"INSERT INTO {_ACCEPTANCE} (delivery_id, esp_message_id, accepted_at, chunk, round) "
    "VALUES (%s, %s, %s, %s, %s)"
)
_INSERT_ROUND = (
    f"INSERT INTO {_ACCEPTANCE} (delivery_id, esp_message_id, accepted_at, chunk, round) "
    "SELECT unnest(%s::bigint[]), '', %s, %s, %s"
)
_DELETE = f"DELETE FROM {_ACCEPTANCE} WHERE delivery_id = ANY(%s::bigint[])"
_ESP_IDS = (
    f"UPDATE {_ACCEPTANCE} a SET esp_message_id = v.esp FROM unnest(%s::bigint[], %s::text[]) AS v(id, esp) "
    "WHERE a.delivery_id = v.id"
)


class Ledger:
    """Where one send task commits its acceptances: its own autocommit connection (PostgreSQL),
    or Django's connection (another database, or a caller's transaction, as in some tests)."""

    def __init__(self, own: psycopg.Connection | None = None) -> None:
        self.own = own

    def _execute(self, sql: str, params: Sequence | dict) -> None:
        if self.own is not None:
            # Server-side binding, prepared once per task: no parse and plan per round.
            with psycopg.Cursor(self.own) as cursor:
                cursor.execute(sql, params, prepare=True)
            return
        with connection.cursor() as cursor:
            cursor.execute(sql, params)

    def record(
        self, delivery_ids: Sequence[int], *, chunk: int, round: int, esp_message_id: str = ""
    ) -> None:  # noqa: A002
        """A round of SMTP mails, an ESP batch, or one mail, in one INSERT committed at once."""
        if not delivery_ids:
            return
        now = timezone.now()
        if esp_message_id or len(delivery_ids) == 1 or connection.vendor != "postgresql":
            for delivery_id in delivery_ids:
                self._execute(_INSERT_ONE, [delivery_id, esp_message_id, now, chunk, round])
            return
        self._execute(_INSERT_ROUND, [list(delivery_ids), now, chunk, round])

    def forget(self, delivery_ids: Sequence[int]) -> None:
        """A refusal after the acceptance was recorded (after SMTP's ".", a batch's answer) takes it back."""
        if not delivery_ids:
            return
        if connection.vendor != "postgresql":
            Acceptance.objects.filter(delivery_id__in=delivery_ids).delete()
            return
        self._execute(_DELETE, [list(delivery_ids)])

    def record_esp_ids(self, esp_ids: dict[int, str]) -> None:
        """The ESP's message ids of recorded acceptances (known only after the batch call)."""
        if not esp_ids:
            return
        if connection.vendor != "postgresql":
            Acceptance.objects.bulk_update(
                [Acceptance(delivery_id=pk, esp_message_id=esp_id) for pk, esp_id in esp_ids.items()],
                ["esp_message_id"],
            )
            return
        self._execute(_ESP_IDS, [list(esp_ids), list(esp_ids.values())])


@contextmanager
def ledger() -> Iterator[Ledger]:
    """A send task's ledger: on PostgreSQL outside a transaction, a connection of its own.

    Opened per task (a few ms, spread over its batch) rather than kept per process: nothing
    outlives the task, nothing is inherited over a fork, and a test database can be dropped.
    """
    if connection.vendor != "postgresql" or connection.in_atomic_block:
        yield Ledger()
        return
    connection.ensure_connection()
    params = connection.get_connection_params()
    for name in ("cursor_factory", "context", "prepare_threshold"):
        params.pop(name, None)
    own = psycopg.connect(**params, autocommit=True)
    try:
        own.execute("SET synchronous_commit TO off")
        yield Ledger(own)
    finally:
        own.close()


@contextmanager
def cheap_commits() -> Iterator[None]:
    """Commits without waiting for the WAL flush (PostgreSQL only).

    A killed worker loses nothing (the database has the commit); only a database crash
    could lose the last fraction of a second of state, which recovery then re-sends.
    """
    is_pg = connection.vendor == "postgresql"
    if is_pg:
        with connection.cursor() as cursor:
            cursor.execute("SET synchronous_commit TO off")
    try:
        yield
    finally:
        if is_pg:
            with connection.cursor() as cursor:
                cursor.execute("RESET synchronous_commit")


# The fold of rows this transaction holds, in one statement: the acceptances deleted, their rows
# sent. ``attempts`` counts here (the claim holds a lock instead of writing a row version). In
# recovery, a dead chunk's last round is marked handed over but not confirmed.
_FOLD = f"""
    WITH a AS (
        DELETE FROM {_ACCEPTANCE} WHERE delivery_id = ANY(%(ids)s::bigint[])
        RETURNING delivery_id, esp_message_id, accepted_at, chunk, round
    )
    UPDATE {_DELIVERY} d
    SET status = 'sent', sent_at = a.accepted_at, error = '', updated_at = %(now)s,
        attempts = d.attempts + 1,
        esp_message_id = CASE WHEN a.esp_message_id <> '' THEN a.esp_message_id ELSE d.esp_message_id END,
        handover_unconfirmed = %(recovery)s AND a.chunk IS NOT NULL
            AND a.round = (SELECT max(x.round) FROM {_ACCEPTANCE} x WHERE x.chunk = a.chunk)
    FROM a WHERE d.id = a.delivery_id
    RETURNING d.id, d.handover_unconfirmed
"""


def fold_held(delivery_ids: Sequence[int], *, recovery: bool = False) -> tuple[int, int]:
    """Acceptances of rows this transaction holds → sent, in one statement (PostgreSQL).

    Returns (folded, of them not confirmed).
    """
    if not delivery_ids:
        return 0, 0
    with connection.cursor() as cursor:
        cursor.execute(_FOLD, {"ids": list(delivery_ids), "now": timezone.now(), "recovery": recovery})
        rows = cursor.fetchall()
    return len(rows), sum(1 for _id, unconfirmed in rows if unconfirmed)


def fold_acceptances(delivery_ids: Sequence[int]) -> int:
    """Recorded acceptances → Delivery rows marked sent (rows claimed as "sending": other databases)."""
    accepted = list(
        Acceptance.objects.filter(delivery_id__in=delivery_ids).values_list(
            "delivery_id", "esp_message_id", "accepted_at"
        )
    )
    if not accepted:
        return 0
    accepted_ids = [delivery_id for delivery_id, _esp, _at in accepted]
    now = timezone.now()
    with transaction.atomic():
        if any(esp for _id, esp, _at in accepted):
            Delivery.objects.bulk_update(
                [
                    Delivery(pk=pk, status=S.SENT, sent_at=at, esp_message_id=esp, error="", updated_at=now)
                    for pk, esp, at in accepted
                ],
                ["status", "sent_at", "esp_message_id", "error", "updated_at"],
            )
        else:
            Delivery.objects.filter(pk__in=accepted_ids).update(
                status=S.SENT, sent_at=max(at for _id, _esp, at in accepted), error="", updated_at=now
            )
        Acceptance.objects.filter(delivery_id__in=accepted_ids).delete()
    return len(accepted)


_LOCK_FREE = f"""
    SELECT d.id FROM {_DELIVERY} d
    WHERE d.id IN (SELECT x.delivery_id FROM {_ACCEPTANCE} x WHERE {{which}})
    ORDER BY d.id
    FOR NO KEY UPDATE OF d SKIP LOCKED
"""


def fold_all_acceptances() -> tuple[int, int]:
    """Recovery: what dead workers had handed over but not folded in was sent.

    Only rows no live worker holds (SKIP LOCKED): a live chunk folds its own. A dead chunk is
    folded whole, so that its last round (the only one that may have no "." on the wire) is
    known; those rows are marked ``handover_unconfirmed``. Returns (folded, not confirmed).
    """
    if connection.vendor != "postgresql":
        total = 0
        while accepted := list(Acceptance.objects.values_list("delivery_id", flat=True)[:1000]):
            total += fold_acceptances(accepted)
        return total, 0
    folded = unconfirmed = 0
    chunks = list(Acceptance.objects.filter(chunk__isnull=False).values_list("chunk", flat=True).distinct())
    for chunk in chunks:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(f"SELECT count(*) FROM {_ACCEPTANCE} WHERE chunk = %s", [chunk])
            [expected] = cursor.fetchone()
            cursor.execute(_LOCK_FREE.format(which="x.chunk = %s"), [chunk])
            free = [row[0] for row in cursor.fetchall()]
            if len(free) < expected:
                continue  # a live worker holds (part of) it, or it was folded meanwhile
            done, uncertain = fold_held(free, recovery=True)
        folded, unconfirmed = folded + done, unconfirmed + uncertain
    last = 0
    while True:  # acceptances without a chunk (recorded before chunks were named)
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(
                _LOCK_FREE.format(
                    which="x.chunk IS NULL AND x.delivery_id > %s ORDER BY x.delivery_id LIMIT 1000"
                ),
                [last],
            )
            free = [row[0] for row in cursor.fetchall()]
            if not free:
                return folded, unconfirmed
            folded += fold_held(free)[0]
            last = free[-1]
