"""Signup answer time for a known and an unknown address (issue #10): the work must be the same.

Runs the signup page in-process (Django's test client, a fresh PostgreSQL database of its
own, Celery's in-memory broker, so the request's own work is what is timed) and prints the
median and quartiles over N alternating signups of a known and an unknown address.

    .venv/bin/python bench/signup_timing.py [--n 300] [--database rb_bench_signup]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path.cwd()
sys.path.insert(0, str(ROOT))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=300)
    parser.add_argument("--database", default="rb_bench_signup")
    args = parser.parse_args()

    import psycopg

    admin = psycopg.connect("postgresql://postgres@127.0.0.1:5432/postgres", autocommit=True)
    admin.execute(f'DROP DATABASE IF EXISTS "{args.database}"')
    admin.execute(f'CREATE DATABASE "{args.database}"')
    os.environ.update(
        {
            "DJANGO_SETTINGS_MODULE": "rundbrief.settings",
            "DATABASE_URL": f"postgres://postgres@127.0.0.1:5432/{args.database}",
            "REDIS_URL": "",
            "CELERY_BROKER_URL": "memory://",
            "SECRET_KEY": "bench",
            "SUBSCRIBE_RATE_LIMIT": "1000000/s",
            "LOG_LEVEL": "ERROR",
        }
    )
    import django

    django.setup()
    from django.core.management import call_command
    from django.test import Client

    call_command("migrate", verbosity=0)
    call_command("createcachetable", verbosity=0)
    from subscribers.models import ConsentText, Subscriber, Subscription, Topic, email_hash

    topic = Topic.objects.create(slug="news", name="News")
    consent = ConsentText.objects.filter(language="en").first()
    known = Subscriber.objects.create(
        email="known@example.org", email_hash=email_hash("known@example.org"), status="confirmed"
    )
    Subscription.objects.create(subscriber=known, topic=topic, status="active")

    client = Client()
    times: dict[str, list[float]] = {"known": [], "unknown": []}
    for i in range(args.n * 2 + 20):
        kind = "known" if i % 2 else "unknown"
        email = "known@example.org" if kind == "known" else f"new{i}@example.org"
        data = {"email": email, "name": "", "language": "en", "topics": [topic.pk]}
        data.update({"consent_version": consent.version, "website": ""})
        start = time.perf_counter()
        response = client.post("/subscribe/", data, REMOTE_ADDR="198.51.100.7")
        elapsed = (time.perf_counter() - start) * 1000
        assert response.status_code == 302, response.status_code
        if i >= 20:  # warm-up
            times[kind].append(elapsed)
    for kind, values in times.items():
        q1, median, q3 = statistics.quantiles(values, n=4)
        print(f"{kind:8} n={len(values)}  median {median:.2f} ms  (quartiles {q1:.2f}–{q3:.2f} ms)")
    from django.db import connections

    connections.close_all()
    admin.execute(f'DROP DATABASE "{args.database}"')


if __name__ == "__main__":
    main()
