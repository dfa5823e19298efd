"""The kill window made visible: a killed worker's last round is marked "handed over, not confirmed".

As in test_worker_kill: a real `celery worker` over Redis, SIGKILLed (whole process group) by
the SMTP server while it holds message KILL_AT, after that message's final "." and before the
250. The round that message belongs to had its acceptances committed before its dots; from
the database alone nobody can tell whether each of its dots went out (a kill a moment earlier
would have left them unsent). Recovery therefore marks exactly that round, at most
SMTP_CONNECTIONS deliveries, as sent but ``handover_unconfirmed``; the chunk's earlier rounds,
recorded before the last one began, are plainly sent. Nothing is sent twice.
"""

from __future__ import annotations

import signal
from datetime import timedelta

import pytest
from aiosmtpd.controller import Controller
from django.conf import settings as django_settings

from campaigns import services
from campaigns.models import Campaign, Delivery
from subscribers.models import Subscriber, Subscription, email_hash
from tests.support import free_port, stop_workers, wait_for

from .test_worker_kill import KILL_AT, KillingHandler, start_worker

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]

RECIPIENTS = 120


def test_a_killed_workers_last_round_is_marked_unconfirmed_and_nothing_else(
    campaign, topic, settings, real_celery
):
    settings.EMAIL_DELIVERY = "smtp"
    for n in range(RECIPIENTS):
        address = f"w{n:03d}@example.org"
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
        services.launch_campaign(campaign=campaign)
        first.wait(timeout=60)
        assert first.returncode == -signal.SIGKILL
        killed_at = handler.messages[KILL_AT - 1]["To"].addresses[0].addr_spec

        workers.append(start_worker(port))
        services.recover_stalled_sends(older_than=timedelta(0))
        unfinished = Delivery.objects.filter(status__in=[Delivery.Status.QUEUED, Delivery.Status.SENDING])
        wait_for(
            lambda: not unfinished.exists() and Campaign.objects.get().status == Campaign.Status.SENT,
            what="the workers to finish the campaign",
        )
    finally:
        stop_workers(workers)
        controller.stop()

    assert set(handler.counts.values()) == {1} and len(handler.counts) == RECIPIENTS  # exactly once
    unconfirmed = Delivery.objects.filter(handover_unconfirmed=True)
    # The round the kill hit, and only it: the message held at the kill is in it.
    assert 1 <= unconfirmed.count() <= django_settings.SMTP_CONNECTIONS
    assert killed_at in set(unconfirmed.values_list("subscriber__email", flat=True))
    assert set(unconfirmed.values_list("status", flat=True)) == {Delivery.Status.SENT}
    # Every unconfirmed mail did reach this server here (the kill came after its "."): marked, not lost.
    assert all(
        handler.counts[email] == 1 for email in unconfirmed.values_list("subscriber__email", flat=True)
    )
