"""What /metrics and /healthz cost with a big installation: 1M deliveries (by default).

Creates its own database (rb_monitor) and uses Redis DB 8; loads N deliveries over 10
campaigns with COPY (1 % bounced, 0.1 % complained, the rest sent), 50,000 processed inbound
mails and 200 unprocessed, 100,000 conversations of which 300 wait for an answer; then times
each query of rundbrief.monitoring (median of 30 runs, warm cache), a whole /metrics
collection and a whole /healthz, and prints the plans of the two delivery counts.

    .venv/bin/python bench/monitoring.py [--n 1000000] [--keep]
"""

from __future__ import annotations

import argparse
import io
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.harness import ROOT, create_database, drop_database, exit_on_termination, flush_redis, migrate  # noqa: E402

PG = "postgres://postgres@127.0.0.1:5432"
DATABASE = "rb_monitor"
REDIS = "redis://127.0.0.1:6379/8"


def load(n: int) -> None:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO campaigns_campaign (name, subject, preheader, from_name, mjml_body, text_body, "
            "status, created_at, updated_at) SELECT 'Bench ' || i, 'Subject', '', '', '<mj-text/>', '', "
            "'sent', now(), now() FROM generate_series(1, 10) AS i"
        )
        cursor.execute("SELECT id FROM campaigns_campaign ORDER BY id")
        campaigns = [row[0] for row in cursor.fetchall()]
        buffer = io.StringIO()
        for i in range(n):
            status = "bounced" if i % 100 == 7 else "complained" if i % 1000 == 3 else "sent"
            buffer.write(
                f"{campaigns[i % len(campaigns)]}\t{status}\ttok{i:010d}\t<m{i}@bench>\t\t1\t\t0\t"
                "2026-01-01 00:00:00+00\t2026-01-01 00:00:00+00\t2026-01-01 00:00:00+00\n"
            )
        buffer.seek(0)
        raw = cursor.connection
        with (
            raw.cursor() as pg_cursor,
            pg_cursor.copy(
                "COPY campaigns_delivery (campaign_id, status, reply_token, message_id, esp_message_id, "
                "attempts, error, soft_bounces, created_at, updated_at, sent_at) FROM STDIN"
            ) as copy,
        ):
            while chunk := buffer.read(1 << 20):
                copy.write(chunk)
        cursor.execute(
            "INSERT INTO replies_inboundmessage (raw, size, source, envelope_from, envelope_to, message_id, "
            "dedupe_key, from_address, subject, status, kind, rule_hits, match_method, error, attempts, "
            "received_at) SELECT 'x', 1, 'smtp', '', '[]', '', 'k' || i, '', '', "
            "CASE WHEN i <= 200 THEN 'received' ELSE 'processed' END, '', '[]', '', '', 0, "
            "now() - (i || ' seconds')::interval FROM generate_series(1, 50200) AS i"
        )
        cursor.execute(
            "INSERT INTO replies_conversation (contact_address, subject, status, routing_rule, "
            "routing_reasons, routing_reason, is_unmatched, waiting_since, created_at) "
            "SELECT '', 'c', CASE WHEN i % 3 = 0 THEN 'closed' ELSE 'open' END, '', '[]', '', false, "
            "CASE WHEN i <= 300 THEN now() - (i || ' minutes')::interval END, now() "
            "FROM generate_series(1, 100000) AS i"
        )
        cursor.execute("ANALYZE")


def timed(label: str, fn, runs: int = 30) -> float:
    fn()  # warm
    samples = []
    for _ in range(runs):
        started = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - started) * 1000)
    median = statistics.median(samples)
    print(f"  {label:<52} {median:8.2f} ms  (min {min(samples):.2f}, max {max(samples):.2f})")
    return median


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=1_000_000)
    parser.add_argument("--keep", action="store_true", help="Keep the database afterwards.")
    args = parser.parse_args()
    exit_on_termination()
    env = {
        **os.environ,
        "DATABASE_URL": f"{PG}/{DATABASE}",
        "REDIS_URL": REDIS,
        "SECRET_KEY": "bench",
        "DJANGO_SETTINGS_MODULE": "rundbrief.settings",
        "LOG_LEVEL": "WARNING",
    }
    os.environ.update(env)
    create_database(PG, DATABASE)
    try:
        migrate(env)
        os.chdir(ROOT)
        import django

        django.setup()
        from django.db import connection
        from prometheus_client import CollectorRegistry, generate_latest

        from rundbrief import counters, monitoring

        started = time.monotonic()
        load(args.n)
        print(
            f"loaded {args.n:,} deliveries, 50,200 inbound, 100,000 conversations in "
            f"{time.monotonic() - started:.0f} s"
        )
        with connection.cursor() as cursor:
            cursor.execute("VACUUM ANALYZE campaigns_delivery")
        print("\nper query (median of 30, warm):")
        collector = monitoring.RundbriefCollector()
        timed("deliveries sent/failed (cache counters)", lambda: counters.read(["deliveries_sent"]))
        timed("  + bounced and complained (partial index)", lambda: list(collector._deliveries()))
        timed("queue depths and oldest task (Redis)", monitoring.queue_state)
        timed("inbound backlog + oldest", monitoring.inbound_backlog)
        timed("waiting conversations + oldest", lambda: list(collector._conversations()))
        timed("IMAP mailboxes", lambda: list(collector._imap()))

        def scrape() -> bytes:
            registry = CollectorRegistry(auto_describe=False)
            registry.register(monitoring.RundbriefCollector())
            return generate_latest(registry)

        print("\nwhole endpoints:")
        timed("/metrics collection (Rundbrief's part)", scrape)
        timed("/healthz (all five checks)", monitoring.health)

        with connection.cursor() as cursor:
            for label, sql in (
                (
                    "bounce/complaint count",
                    "SELECT count(*) FILTER (WHERE status='bounced'), count(*) "
                    "FILTER (WHERE status='complained') FROM campaigns_delivery "
                    "WHERE status IN ('bounced','complained')",
                ),
                (
                    "the same over all statuses (what a GROUP BY status would cost)",
                    "SELECT status, count(*) FROM campaigns_delivery GROUP BY status",
                ),
            ):
                cursor.execute("EXPLAIN (ANALYZE, BUFFERS, TIMING OFF) " + sql)
                print(f"\nplan, {label}:")
                for (line,) in cursor.fetchall():
                    print("  " + line)
    finally:
        flush_redis(REDIS)
        if not args.keep:
            from django.db import connections

            connections.close_all()
            drop_database(PG, DATABASE)


if __name__ == "__main__":
    main()
