"""Benchmark: send one campaign to N subscribers through real Celery workers to Postfix's smtp-sink.

    .venv/bin/python bench/send_campaign.py [--n 100000] [--workers 2] [--concurrency 3] [--count-only]

It creates its own PostgreSQL database (rb_bench), loads N confirmed subscribers with COPY
(1 % of them suppressed, 1 % paused), flushes its own Redis DB, starts smtp-sink on a free
port and W `celery worker` processes, launches the campaign and waits until every delivery
is sent. It prints the audience count time, messages per second end to end (launch click
to last mail accepted), and the peak RSS of every worker process. It cleans up after
itself (workers, sink, database, Redis DB) even when interrupted.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.harness import (  # noqa: E402 - the repository root is put on the path first
    ROOT,
    Processes,
    create_database,
    drop_database,
    exit_on_termination,
    flush_redis,
    free_port,
    load_subscribers,
    migrate,
    process_group_memory,
    start_send_workers,
    start_sink,
)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--n", type=int, default=100_000, help="subscribers (default 100000)")
    parser.add_argument("--workers", type=int, default=2, help="celery worker processes (default 2)")
    parser.add_argument("--concurrency", type=int, default=3, help="pool processes per worker (default 3)")
    parser.add_argument("--batch", type=int, default=500, help="SEND_BATCH_SIZE (default 500)")
    parser.add_argument("--pg", default="postgres://postgres@127.0.0.1:5432", help="PostgreSQL server URL")
    parser.add_argument("--db", default="rb_bench", help="database to create and drop (default rb_bench)")
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/13", help="Redis DB to use and flush")
    parser.add_argument("--count-only", action="store_true", help="only load and time the audience count")
    return parser.parse_args()


def main() -> int:
    args = parse_args()
    exit_on_termination()
    smtp_port = free_port()
    env = {
        **os.environ,
        "DATABASE_URL": f"{args.pg}/{args.db}",
        "REDIS_URL": args.redis,
        "EMAIL_URL": f"smtp://127.0.0.1:{smtp_port}",
        "SECRET_KEY": os.environ.get("SECRET_KEY", "bench-secret-key"),
        "WEBHOOK_SECRET": os.environ.get("WEBHOOK_SECRET", "bench:webhook-secret"),
        "SEND_BATCH_SIZE": str(args.batch),
        "LOG_LEVEL": "WARNING",
        "CELERY_TASK_ALWAYS_EAGER": "false",
        "DJANGO_SETTINGS_MODULE": "rundbrief.settings",
    }
    os.environ.update(env)
    processes = Processes()
    create_database(args.pg, args.db)
    try:
        migrate(env)
        import django

        django.setup()
        from django.contrib.auth.models import User

        from campaigns import services
        from campaigns.models import Campaign, Delivery
        from campaigns.selectors import count_audience
        from subscribers.models import Topic

        flush_redis(args.redis)
        owner = User.objects.create_user("bench-owner", first_name="Bea", last_name="Bench")
        topic = Topic.objects.create(slug="bench", name="Bench", owner=owner)
        started = time.perf_counter()
        load_subscribers(args.n, topic.pk)
        print(f"loaded {args.n} subscribers in {time.perf_counter() - started:.1f} s")
        body = (ROOT / "bench" / "campaign.mjml").read_text()
        campaign = services.save_campaign(
            name="Bench", topics=[topic], subject="Bench Rundbrief", mjml_body=body, from_name="Rundbrief"
        )
        timings = []
        for _ in range(3):
            t = time.perf_counter()
            audience = count_audience(campaign)
            timings.append(time.perf_counter() - t)
        print(
            f"audience count: {audience.recipients} of {audience.candidates} "
            f"(excluded {audience.excluded}) in {min(timings) * 1000:.0f} ms (best of 3)"
        )
        if args.count_only:
            return 0

        start_sink(processes, smtp_port)
        workers = start_send_workers(processes, env, workers=args.workers, concurrency=args.concurrency)
        time.sleep(3)  # let the workers connect to Redis before the clock starts

        from rundbrief.celery import app as celery_app

        celery_app.conf.task_always_eager = False
        from django.db.models import Max
        from django.utils import timezone

        launched_at = timezone.now()
        t0 = time.perf_counter()
        services.launch_campaign(campaign=campaign)
        target = audience.recipients
        last_report = t0
        while True:
            # Polled once a second: the end time comes from the database, not from this loop.
            sent = Delivery.objects.filter(campaign=campaign, status=Delivery.Status.SENT).count()
            now = time.perf_counter()
            if sent >= target:
                break
            if now - last_report > 5:
                print(f"  … {sent} sent after {now - t0:.1f} s")
                last_report = now
            if now - t0 > 3600:
                print("gave up after an hour")
                return 1
            time.sleep(1)
        # Launch click to the last mail's acceptance (its sent_at), whatever the polling interval.
        last_accepted = Delivery.objects.filter(campaign=campaign).aggregate(last=Max("sent_at"))["last"]
        elapsed = (last_accepted - launched_at).total_seconds()
        campaign.refresh_from_db()
        failed = Delivery.objects.filter(campaign=campaign).exclude(status=Delivery.Status.SENT).count()
        print(
            f"sent {sent} messages in {elapsed:.1f} s: {sent / elapsed:.0f} msg/s end to end "
            f"({args.workers} workers x {args.concurrency} processes); not sent: {failed}; "
            f"campaign {campaign.status}"
        )
        for worker in workers:
            rows = process_group_memory(worker.pid)
            listed = ", ".join(
                f"{pid}: {peak / 1024:.0f} / {pss / 1024:.0f} / {uss / 1024:.0f}"
                for pid, peak, pss, uss in rows
            )
            print(f"worker pid {worker.pid} (MB: peak RSS / PSS / USS at the end): {listed}")
        assert campaign.status == Campaign.Status.SENT
        return 0
    finally:
        processes.stop_all()
        if "django" in sys.modules:
            from django.db import connections

            connections.close_all()
        flush_redis(args.redis)
        drop_database(args.pg, args.db)


if __name__ == "__main__":
    sys.exit(main())
