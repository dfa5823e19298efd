"""What /healthz checks and what /metrics reports: cheap reads, also with a million deliveries.

Every database read here is one index probe or a count over a small partial index:

- deliveries sent / failed: counters in the shared cache (rundbrief.counters), no scan;
- bounced / complained: the partial index delivery_bounce_complaint_idx (only such rows);
- inbound backlog and its oldest message: the index on status (only the backlog's rows);
- waiting conversations and the oldest: the index on waiting_since;
- queue depths: LLEN per Celery queue in Redis; the oldest task's age: LINDEX of the last
  element (Redis lists are queued at the head and consumed from the tail), read from the
  time stamp rundbrief.counters puts into each task message.

bench/monitoring.py measures them with 1M deliveries.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path

import redis
from django.conf import settings
from django.core.cache import cache
from django.db import DatabaseError, connection
from django.db.models import Count, Min
from django.utils import timezone
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

from campaigns.models import Delivery
from replies.models import Conversation, ImapMailbox, InboundMessage
from rundbrief import counters

logger = logging.getLogger(__name__)

QUEUES = ("default", "send", "inbound")
# kombu's Redis transport keeps priorities 3, 6 and 9 in lists of their own next to the queue's.
_PRIORITY_SUFFIXES = ("", "\x06\x163", "\x06\x166", "\x06\x169")
REDIS_TIMEOUT = 2.0


@dataclass
class CheckResult:
    ok: bool
    details: dict = field(default_factory=dict)


# --- the parts ----------------------------------------------------------------------------


def check_database() -> CheckResult:
    started = time.monotonic()
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except DatabaseError as exc:
        connection.close()  # a broken connection must not be reused by the next request
        return CheckResult(False, {"error": type(exc).__name__})
    return CheckResult(True, {"ms": round((time.monotonic() - started) * 1000, 1)})


def _redis(url: str) -> redis.Redis:
    return redis.Redis.from_url(url, socket_timeout=REDIS_TIMEOUT, socket_connect_timeout=REDIS_TIMEOUT)


def check_cache() -> CheckResult:
    """The shared cache (rate limits, throttles, counters): Redis, or the database cache without it."""
    started = time.monotonic()
    try:
        if settings.REDIS_URL:
            client = _redis(settings.REDIS_URL)
            try:
                client.ping()
            finally:
                client.close()
        else:
            cache.set("rundbrief:healthz", 1, 10)
            if cache.get("rundbrief:healthz") != 1:
                return CheckResult(False, {"error": "read back failed"})
    except (redis.RedisError, OSError, DatabaseError) as exc:
        return CheckResult(False, {"error": type(exc).__name__})
    return CheckResult(True, {"ms": round((time.monotonic() - started) * 1000, 1)})


def _broker_is_redis() -> bool:
    return settings.CELERY_BROKER_URL.startswith(("redis://", "rediss://", "unix://"))


def queue_state() -> dict[str, dict]:
    """Per Celery queue: messages waiting, and the age in seconds of the oldest (None if empty)."""
    now = time.time()
    if _broker_is_redis():
        client = _redis(settings.CELERY_BROKER_URL)
        try:
            pipe = client.pipeline(transaction=False)
            for queue in QUEUES:
                for suffix in _PRIORITY_SUFFIXES:
                    pipe.llen(queue + suffix)
                    pipe.lindex(queue + suffix, -1)
            replies = pipe.execute()
        finally:
            client.close()
        state: dict[str, dict] = {}
        for index, queue in enumerate(QUEUES):
            chunk = replies[index * 2 * len(_PRIORITY_SUFFIXES) : (index + 1) * 2 * len(_PRIORITY_SUFFIXES)]
            depth = sum(int(n or 0) for n in chunk[0::2])
            stamps = [_published_at(raw) for raw in chunk[1::2] if raw]
            stamps = [s for s in stamps if s is not None]
            state[queue] = {
                "messages": depth,
                "oldest_seconds": round(now - min(stamps), 1) if stamps else None,
            }
        return state
    if settings.CELERY_BROKER_URL.startswith("filesystem://"):
        folder = Path(settings.CELERY_BROKER_TRANSPORT_OPTIONS["data_folder_in"])
        state = {queue: {"messages": 0, "oldest_seconds": None} for queue in QUEUES}
        for path in folder.glob("*.msg"):
            queue = path.name.rsplit(".", 2)[-2] if path.name.count(".") >= 2 else ""
            if queue in state:
                entry = state[queue]
                entry["messages"] += 1
                age = round(now - path.stat().st_mtime, 1)
                entry["oldest_seconds"] = max(entry["oldest_seconds"] or 0, age)
        return state
    return {}


def _published_at(raw: bytes) -> float | None:
    try:
        message = json.loads(raw)
        return float(message["headers"][counters.PUBLISHED_AT_HEADER])
    except (ValueError, KeyError, TypeError):
        return None


def check_broker() -> CheckResult:
    started = time.monotonic()
    try:
        if _broker_is_redis():
            client = _redis(settings.CELERY_BROKER_URL)
            try:
                client.ping()
            finally:
                client.close()
        elif settings.CELERY_BROKER_URL.startswith("filesystem://"):
            folder = Path(settings.CELERY_BROKER_TRANSPORT_OPTIONS["data_folder_in"])
            if not folder.is_dir():
                return CheckResult(False, {"error": "broker folder missing"})
    except (redis.RedisError, OSError) as exc:
        return CheckResult(False, {"error": type(exc).__name__})
    return CheckResult(True, {"ms": round((time.monotonic() - started) * 1000, 1)})


def check_queues() -> CheckResult:
    limit = settings.HEALTH_MAX_QUEUE_AGE_SECONDS
    try:
        state = queue_state()
    except (redis.RedisError, OSError) as exc:
        return CheckResult(False, {"error": type(exc).__name__})
    too_old = [q for q, s in state.items() if s["oldest_seconds"] is not None and s["oldest_seconds"] > limit]
    return CheckResult(not too_old, {"queues": state, "limit_seconds": limit, "too_old": too_old})


def inbound_backlog() -> tuple[int, float | None]:
    """Stored inbound mail not yet processed: how many, and the oldest one's age in seconds."""
    row = InboundMessage.objects.filter(status=InboundMessage.Status.RECEIVED).aggregate(
        count=Count("id"), oldest=Min("received_at")
    )
    oldest = row["oldest"]
    return row["count"], (timezone.now() - oldest).total_seconds() if oldest else None


