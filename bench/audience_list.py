"""The audience desk's list at 1,000,000 subscribers: every page < 300 ms, counts included.

Creates its own database (rb_audience_bench), loads N subscribers with COPY (90 % confirmed,
5 % pending, 5 % unsubscribed; 20 % English; names from a small list so searches hit many or
few; confirmations spread over two years; a third with attributes city/age; 1 % suppressed),
1.5 subscriptions each over three topics, and one consent event each (a quarter imported).
Then requests whole pages through Django's test client as a marketer (view, selectors,
template; median of 5 after a warm-up) and the segment editor's live count.

    .venv/bin/python bench/audience_list.py [--n 1000000] [--keep]
"""

from __future__ import annotations

import argparse
import io
import os
import statistics
import sys
import time
from pathlib import Path
from urllib.parse import urlencode

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.harness import ROOT, create_database, drop_database, exit_on_termination, migrate  # noqa: E402

PG = "postgres://postgres@127.0.0.1:5432"
DATABASE = "rb_audience_bench"
NAMES = ["Anna", "Ben", "Clara", "David", "Eva", "Felix", "Greta", "Hanna", "Jonas", "Lena", "Zoë Quist"]
CITIES = ["Berlin", "Hamburg", "München", "Köln", "Bonn", "Leipzig", "Dresden", "Kiel", "Ulm", "Trier"]


def _copy(cursor, sql: str, buffer: io.StringIO) -> None:
    buffer.seek(0)
    with cursor.connection.cursor() as pg_cursor, pg_cursor.copy(sql) as copy:
        while chunk := buffer.read(1 << 20):
            copy.write(chunk)


def load(n: int) -> list[int]:
    from django.db import connection

    from subscribers.models import email_hash

    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO subscribers_topic (slug, name, description, is_public, created_at, translations) "
            "VALUES ('news', 'News', '', true, now(), '{}'), ('events', 'Events', '', true, now(), '{}'), "
            "('deals', 'Deals', '', false, now(), '{}') RETURNING id"
        )
        topics = [row[0] for row in cursor.fetchall()]
        cursor.execute(
            "INSERT INTO subscribers_attribute (key, label_en, label_de, kind, choices, is_public, "
            "created_at) VALUES ('city', 'City', 'Stadt', 'text', '[]', true, now()), "
            "('age', 'Age', 'Alter', 'number', '[]', false, now())"
        )
        buffer = io.StringIO()
        for i in range(n):
            address = f"bench{i:07d}@example.org"
            status = "pending" if i % 20 == 3 else "unsubscribed" if i % 20 == 7 else "confirmed"
            confirmed = (
                rf"2025-{1 + i % 12:02d}-{1 + i % 28:02d} 10:00:00+00" if status != "pending" else r"\N"
            )
            attributes = (
                f'{{"city": "{CITIES[i % len(CITIES)]}", "age": {18 + i % 60}}}' if i % 3 == 0 else "{}"
            )
            buffer.write(
                f"{address}\t{email_hash(address)}\t\t{NAMES[i % len(NAMES)]} {i}\t"
                f"{'en' if i % 5 == 0 else 'de'}\t{status}\tevery\t1\thtml\t"
                f"2025-01-01 00:00:00+00\t2025-01-01 00:00:00+00\t{confirmed}\t{attributes}\n"
            )
        _copy(
            cursor,
            "COPY subscribers_subscriber (email, email_hash, mailbox_hash, name, language, status, "
            "frequency, frequency_limit, format, created_at, updated_at, confirmed_at, attributes) "
            "FROM STDIN",
            buffer,
        )
        cursor.execute("SELECT min(id) FROM subscribers_subscriber")
        first = cursor.fetchone()[0]
        buffer = io.StringIO()
        for i in range(n):
            state = "active" if i % 20 not in (3, 7) else "pending" if i % 20 == 3 else "unsubscribed"
            buffer.write(f"{first + i}\t{topics[i % 2]}\t{state}\t2025-01-01 00:00:00+00\n")
            if i % 2 == 0:
                buffer.write(f"{first + i}\t{topics[2]}\t{state}\t2025-01-01 00:00:00+00\n")
        _copy(
            cursor,
            "COPY subscribers_subscription (subscriber_id, topic_id, status, created_at) FROM STDIN",
            buffer,
        )
        buffer = io.StringIO()
        for i in range(n):
            kind, source = ("imported", "import") if i % 4 == 0 else ("requested", "form")
            buffer.write(
                f"{first + i}\t{email_hash(f'bench{i:07d}@example.org')}\t{kind}\t{source}\t"
                "2025-01-01 00:00:00+00\t[]\t\t\t{}\t\n"
            )
        _copy(
            cursor,
            "COPY subscribers_consentevent (subscriber_id, email_hash, kind, source, created_at, topics, "
            "consent_text, consent_text_version, details, user_agent) FROM STDIN",
            buffer,
        )
        buffer = io.StringIO()
        for i in range(0, n, 100):
            reason = "hard_bounce" if i % 200 == 0 else "unsubscribed"
            buffer.write(
                f"{email_hash(f'bench{i:07d}@example.org')}\t{reason}\t2025-06-01 00:00:00+00\t{{}}\n"
            )
        _copy(
            cursor,
            "COPY subscribers_suppression (email_hash, reason, created_at, details) FROM STDIN",
            buffer,
        )
        for table in (
            "subscribers_subscriber",
            "subscribers_subscription",
            "subscribers_consentevent",
            "subscribers_suppression",
        ):
            cursor.execute(f"VACUUM ANALYZE {table}")
    return topics


