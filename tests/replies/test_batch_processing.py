"""Batch processing (drains): every received message once, a crash fails only its own message."""

from unittest import mock

import pytest
from django.core.cache import cache
from django.test import TestCase

from replies import services
from replies.models import Conversation, InboundMessage, Message
from replies.pipeline import chain
from replies.services import batches as batch_processing
from replies.services import drains
from replies.services.claims import _CLAIM_LOCK_CLASS
from tests.replies.conftest import eml, simple_reply_bytes

pytestmark = pytest.mark.django_db
Status = InboundMessage.Status


def store_without_processing(*raws: bytes) -> list[InboundMessage]:
    with mock.patch("replies.services.inbound.schedule_drain"):
        return [services.store_inbound(raw, source=InboundMessage.Source.PIPE) for raw in raws]


def test_a_batch_processes_every_received_message_once(world):
    stored = store_without_processing(
        eml("gmail_reply_en.eml"), eml("outlook_reply_de.eml"), eml("unknown_sender_en.eml")
    )
    assert services.process_received_batch(limit=10) == 3
    assert services.process_received_batch(limit=10) == 0
    for inbound in stored:
        inbound.refresh_from_db()
        assert inbound.status == Status.PROCESSED
        assert inbound.attempts == 1
    assert Message.objects.filter(inbound__in=stored).count() == 3


def test_a_batch_claims_at_most_its_limit_and_a_drain_takes_the_rest(world):
    store_without_processing(*(simple_reply_bytes(body=f"Frage {n}") for n in range(5)))
    assert services.process_received_batch(limit=2) == 2
    assert InboundMessage.objects.filter(status=Status.RECEIVED).count() == 3
    assert services.drain_inbound(batch_size=2) == 3
    assert not InboundMessage.objects.filter(status=Status.RECEIVED).exists()


def test_a_crash_in_one_message_of_a_batch_fails_only_that_message(world):
    real_classify = chain.classify

    def explode_on_second(ctx, *args):
        if "Zweite" in ctx.mail.text:
            raise RuntimeError("rule exploded")
        return real_classify(ctx, *args)

    first, second, third = store_without_processing(
        simple_reply_bytes(body="Erste Frage"),
        simple_reply_bytes(body="Zweite Frage"),
        simple_reply_bytes(body="Dritte Frage"),
    )
    with mock.patch("replies.pipeline.chain.classify", side_effect=explode_on_second):
        assert services.process_received_batch(limit=10) == 3
    for inbound in (first, second, third):
        inbound.refresh_from_db()
    assert second.status == Status.FAILED
    assert "rule exploded" in second.error
    assert second.attempts == 1
    assert not Message.objects.filter(inbound=second).exists()  # nothing half-done
    assert first.status == third.status == Status.PROCESSED
    # The other two joined one conversation (the same subscriber and campaign).
    conversation = Conversation.objects.get()
    assert set(conversation.messages.values_list("inbound_id", flat=True)) == {first.pk, third.pk}
    with TestCase.captureOnCommitCallbacks(execute=True):
        services.reprocess_inbound(inbound=second)
    second.refresh_from_db()
    assert second.status == Status.PROCESSED
    assert second.attempts == 1  # reprocessing starts the count of claims afresh
    assert conversation.messages.count() == 3


def _savepoints(queries) -> int:
    return sum(1 for q in queries if q["sql"].upper().startswith("SAVEPOINT"))


def test_a_batch_without_crashes_takes_no_savepoint_per_message(world):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    store_without_processing(*(simple_reply_bytes(body=f"Frage {n}") for n in range(6)))
    with CaptureQueriesContext(connection) as queries:
        assert services.process_received_batch(limit=10) == 6
    # One for the batch, one for its lookups (plus the test's own transaction): not one per message.
    assert _savepoints(queries.captured_queries) <= 3
    assert set(InboundMessage.objects.values_list("status", flat=True)) == {Status.PROCESSED}
    assert Message.objects.count() == 6
    # The processed fields were written for the whole batch at once.
    for inbound in InboundMessage.objects.all():
        assert inbound.kind == InboundMessage.Kind.HUMAN
        assert inbound.match_method == InboundMessage.MatchMethod.REPLY_TOKEN
        assert inbound.rule_hits[0]["rule"] == "matching" and inbound.rule_hits[-1]["actions"]
        assert inbound.processed_at is not None and inbound.attempts == 1 and inbound.error == ""


