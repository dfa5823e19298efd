"""/healthz and /metrics against the real PostgreSQL, Redis and broker (and unreachable ones)."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from datetime import timedelta

import pytest
import redis
from django.conf import settings as django_settings
from django.utils import timezone

from campaigns import services
from campaigns.models import Delivery
from replies.models import Conversation, InboundMessage
from rundbrief import counters
from subscribers.tasks import purge_expired_pending
from tests.campaigns.conftest import make_subscriber
from tests.support import ROOT, free_port, worker_environment

TOKEN = "metrics-test-token-0123456789"


def _metric(body: str, name: str, labels: str = "") -> float:
    match = re.search(rf"^{re.escape(name)}{re.escape(labels)} (\S+)$", body, re.M)
    assert match, f"{name}{labels} not in\n{body[:3000]}"
    return float(match.group(1))


@pytest.mark.django_db
def test_healthy_is_200_and_names_every_part(client):
    response = client.get("/healthz")
    assert response.status_code == 200, response.content
    report = response.json()
    assert report["status"] == "ok" and report["failing"] == []
    assert set(report["checks"]) == {"database", "cache", "broker", "queues", "inbound"}
    assert all(part["ok"] for part in report["checks"].values())
    assert response["Cache-Control"].startswith("max-age=0")


@pytest.mark.django_db
def test_an_old_unprocessed_inbound_mail_fails_the_inbound_part(client, settings):
    settings.HEALTH_MAX_INBOUND_AGE_SECONDS = 600
    inbound = InboundMessage.objects.create(raw=b"x", source="smtp", dedupe_key="k1")
    assert client.get("/healthz").status_code == 200  # young: fine
    InboundMessage.objects.filter(pk=inbound.pk).update(received_at=timezone.now() - timedelta(hours=1))

    response = client.get("/healthz")

    assert response.status_code == 503
    report = response.json()
    assert report["failing"] == ["inbound"]
    assert report["checks"]["inbound"]["waiting"] == 1
    assert report["checks"]["inbound"]["oldest_seconds"] >= 3600


@pytest.mark.django_db
def test_a_task_waiting_too_long_fails_the_queues_part(client, settings, real_celery):
    settings.HEALTH_MAX_QUEUE_AGE_SECONDS = 300
    purge_expired_pending.apply_async()  # no worker runs: it waits in "default"
    fresh = client.get("/healthz").json()
    assert fresh["checks"]["queues"]["queues"]["default"]["messages"] == 1
    assert fresh["checks"]["queues"]["ok"]
    # Queued ten minutes ago (the stamp a publisher gives each task), with a newer one behind it.
    redis.Redis.from_url(settings.REDIS_URL).flushdb()
    purge_expired_pending.apply_async(headers={counters.PUBLISHED_AT_HEADER: time.time() - 600})
    purge_expired_pending.apply_async()

    response = client.get("/healthz")

    assert response.status_code == 503
    report = response.json()
    assert report["failing"] == ["queues"]
    assert report["checks"]["queues"]["too_old"] == ["default"]
    assert report["checks"]["queues"]["queues"]["default"]["oldest_seconds"] >= 600
    redis.Redis.from_url(settings.REDIS_URL).flushdb()


def _healthz_in_a_process(**env: str) -> tuple[int, dict, str]:
    code = (
        "import django, json; django.setup(); from django.test import Client; "
        "r = Client().get('/healthz'); print(r.status_code); print(r.content.decode())"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env=worker_environment(DJANGO_SETTINGS_MODULE="rundbrief.settings", **env),
        capture_output=True,
        text=True,
        timeout=60,
    )
    lines = result.stdout.strip().splitlines()
    assert len(lines) >= 2, result.stderr
    return int(lines[-2]), json.loads(lines[-1]), result.stdout


@pytest.mark.django_db
def test_an_unreachable_database_is_named_and_nothing_secret_is_shown():
    port = free_port()  # nothing listens there
    status, report, raw = _healthz_in_a_process(
        DATABASE_URL=f"postgres://rundbrief:db-password-123@127.0.0.1:{port}/rundbrief",
        DB_CONNECT_TIMEOUT="2",
    )
    assert status == 503
    assert report["failing"] == ["database", "inbound"]
    assert report["checks"]["database"]["error"] == "OperationalError"
    assert report["checks"]["cache"]["ok"] and report["checks"]["broker"]["ok"]
    assert "db-password-123" not in raw and str(port) not in raw and "rundbrief:" not in raw


@pytest.mark.django_db
def test_an_unreachable_redis_fails_cache_and_broker():
    port = free_port()
    status, report, raw = _healthz_in_a_process(REDIS_URL=f"redis://:redis-secret@127.0.0.1:{port}/0")
    assert status == 503
    assert report["failing"] == ["cache", "broker", "queues"]
    assert report["checks"]["database"]["ok"]
    assert "redis-secret" not in raw and str(port) not in raw


# --- /metrics -----------------------------------------------------------------------------


@pytest.mark.django_db
def test_metrics_need_the_token_or_an_allowed_address(client, settings):
    settings.METRICS_TOKEN = TOKEN
    settings.METRICS_ALLOWED_IPS = []
    assert client.get("/metrics").status_code == 403
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer wrong").status_code == 403
    assert client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}").status_code == 200

    settings.METRICS_TOKEN = ""
    settings.METRICS_ALLOWED_IPS = ["10.0.0.0/8"]
    assert client.get("/metrics").status_code == 403  # the test client is 127.0.0.1
    assert client.get("/metrics", REMOTE_ADDR="10.1.2.3").status_code == 200
    # Behind our reverse proxy the scraper's address comes from X-Forwarded-For; nobody else's.
    assert client.get("/metrics", HTTP_X_FORWARDED_FOR="10.1.2.3").status_code == 403
    settings.TRUSTED_PROXIES = ["127.0.0.1"]
    assert client.get("/metrics", HTTP_X_FORWARDED_FOR="10.1.2.3").status_code == 200


@pytest.mark.django_db(transaction=True)
def test_metrics_report_sends_bounces_queues_backlog_and_waiting_conversations(
    client, settings, campaign, topic, smtp_settings, real_celery
):
    settings.METRICS_TOKEN = TOKEN
    for n in range(3):
        make_subscriber(f"leser{n}@example.org", topic)
    # The send runs in this process (eager), as a worker would run it: its result is counted.
    from rundbrief.celery import app  # noqa: PLC0415 - only to run this one send eagerly

    app.conf.task_always_eager = True
    services.launch_campaign(campaign=campaign)
    app.conf.task_always_eager = False
    bounced = Delivery.objects.filter(campaign=campaign).order_by("id")[0]
    Delivery.objects.filter(pk=bounced.pk).update(status=Delivery.Status.BOUNCED)
    InboundMessage.objects.create(raw=b"x", source="imap", dedupe_key="m1")
    waiting = Conversation.objects.create(
        subject="Frage", waiting_since=timezone.now() - timedelta(minutes=30)
    )
    purge_expired_pending.apply_async()  # waits in "default" (no worker)
    client.get("/")  # one request counted by django-prometheus

    body = client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}").content.decode()

    assert _metric(body, "rundbrief_deliveries_sent_total") == 3
    assert _metric(body, "rundbrief_deliveries_failed_total") == 0
    assert _metric(body, "rundbrief_deliveries_bounced_total") == 1
    assert _metric(body, "rundbrief_deliveries_complained_total") == 0
    assert _metric(body, "rundbrief_queue_messages", '{queue="default"}') == 1
    assert _metric(body, "rundbrief_queue_messages", '{queue="send"}') == 0
    assert _metric(body, "rundbrief_inbound_backlog") == 1
    assert _metric(body, "rundbrief_conversations_waiting") == 1
    assert _metric(body, "rundbrief_conversation_oldest_waiting_seconds") >= 1800
    assert "django_http_requests_total_by_method_total" in body
    assert waiting.pk
    redis.Redis.from_url(django_settings.REDIS_URL).flushdb()