def check_inbound() -> CheckResult:
    limit = settings.HEALTH_MAX_INBOUND_AGE_SECONDS
    try:
        count, oldest = inbound_backlog()
    except DatabaseError as exc:
        connection.close()
        return CheckResult(False, {"error": type(exc).__name__})
    details = {"waiting": count, "oldest_seconds": round(oldest, 1) if oldest is not None else None}
    return CheckResult(oldest is None or oldest <= limit, {**details, "limit_seconds": limit})


CHECKS = {
    "database": check_database,
    "cache": check_cache,
    "broker": check_broker,
    "queues": check_queues,
    "inbound": check_inbound,
}


def health() -> tuple[bool, dict]:
    """(healthy, report): every part's result; nothing in it is secret (no URLs, no messages)."""
    results = {}
    database_up = True
    for name, check in CHECKS.items():
        if name == "inbound" and not database_up:
            results[name] = CheckResult(False, {"error": "database unavailable"})
            continue
        try:
            results[name] = check()
        except Exception as exc:  # noqa: BLE001 - a check that breaks is a failing part
            logger.exception("health check %s failed", name)
            results[name] = CheckResult(False, {"error": type(exc).__name__})
        if name == "database":
            database_up = results[name].ok
    failing = [name for name, result in results.items() if not result.ok]
    report = {
        "status": "ok" if not failing else "failing",
        "failing": failing,
        "checks": {name: {"ok": r.ok, **r.details} for name, r in results.items()},
    }
    return not failing, report


# --- Prometheus ---------------------------------------------------------------------------


