"""The acceptance ledger: a backend's acceptance of a delivery, committed the moment it can happen.

Acceptances are committed before the backend can accept (SMTP: before the final "."; an ESP
batch: before the call), with ``synchronous_commit = off`` on PostgreSQL: cheap, and it
survives a killed worker. A narrow append-only Acceptance row costs far less per mail than
updating the wide Delivery row; each chunk's acceptances are folded into its deliveries at
the end, and recovery folds what a killed worker left before re-queueing anything.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager

from django.db import connection, transaction
from django.utils import timezone

from campaigns.models import Acceptance, Delivery

S = Delivery.Status

_INSERT_ACCEPTANCE = (
    f"INSERT INTO {Acceptance._meta.db_table} (delivery_id, esp_message_id, accepted_at) VALUES (%s, %s, %s)"
)


@contextmanager
def cheap_commits() -> Iterator[None]:
    """Per-message commits without waiting for the WAL flush (PostgreSQL only).

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


def record_acceptance(delivery_id: int, esp_message_id: str = "") -> None:
    """One narrow INSERT, committed at once (autocommit, synchronous_commit off)."""
    with connection.cursor() as cursor:
        cursor.execute(
            _INSERT_ACCEPTANCE,
            [delivery_id, esp_message_id, connection.ops.adapt_datetimefield_value(timezone.now())],
        )


def record_acceptances(delivery_ids: Sequence[int]) -> None:
    """A round of SMTP mails, or an ESP batch, in one INSERT committed at once (autocommit)."""
    if not delivery_ids:
        return
    now = connection.ops.adapt_datetimefield_value(timezone.now())
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(
                f"INSERT INTO {Acceptance._meta.db_table} (delivery_id, esp_message_id, accepted_at) "
                "SELECT unnest(%s::bigint[]), '', %s",
                [list(delivery_ids), now],
            )
        else:
            rows = ", ".join(["(%s, '', %s)"] * len(delivery_ids))
            cursor.execute(
                f"INSERT INTO {Acceptance._meta.db_table} (delivery_id, esp_message_id, accepted_at) "
                f"VALUES {rows}",
                [value for pk in delivery_ids for value in (pk, now)],
            )


def record_esp_ids(esp_ids: dict[int, str]) -> None:
    """The ESP's message ids of recorded acceptances (known only after the batch call)."""
    if esp_ids:
        Acceptance.objects.bulk_update(
            [Acceptance(delivery_id=pk, esp_message_id=esp_id) for pk, esp_id in esp_ids.items()],
            ["esp_message_id"],
        )


def forget_acceptances(delivery_ids: Sequence[int]) -> None:
    """A refusal after the acceptance was recorded (after SMTP's ".", in a batch's answer) takes it back."""
    if delivery_ids:
        Acceptance.objects.filter(delivery_id__in=delivery_ids).delete()


def fold_acceptances(delivery_ids: Sequence[int]) -> int:
    """Recorded acceptances → Delivery rows marked sent, in one statement per chunk."""
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


def fold_all_acceptances() -> int:
    """Recovery: what a dead worker had handed over but not folded in was sent."""
    total = 0
    while accepted := list(Acceptance.objects.values_list("delivery_id", flat=True)[:1000]):
        total += fold_acceptances(accepted)
    return total