def test_a_crash_redoes_the_batch_with_a_savepoint_per_message_and_keeps_nothing_twice(world):
    real_classify = chain.classify
    calls = []

    def explode_on_last(ctx, *args):
        calls.append(ctx.mail.text)
        if "Letzte" in ctx.mail.text:
            raise RuntimeError("rule exploded")
        return real_classify(ctx, *args)

    first, second, last = store_without_processing(
        simple_reply_bytes(body="Erste Frage"),
        simple_reply_bytes(body="Zweite Frage"),
        simple_reply_bytes(body="Letzte Frage"),
    )
    with mock.patch("replies.pipeline.chain.classify", side_effect=explode_on_last):
        assert services.process_received_batch(limit=10) == 3
    assert len(calls) == 6  # the fast pass, rolled back, then the redo one by one
    for inbound in (first, second, last):
        inbound.refresh_from_db()
    assert first.status == second.status == Status.PROCESSED
    assert first.attempts == second.attempts == 1  # the rolled-back pass left no trace
    assert last.status == Status.FAILED and "rule exploded" in last.error and last.attempts == 1
    assert Message.objects.count() == 2  # the first pass's rows were rolled back
    assert Conversation.objects.count() == 1


def test_an_unreadable_message_in_a_batch_fails_alone(world):
    good, bad = store_without_processing(
        simple_reply_bytes(body="Gute Frage"), simple_reply_bytes(body="Kaputt")
    )
    real_parse = batch_processing.parse_mail

    def parse_or_explode(raw, *args):
        if b"Kaputt" in raw:
            raise ValueError("unreadable")
        return real_parse(raw, *args)

    with mock.patch("replies.services.batches.parse_mail", side_effect=parse_or_explode):
        assert services.process_received_batch(limit=10) == 2
    good.refresh_from_db()
    bad.refresh_from_db()
    assert good.status == Status.PROCESSED
    assert bad.status == Status.FAILED and "unreadable" in bad.error


def test_replies_of_one_subscriber_in_one_batch_share_one_conversation(world):
    store_without_processing(*(simple_reply_bytes(body=f"Frage {n}") for n in range(3)))
    services.process_received_batch(limit=10)
    conversation = Conversation.objects.get()
    assert conversation.messages.count() == 3
    assert conversation.assignee == world.anna_staff


def test_a_batch_with_an_unsubscribe_still_threads_what_follows(world):
    store_without_processing(
        eml("unsubscribe_de.eml"), eml("gmail_reply_en.eml"), simple_reply_bytes(body="Noch eine Frage")
    )
    assert services.process_received_batch(limit=10) == 3
    assert set(InboundMessage.objects.values_list("status", flat=True)) == {Status.PROCESSED}


def test_storing_queues_one_drain_while_one_is_pending(world):
    from replies.tasks import drain_inbound_task

    cache.delete(services.DRAIN_PENDING_KEY)
    with (
        mock.patch("replies.services.drains._runs_eagerly", return_value=False),
        mock.patch("replies.services.drains._own_drain_cannot_have_started", return_value=False),
        mock.patch.object(drain_inbound_task, "apply_async") as delay,
    ):
        services.schedule_drain()
        services.schedule_drain()
        assert delay.call_count == 1  # the queued drain will see both messages
        services.drain_inbound()  # a drain starting clears the flag ...
        services.schedule_drain()
        assert delay.call_count == 2  # ... so the next message queues another
    cache.delete(services.DRAIN_PENDING_KEY)


def test_a_drain_this_process_just_queued_is_trusted_without_asking_redis(world):
    from replies.tasks import drain_inbound_task

    cache.delete(services.DRAIN_PENDING_KEY)
    with (
        mock.patch.object(drains, "_own_drain_queued_at", [-1.0]),
        mock.patch("replies.services.drains._runs_eagerly", return_value=False),
        mock.patch.object(drain_inbound_task, "apply_async") as delay,
        mock.patch("replies.services.drains.time.monotonic", return_value=1000.0),
    ):
        services.schedule_drain()
        delay.assert_called_once_with(countdown=services.DRAIN_LINGER_SECONDS)
        cache.delete(services.DRAIN_PENDING_KEY)  # even if it had started: within its countdown it cannot
        services.schedule_drain()
        assert delay.call_count == 1
    with (
        mock.patch.object(drains, "_own_drain_queued_at", [1000.0]),
        mock.patch("replies.services.drains._runs_eagerly", return_value=False),
        mock.patch.object(drain_inbound_task, "apply_async") as delay,
        mock.patch.object(drains.time, "monotonic", return_value=1000.0 + services.DRAIN_LINGER_SECONDS),
    ):
        services.schedule_drain()  # past half its countdown: ask Redis (flag gone: queue one)
        assert delay.call_count == 1
    cache.delete(services.DRAIN_PENDING_KEY)