class RundbriefCollector:
    """Collected at each scrape (prometheus_client's custom collector protocol)."""

    def collect(self):
        yield from self._deliveries()
        yield from self._queues()
        yield from self._inbound()
        yield from self._conversations()
        yield from self._imap()

    def describe(self):
        return []  # no metrics at registration time: collect() runs queries

    def _deliveries(self):
        values = counters.read([counters.DELIVERIES_SENT, counters.DELIVERIES_FAILED])
        yield CounterMetricFamily(
            "rundbrief_deliveries_sent",
            "Campaign mails handed over to the relay or ESP (rate() of it is the send rate).",
            value=values[counters.DELIVERIES_SENT],
        )
        yield CounterMetricFamily(
            "rundbrief_deliveries_failed",
            "Campaign mails that failed for good.",
            value=values[counters.DELIVERIES_FAILED],
        )
        # Counting the indexed column (not the id) keeps it an index-only scan.
        by_status = dict(
            Delivery.objects.filter(status__in=[Delivery.Status.BOUNCED, Delivery.Status.COMPLAINED])
            .order_by()
            .values_list("status")
            .annotate(n=Count("status"))
        )
        row = {
            "bounced": by_status.get(Delivery.Status.BOUNCED, 0),
            "complained": by_status.get(Delivery.Status.COMPLAINED, 0),
        }
        yield CounterMetricFamily(
            "rundbrief_deliveries_bounced",
            "Deliveries that bounced for good (divide its rate by the send rate for the bounce rate).",
            value=row["bounced"],
        )
        yield CounterMetricFamily(
            "rundbrief_deliveries_complained",
            "Deliveries the recipient marked as spam (complaint rate: its rate over the send rate).",
            value=row["complained"],
        )

    def _queues(self):
        depth = GaugeMetricFamily(
            "rundbrief_queue_messages", "Tasks waiting in a Celery queue.", labels=["queue"]
        )
        age = GaugeMetricFamily(
            "rundbrief_queue_oldest_seconds",
            "Age of the oldest task waiting in a Celery queue.",
            labels=["queue"],
        )
        try:
            state = queue_state()
        except (redis.RedisError, OSError):
            state = {}
        for queue, entry in state.items():
            depth.add_metric([queue], entry["messages"])
            age.add_metric([queue], entry["oldest_seconds"] or 0)
        yield depth
        yield age

    def _inbound(self):
        count, oldest = inbound_backlog()
        yield GaugeMetricFamily(
            "rundbrief_inbound_backlog", "Stored inbound mails not yet processed.", value=count
        )
        yield GaugeMetricFamily(
            "rundbrief_inbound_oldest_seconds",
            "Age of the oldest stored inbound mail not yet processed (0 when none).",
            value=oldest or 0,
        )

    def _conversations(self):
        row = Conversation.objects.filter(
            status=Conversation.Status.OPEN, waiting_since__isnull=False
        ).aggregate(count=Count("id"), oldest=Min("waiting_since"))
        yield GaugeMetricFamily(
            "rundbrief_conversations_waiting",
            "Open conversations waiting for our answer.",
            value=row["count"],
        )
        oldest = (timezone.now() - row["oldest"]).total_seconds() if row["oldest"] else 0
        yield GaugeMetricFamily(
            "rundbrief_conversation_oldest_waiting_seconds",
            "How long the conversation waiting longest for our answer has waited.",
            value=oldest,
        )

    def _imap(self):
        stored = CounterMetricFamily(
            "rundbrief_imap_stored", "Messages stored from an IMAP mailbox.", labels=["mailbox"]
        )
        refused = CounterMetricFamily(
            "rundbrief_imap_refused",
            "Messages an IMAP mailbox held that could not be stored.",
            labels=["mailbox"],
        )
        since = GaugeMetricFamily(
            "rundbrief_imap_last_check_age_seconds",
            "Seconds since an IMAP mailbox was last checked successfully.",
            labels=["mailbox"],
        )
        now = timezone.now()
        for mailbox in ImapMailbox.objects.filter(enabled=True).only(
            "name", "stored_count", "refused_count", "last_checked_at"
        ):
            stored.add_metric([mailbox.name], mailbox.stored_count)
            refused.add_metric([mailbox.name], mailbox.refused_count)
            if mailbox.last_checked_at:
                since.add_metric([mailbox.name], (now - mailbox.last_checked_at).total_seconds())
        yield stored
        yield refused
        yield since
