"""A real `celery worker` sends the confirmation mail over SMTP once the signup commits."""

from __future__ import annotations

import email
from email import policy

import pytest
from aiosmtpd.controller import Controller

from subscribers import services
from subscribers.models import ConsentEvent, Subscriber
from tests.support import free_port, start_celery_worker, stop_workers, wait_for, worker_environment

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]


class Collector:
    def __init__(self) -> None:
        self.messages: list[email.message.EmailMessage] = []

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 (aiosmtpd's hook name)
        self.messages.append(email.message_from_bytes(envelope.content, policy=policy.default))
        return "250 OK"


def test_confirmation_mail_is_sent_by_a_real_worker(settings, topics, consent, real_celery):
    collector = Collector()
    port = free_port()
    controller = Controller(collector, hostname="127.0.0.1", port=port)
    controller.start()
    worker = start_celery_worker(
        queues=["default"], env=worker_environment(EMAIL_URL=f"smtp://127.0.0.1:{port}")
    )
    try:
        services.request_subscription(
            email="worker@example.org",
            topics=[topics["news"]],
            source=ConsentEvent.Source.API,
            consent=consent,
            language="en",
        )
        wait_for(lambda: collector.messages, what="the confirmation mail")
    finally:
        stop_workers([worker])
        controller.stop()

    [message] = collector.messages
    assert message["To"] == "worker@example.org"
    assert message["Auto-Submitted"] == "auto-generated"
    assert message.get_body(("plain",)).get_content().count("/confirm/") == 1
    assert message.get_body(("html",)) is not None
    assert Subscriber.objects.get().last_confirmation_sent_at is not None
