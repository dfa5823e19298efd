"""A message that kills its worker process (not an exception: the process is gone) must not
block its batch forever. A real `celery worker` over Redis processes a batch holding one such
message: its test-only app (tests/replies/crashing_worker.py) ends the pool process with
os._exit(137) whenever it processes a message whose subject carries the marker
(RUNDBRIEF_TEST_CRASH_MARKER, set in the worker's environment only). Celery's master process
replaces its dead pool process; the test plays the beat sweeper (requeue_stale_inbound) until
the work is done.

At the end the poison message is failed after INBOUND_MAX_ATTEMPTS claims that never finished
(on the next claim), and each of its batch-mates was processed exactly once, alone, after the
one batch attempt that died with them.
"""

from __future__ import annotations

import subprocess
import time
from datetime import timedelta

import pytest
from django.db import transaction

from replies import services
from replies.models import Conversation, InboundMessage, Message, StaffProfile
from tests.replies.conftest import simple_reply_bytes
from tests.support import start_celery_worker, stop_workers, worker_environment

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]

MARKER = "CRASH-7f3a9c"
Status = InboundMessage.Status


def test_a_message_that_kills_its_worker_is_failed_and_its_batch_mates_processed_once(
    world, real_celery, settings
):
    StaffProfile.objects.update(notify_by_email=False)  # no notification mails from the worker
    raws = [simple_reply_bytes(subject=f"Frage {n}", body=f"Meine Frage Nummer {n}") for n in range(8)]
    raws.insert(3, simple_reply_bytes(subject=f"Frage {MARKER}", body="Diese Mail bringt den Worker um"))
    with transaction.atomic():  # one commit: the first drain finds them all in one batch
        stored = [services.store_inbound(raw, source=InboundMessage.Source.PIPE) for raw in raws]
    poison, mates = stored[3], stored[:3] + stored[4:]

    env = worker_environment(RUNDBRIEF_TEST_CRASH_MARKER=MARKER)
    workers: list[subprocess.Popen] = []
    pending = InboundMessage.objects.filter(status=Status.RECEIVED)
    deadline = time.monotonic() + 120
    try:
        while pending.exists():
            assert time.monotonic() < deadline, "the workers did not finish the inbound mail"
            if not workers or workers[-1].poll() is not None:
                workers.append(
                    start_celery_worker(queues=["inbound"], env=env, app="tests.replies.crashing_worker")
                )
            time.sleep(1)
            # What the beat sweeper does every few minutes: the drain a dead process lost is queued again.
            services.requeue_stale_inbound(older_than=timedelta(0))
    finally:
        stop_workers(workers)

    poison.refresh_from_db()
    assert poison.status == Status.FAILED
    limit = settings.INBOUND_MAX_ATTEMPTS
    assert poison.attempts == limit + 1
    assert f"Claimed {limit + 1} times without finishing" in poison.error
    assert "worker process probably died" in poison.error
    assert not Message.objects.filter(inbound=poison).exists()

    for inbound in mates:
        inbound.refresh_from_db()
        assert inbound.status == Status.PROCESSED, inbound.error
        # Claimed with the poison in the batch that died, then once more alone, and finished.
        assert inbound.attempts == 2
    conversation = Conversation.objects.get()
    assert sorted(conversation.messages.values_list("inbound_id", flat=True)) == sorted(m.pk for m in mates)
    assert Message.objects.count() == len(mates)  # each exactly once
