"""Announcing an import's subscribers to webhooks: one event per subscriber, made one at a time
(`fan_out` per subscriber, as N single `emit` calls would) or a batch at a time (`fan_out_each`,
what `rundbrief.events.emit_imported` queues: a task per 500).

Creates its own database (rb_webhook_fanout_bench), N confirmed subscribers and E endpoints, and
times making the events' payloads and delivery rows, nothing else: enqueueing the delivery tasks
is left out (the same for both: one task per delivery row) and nothing is sent. Prints the median
of R rounds for each way, the ratio, and the statements per subscriber.

    .venv/bin/python bench/webhook_fanout.py [--n 2000] [--endpoints 2] [--rounds 3] [--keep]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.harness import create_database, drop_database, exit_on_termination, migrate  # noqa: E402

PG = "postgres://postgres@127.0.0.1:5432"
DATABASE = "rb_webhook_fanout_bench"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=2000)
    parser.add_argument("--endpoints", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--keep", action="store_true")
    args = parser.parse_args()
    exit_on_termination()
    env = {
        **os.environ,
        "DATABASE_URL": f"{PG}/{DATABASE}",
        "REDIS_URL": "redis://127.0.0.1:6379/8",
        "SECRET_KEY": "bench",
        "WEBHOOK_SECRET": "bench:bench",
        "STATIC_PLAIN": "true",
        "DJANGO_SETTINGS_MODULE": "rundbrief.settings",
        "LOG_LEVEL": "WARNING",
    }
    os.environ.update(env)
    create_database(PG, DATABASE)
    try:
        migrate(env)
        import django

        django.setup()
        from django.db import connection
        from django.utils import timezone

        from api import webhooks
        from api.models import WebhookDelivery
        from rundbrief.events import BATCH
        from subscribers.models import Subscriber, Subscription, Topic, email_hash

        webhooks.after_commit = lambda *effects: None  # measured: payloads and rows, not the broker
        topic = Topic.objects.create(slug="bench", name="Bench")
        people = Subscriber.objects.bulk_create(
            [
                Subscriber(
                    email=f"fan{i:06d}@example.org",
                    email_hash=email_hash(f"fan{i:06d}@example.org"),
                    status="confirmed",
                    confirmed_at=timezone.now(),
                )
                for i in range(args.n)
            ],
            batch_size=2000,
        )
        Subscription.objects.bulk_create(
            [Subscription(subscriber=s, topic=topic, status="active") for s in people], batch_size=2000
        )
        for n in range(args.endpoints):
            webhooks.create_endpoint(
                url=f"https://hooks{n}.example.org/", events=["subscriber.confirmed"], created_by=None
            )
        ids = [s.pk for s in people]
        data = {"topics": ["bench"], "prior_consent": True}

        def one_at_a_time() -> None:
            for pk in ids:
                webhooks.fan_out(
                    event="subscriber.confirmed",
                    data={**data, "subscriber_id": pk},
                    occurred_at=timezone.now().isoformat(),
                )

        def batched() -> None:
            for start in range(0, len(ids), BATCH):
                webhooks.fan_out_each(
                    event="subscriber.confirmed",
                    subscriber_ids=ids[start : start + BATCH],
                    data=data,
                    occurred_at=timezone.now().isoformat(),
                )

        results: dict[str, list[float]] = {"one at a time": [], "batched": []}
        statements: dict[str, int] = {}
        for _ in range(args.rounds):
            for name, way in (("one at a time", one_at_a_time), ("batched", batched)):
                WebhookDelivery.objects.all().delete()
                counted = [0]

                def count(execute, sql, params, many, context, counted=counted):
                    counted[0] += 1
                    return execute(sql, params, many, context)

                with connection.execute_wrapper(count):
                    started = time.perf_counter()
                    way()
                    results[name].append(time.perf_counter() - started)
                statements[name] = counted[0]
                assert WebhookDelivery.objects.count() == args.n * args.endpoints
        print(f"{args.n:,} subscribers x {args.endpoints} endpoints, median of {args.rounds} rounds")
        for name, times in results.items():
            median = statistics.median(times)
            print(
                f"{name:14} {median:7.2f} s  {args.n / median:8,.0f} subscribers/s  "
                f"{statements[name] / args.n:5.2f} statements per subscriber"
            )
        ratio = statistics.median(results["one at a time"]) / statistics.median(results["batched"])
        print(f"batched is {ratio:.1f}x as fast")
    finally:
        if not args.keep:
            from django.db import connections

            connections.close_all()
            drop_database(PG, DATABASE)


if __name__ == "__main__":
    main()
