"""Known and unknown addresses: the same answer, and the same work before the answer.

The issue measured the signup answering in 42–65 ms for a known address and 80–91 ms for an
unknown one: an insert for the new address, a look-up for the known one. Now the request
only checks the input and queues one task whatever the address; the worker does the rest.
Timings are never asserted in tests: this checks that the work itself is identical.
"""

from __future__ import annotations

import os
import re

import pytest
import redis
import time_machine
from django.conf import settings
from django.db import connection
from django.test.utils import CaptureQueriesContext

from subscribers.models import ConsentEvent, Subscriber

pytestmark = pytest.mark.django_db


def queued_tasks() -> list[bytes]:
    return redis.Redis.from_url(settings.REDIS_URL).lrange("default", 0, -1)


def signup(client, topics, consent, email):
    data = {
        "email": email,
        "name": "",
        "language": "en",
        "topics": [topics["news"].pk],
        "consent_version": consent.version,
        "website": "",
    }
    with CaptureQueriesContext(connection) as queries:
        response = client.post("/subscribe/", data, REMOTE_ADDR="198.51.100.7")
    return response, [re.sub(r"\d+", "N", query["sql"]) for query in queries]


def api(client, email):
    with CaptureQueriesContext(connection) as queries:
        response = client.post(
            "/api/subscribe", {"email": email, "topics": ["news"]}, content_type="application/json"
        )
    return response, [re.sub(r"\d+", "N", query["sql"]) for query in queries]


def test_signup_does_the_same_work_for_known_and_unknown(
    client, topics, consent, make_subscriber, real_celery
):
    make_subscriber("known@example.org", topic_slugs=("news",))
    known, known_queries = signup(client, topics, consent, "known@example.org")
    unknown, unknown_queries = signup(client, topics, consent, "unknown@example.org")
    assert (known.status_code, known["Location"]) == (unknown.status_code, unknown["Location"])
    assert known_queries == unknown_queries
    assert not any("subscribers_subscriber" in sql for sql in known_queries)
    assert len(queued_tasks()) == 2  # one task each, decided in the worker
    assert not Subscriber.objects.filter(email="unknown@example.org").exists()  # not before the worker
    assert not ConsentEvent.objects.exists()


def test_api_does_the_same_work_for_known_and_unknown(client, topics, consent, make_subscriber, real_celery):
    make_subscriber("known@example.org", topic_slugs=("news",))
    known, known_queries = api(client, "known@example.org")
    unknown, unknown_queries = api(client, "unknown@example.org")
    assert known.status_code == unknown.status_code == 202
    assert known.json() == unknown.json()
    assert known_queries == unknown_queries
    assert len(queued_tasks()) == 2


def test_the_worker_half_keeps_the_time_of_the_request(client, topics, consent, commit_hooks):
    with time_machine.travel("2026-07-01 10:00:00+00:00", tick=False), commit_hooks():
        signup(client, topics, consent, "new@example.org")
    event = ConsentEvent.objects.get()
    assert event.created_at.isoformat() == "2026-07-01T10:00:00+00:00"
    assert event.ip_address == "198.51.100.7"
    assert Subscriber.objects.get().email == "new@example.org"


def test_the_tasks_the_services_queue_by_name_are_registered_in_a_web_process():
    """Services queue tasks by name; a web process (no worker autodiscovery) must know them too."""
    import subprocess
    import sys

    from tests.support import ROOT

    code = (
        "import django; django.setup(); from celery import current_app;"
        "print(sorted(n for n in current_app.tasks if n.startswith('subscribers.tasks.')))"
    )
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "rundbrief.settings", "DEBUG": "true"}
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, check=True
    )
    for task in (
        "send_confirmation",
        "process_subscription_request",
        "send_data_link",
        "send_preferences_link",
    ):
        assert f"subscribers.tasks.{task}" in out.stdout
