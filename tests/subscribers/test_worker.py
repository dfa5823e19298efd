"""A real `celery worker` sends the confirmation mail over SMTP once the signup commits."""

from __future__ import annotations

import email
import os
import signal
import socket
import subprocess
import sys
import time
from email import policy
from pathlib import Path

import pytest
import redis
from aiosmtpd.controller import Controller
from django.db import connection

from rundbrief.celery import app as celery_app
from subscribers import services
from subscribers.models import ConsentEvent, Subscriber

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]

ROOT = Path(__file__).resolve().parents[2]


class Collector:
    def __init__(self) -> None:
        self.messages: list[email.message.EmailMessage] = []

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 (aiosmtpd's hook name)
        self.messages.append(email.message_from_bytes(envelope.content, policy=policy.default))
        return "250 OK"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for(condition, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.1)
    raise AssertionError("timed out waiting for the worker")


@pytest.fixture
def real_celery(settings):
    redis.Redis.from_url(settings.REDIS_URL).flushdb()  # our own test Redis DB: no stale tasks
    celery_app.conf.task_always_eager = False
    yield
    celery_app.conf.task_always_eager = True


def test_confirmation_mail_is_sent_by_a_real_worker(settings, topics, consent, real_celery):
    collector = Collector()
    port = free_port()
    controller = Controller(collector, hostname="127.0.0.1", port=port)
    controller.start()
    db = connection.settings_dict
    env = {
        **os.environ,
        "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
        "REDIS_URL": settings.REDIS_URL,
        "EMAIL_URL": f"smtp://127.0.0.1:{port}",
        "CELERY_TASK_ALWAYS_EAGER": "false",
    }
    worker = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "rundbrief", "worker", "-Q", "default", "-c", "1"]
        + ["--loglevel=WARNING", "--without-gossip", "--without-mingle", "--without-heartbeat"],
        cwd=ROOT,
        env=env,
        start_new_session=True,
    )
    try:
        services.request_subscription(
            email="worker@example.org",
            topics=[topics["news"]],
            source=ConsentEvent.Source.API,
            consent=consent,
            language="en",
        )
        wait_for(lambda: collector.messages)
    finally:
        os.killpg(worker.pid, signal.SIGTERM)
        worker.wait(timeout=20)
        controller.stop()

    [message] = collector.messages
    assert message["To"] == "worker@example.org"
    assert message["Auto-Submitted"] == "auto-generated"
    assert message.get_body(("plain",)).get_content().count("/confirm/") == 1
    assert message.get_body(("html",)) is not None
    assert Subscriber.objects.get().last_confirmation_sent_at is not None
