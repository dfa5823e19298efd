"""Exactly once under a killed worker: a real `celery worker` over Redis, a real SMTP server.

The SMTP server (aiosmtpd in this process) SIGKILLs the worker's whole process group while
it holds message number KILL_AT, after the message's final "." and before answering 250:
the server has the mail, the worker never learns it. That is the hardest moment for
idempotency. A second worker plus the recovery task then finish the campaign, and every
recipient must have exactly one mail.

The worker sends in rounds of one mail per connection (SMTP_CONNECTIONS, 4 by default);
KILL_AT is not a multiple of 4, so the kill lands in the middle of a round, whose other
mails are in flight on their own connections at that moment.
"""

from __future__ import annotations

import os
import signal
import subprocess
from datetime import timedelta

import pytest
from aiosmtpd.controller import Controller

from campaigns import services
from campaigns.models import Campaign, Delivery
from subscribers.models import Subscriber, Subscription, email_hash
from tests.support import free_port, start_celery_worker, stop_workers, wait_for, worker_environment

from .conftest import CountingHandler

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]

RECIPIENTS = 150
KILL_AT = 42


class KillingHandler(CountingHandler):
    def __init__(self) -> None:
        super().__init__()
        self.victim_pgid: int | None = None
        self.killed = False

    async def handle_DATA(self, server, session, envelope):  # noqa: N802
        reply = await super().handle_DATA(server, session, envelope)
        if sum(self.counts.values()) == KILL_AT and self.victim_pgid and not self.killed:
            self.killed = True
            os.killpg(self.victim_pgid, signal.SIGKILL)
        return reply


def start_worker(smtp_port: int) -> subprocess.Popen:
    env = worker_environment(EMAIL_URL=f"smtp://127.0.0.1:{smtp_port}", SEND_BATCH_SIZE="20")
    return start_celery_worker(queues=["send"], env=env)


def test_killed_worker_leaves_exactly_one_mail_per_recipient(campaign, topic, settings, real_celery):
    settings.EMAIL_DELIVERY = "smtp"
    for n in range(RECIPIENTS):
        address = f"r{n:03d}@example.org"
        subscriber = Subscriber.objects.create(
            email=address, email_hash=email_hash(address), status=Subscriber.Status.CONFIRMED
        )
        Subscription.objects.create(subscriber=subscriber, topic=topic, status="active")

    handler = KillingHandler()
    port = free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    workers = []
    try:
        first = start_worker(port)
        workers.append(first)
        handler.victim_pgid = first.pid
        services.launch_campaign(campaign=campaign)  # enqueues into Redis for the real worker
        first.wait(timeout=60)
        assert first.returncode == -signal.SIGKILL
        # The round's other mails whose "." had been written count too.
        assert sum(handler.counts.values()) >= KILL_AT
        unfinished = Delivery.objects.filter(status__in=[Delivery.Status.QUEUED, Delivery.Status.SENDING])
        assert unfinished.exists(), "the kill must have left work behind"

        workers.append(start_worker(port))
        services.recover_stalled_sends(older_than=timedelta(0))
        wait_for(
            lambda: not unfinished.exists() and Campaign.objects.get().status == Campaign.Status.SENT,
            what="the workers to finish the campaign",
        )
    finally:
        stop_workers(workers)
        controller.stop()

    assert len(handler.counts) == RECIPIENTS
    assert set(handler.counts.values()) == {1}, {a: n for a, n in handler.counts.items() if n != 1}
    assert Delivery.objects.filter(status=Delivery.Status.SENT).count() == RECIPIENTS
    # The same Message-ID a retry would carry is the one recorded.
    ids = {m["Message-ID"] for m in handler.messages}
    assert ids == set(Delivery.objects.values_list("message_id", flat=True))