def timed(client, label: str, path: str, params: dict, runs: int = 5) -> float:
    url = f"{path}?{urlencode(params)}" if params else path
    response = client.get(url)  # warm-up
    assert response.status_code == 200, (label, response.status_code)
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        response = client.get(url)
        times.append((time.perf_counter() - started) * 1000)
    median = statistics.median(times)
    context = response.context
    note = ""
    if context is not None and "total" in context:
        total = context["total"]
        note = f"{total.value:>9,} {'exact' if total.exact else 'estimated'}"
    elif response.get("Content-Type", "").startswith("application/json"):
        body = response.json()
        note = f"{body['count']:>9,} {'exact' if body['exact'] else 'estimated'}"
    flag = "" if median < 300 else "  <-- over 300 ms"
    print(f"  {label:<52} {median:7.1f} ms  (max {max(times):6.1f})  {note}{flag}")
    return median


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=1_000_000)
    parser.add_argument("--keep", action="store_true", help="Keep the database afterwards.")
    parser.add_argument("--reuse", action="store_true", help="Use the kept database as it is.")
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
    if not args.reuse:
        create_database(PG, DATABASE)
    try:
        if not args.reuse:
            migrate(env)
        os.chdir(ROOT)
        import django

        django.setup()
        from django.test.utils import setup_test_environment

        setup_test_environment()  # the test client then records each response's context
        from django.contrib.auth.models import Group, User
        from django.test import Client
        from django.urls import reverse

        from audience import selectors
        from subscribers.models import Subscriber, Topic

        if not args.reuse:
            started = time.monotonic()
            load(args.n)
            print(
                f"loaded {args.n:,} subscribers (+ subscriptions, consent events, suppressions) in "
                f"{time.monotonic() - started:.0f} s"
            )
        topics = list(Topic.objects.order_by("pk").values_list("pk", flat=True))
        user, _ = User.objects.get_or_create(username="bench-marketer")
        user.groups.add(Group.objects.get(name="Marketers"))
        client = Client()
        client.force_login(user)
        path = reverse("audience:list")
        deep = Subscriber.objects.order_by("-pk").values_list("pk", flat=True)[args.n // 2]
        deep_cursor = selectors.encode_cursor([deep])
        second = selectors.subscriber_page(Subscriber.objects.all(), sort="newest").next_cursor
        by_email = selectors.subscriber_page(Subscriber.objects.all(), sort="email").next_cursor
        by_name = selectors.subscriber_page(Subscriber.objects.all(), sort="name").next_cursor
        print(
            f"\nwhole pages of /audience/ at {Subscriber.objects.count():,} subscribers (median of 5, warm):"
        )
        results = [
            timed(client, "first page, no filter", path, {}),
            timed(client, "next page", path, {"cursor": second}),
            timed(client, "a page half-way down (keyset, no OFFSET)", path, {"cursor": deep_cursor}),
            timed(client, "sorted by address, next page", path, {"sort": "email", "cursor": by_email}),
            timed(client, "sorted by name, next page", path, {"sort": "name", "cursor": by_name}),
            timed(client, "sorted by confirmation", path, {"sort": "confirmed"}),
            timed(client, "search an address (rare: 'bench0123456')", path, {"q": "bench0123456"}),
            timed(client, "search a name (1 in 11: 'quist')", path, {"q": "quist"}),
            timed(client, "search, no match ('nobody-here')", path, {"q": "nobody-here"}),
            timed(client, "topic", path, {"topic": topics[2]}),
            timed(client, "status pending + language en", path, {"status": "pending", "language": "en"}),
            timed(
                client,
                "topic + English, sorted by address",
                path,
                {"topic": topics[0], "language": "en", "sort": "email"},
            ),
            timed(client, "source import", path, {"source": "import"}),
            timed(
                client,
                "confirmed in March 2025",
                path,
                {"consent_from": "2025-03-01", "consent_to": "2025-03-31"},
            ),
            timed(client, "suppressed: hard bounce", path, {"suppression": "hard_bounce"}),
            timed(client, "not suppressed", path, {"suppression": "none"}),
            timed(client, "attribute city = Köln", path, {"attr_city": "Köln"}),
            timed(client, "attribute age 30..40", path, {"attr_age_min": "30", "attr_age_max": "40"}),
            timed(
                client,
                "city Köln + topic + not suppressed",
                path,
                {"attr_city": "Köln", "topic": topics[0], "suppression": "none"},
            ),
        ]
        print("\nthe segment editor's live count (count.json):")
        count_path = reverse("audience:count")
        counts = [
            timed(client, "everyone", count_path, {}),
            timed(
                client,
                "topic + English + consent older than 180 days",
                count_path,
                {"topic": topics[1], "language": "en", "consent_older_than_days": "180"},
            ),
            timed(
                client, "city Köln + not suppressed", count_path, {"attr_city": "Köln", "suppression": "none"}
            ),
        ]
        print(f"\nslowest page {max(results):.0f} ms; slowest count {max(counts):.0f} ms")
    finally:
        if not args.keep:
            from django.db import connections

            connections.close_all()
            drop_database(PG, DATABASE)


if __name__ == "__main__":
    main()