# --- Claims: a worker process that dies on a message --------------------------------------


def test_a_message_claimed_more_than_the_limit_is_failed_and_its_batch_mates_go_on(world, settings):
    settings.INBOUND_MAX_ATTEMPTS = 3
    first, poison, last = store_without_processing(*(simple_reply_bytes(body=f"Frage {n}") for n in range(3)))
    # As left by three batches whose worker died on the poison: every claim counted, none finished.
    InboundMessage.objects.filter(pk=poison.pk).update(attempts=3)
    InboundMessage.objects.filter(pk__in=[first.pk, last.pk]).update(attempts=1)
    assert services.drain_inbound() == 3
    for inbound in (first, poison, last):
        inbound.refresh_from_db()
    assert poison.status == Status.FAILED and poison.attempts == 4
    assert "Claimed 4 times without finishing" in poison.error
    assert not Message.objects.filter(inbound=poison).exists()
    assert first.status == last.status == Status.PROCESSED
    assert first.attempts == last.attempts == 2
    with TestCase.captureOnCommitCallbacks(execute=True):
        services.reprocess_inbound(inbound=poison)  # the counter starts afresh
    poison.refresh_from_db()
    assert poison.status == Status.PROCESSED and poison.attempts == 1
    assert Message.objects.count() == 3


def test_messages_whose_claim_never_finished_are_retried_one_at_a_time_after_fresh_ones(world):
    fresh_1, fresh_2, suspect_1, suspect_2 = store_without_processing(
        *(simple_reply_bytes(body=f"Frage {n}") for n in range(4))
    )
    InboundMessage.objects.filter(pk=suspect_1.pk).update(attempts=2)
    InboundMessage.objects.filter(pk=suspect_2.pk).update(attempts=1)
    batches = []
    real = batch_processing._process_claimed

    def record(claims):
        batches.append([claim.inbound_id for claim in claims])
        return real(claims)

    with mock.patch("replies.services.batches._process_claimed", side_effect=record):
        assert services.drain_inbound() == 4
    # The fewest claims first: a poison message (many claims) cannot hold up its batch-mates.
    assert batches == [[fresh_1.pk, fresh_2.pk], [suspect_2.pk], [suspect_1.pk]]
    assert set(InboundMessage.objects.values_list("status", flat=True)) == {Status.PROCESSED}


@pytest.fixture
def other_session():
    """A second database session, as another worker process would hold."""
    import psycopg
    from django.db import connection

    db = connection.settings_dict
    with psycopg.connect(
        host=db["HOST"], port=db["PORT"], user=db["USER"], password=db["PASSWORD"] or None, dbname=db["NAME"]
    ) as conn:
        yield conn


@pytest.mark.django_db(transaction=True)
def test_a_message_another_worker_is_processing_is_not_claimed_however_slow(world, other_session):
    """The other worker claimed it (its advisory lock) and is still at it: no claim counts against it."""
    slow, free = store_without_processing(simple_reply_bytes(body="Langsam"), simple_reply_bytes(body="Frei"))
    other_session.execute("SELECT pg_advisory_lock(%s, %s)", [_CLAIM_LOCK_CLASS, slow.pk % 2147483647])
    assert services.drain_inbound() == 1
    slow.refresh_from_db()
    free.refresh_from_db()
    assert slow.status == Status.RECEIVED and slow.attempts == 0
    assert free.status == Status.PROCESSED and free.attempts == 1
    other_session.execute("SELECT pg_advisory_unlock_all()")  # the other worker finished or died
    assert services.drain_inbound() == 1
    slow.refresh_from_db()
    assert slow.status == Status.PROCESSED and slow.attempts == 1


@pytest.mark.django_db(transaction=True)
def test_a_message_locked_in_another_workers_transaction_is_skipped(world, other_session):
    (inbound,) = store_without_processing(simple_reply_bytes(body="Gesperrt"))
    with other_session.transaction():
        other_session.execute(
            f"SELECT id FROM {InboundMessage._meta.db_table} WHERE id = %s FOR UPDATE", [inbound.pk]
        )
        assert services.process_received_batch() == 0
    inbound.refresh_from_db()
    assert inbound.attempts == 0
    assert services.process_received_batch() == 1


def test_claim_locks_are_released_after_processing(world):
    from django.db import connection

    store_without_processing(simple_reply_bytes(body="Frage"))
    services.drain_inbound()
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid()")
        assert cursor.fetchone()[0] == 0
