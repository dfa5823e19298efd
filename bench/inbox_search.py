"""Inbox search benchmark: p50/p95 of /inbox/search/'s work at 1,000,000 messages.

    .venv/bin/python bench/inbox_search.py [--messages 1000000] [--per-conversation 4] [--rounds 5]

Its own PostgreSQL database (rb_bench_inbox_search, recreated, dropped at the end unless
--keep): migrated, then filled in SQL (generate_series, no ORM): 100,000 subscribers, N / 4
conversations with 4 messages each (a subscriber's reply, our answer quoting it, and again),
every 20th conversation with an internal note, three teams, six staff, some tags. Message
texts are 40 words: German and English everyday words (each in roughly 1 in 30 texts) and a
long tail of rare tokens (Zipf-like, "w123"), so queries range from rare to broad. The search
indexes are dropped before the load and built after it (as a restore would), then ANALYZE.

Measured: what the search view does per request, in this process, through the ORM:
replies.search.find(user, q, filters) paged by replies.pagination.page (the count of matches,
exact up to replies.search.BROAD_MATCHES, and the first page of 50, newest activity first),
for a manager (sees everything) and a staff member (own, teams', unassigned). Four tokens of the
tail sit around BROAD_MATCHES (where a search turns from counted to "many"), the hardest place for
both ways of answering it. Each query is run `--rounds` times after one warm-up;
the figures are per query and over all queries: p50, p95, max in milliseconds.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

DB_NAME = os.environ.get("BENCH_DB", "rb_bench_inbox_search")
PG = "postgresql://postgres@127.0.0.1:5432"
ENV = {
    **os.environ,
    "DATABASE_URL": f"postgres://postgres@127.0.0.1:5432/{DB_NAME}",
    "REDIS_URL": os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/7"),
    "SECRET_KEY": "bench-secret-key",
    "WEBHOOK_SECRET": "bench:webhook-secret",
    "DJANGO_SETTINGS_MODULE": "rundbrief.settings",
    "LOG_LEVEL": "WARNING",
}
os.environ.update(ENV)

from bench.harness import create_database, drop_database, migrate  # noqa: E402

WORDS = str.split(
    "Heizung Wärmepumpe Förderung Antrag Rechnung Termin Frage Vertrag Zähler Strom Gas Solar "
    "Dach Keller Fenster Dämmung Kosten Angebot Handwerker Vermieter Mieter Nachbar Wohnung Haus "
    "Rückruf Kündigung Abmeldung Newsletter Beratung Zuschuss heat pump subsidy invoice meeting "
    "question contract meter electricity solar roof window insulation cost offer landlord tenant "
    "flat house callback cancel newsletter advice grant building boiler radiator thermostat"
)
SUBSCRIBERS = 100_000


def _load(messages: int, per_conversation: int) -> dict:
    import importlib

    from django.contrib.auth.models import Group, User
    from django.db import connection

    from replies.models import StaffProfile, Tag, Team
    from subscribers.models import Topic

    search_migration = importlib.import_module("replies.migrations.0007_inbox")
    Topic.objects.create(slug="bench", name="Bench")
    started = time.monotonic()
    with connection.cursor() as cursor:
        # Hashes as subscribers.models.email_hash computes them (sha256 of the lower-case address).
        cursor.execute(
            "INSERT INTO subscribers_subscriber (email, email_hash, mailbox_hash, name, language, status, "
            "frequency, frequency_limit, format, created_at, updated_at, confirmed_at, attributes) "
            "SELECT a, encode(sha256(convert_to(a, 'UTF8')), 'hex'), '', 'Bench Person ' || g, 'de', "
            "'confirmed', 'every', 1, 'html', now(), now(), now(), '{}' "
            "FROM generate_series(1, %s) AS g, "
            "LATERAL (SELECT 'bench' || g || '@example.org' AS a) AS address",
            [SUBSCRIBERS],
        )
    teams = [Team.objects.create(name=f"Team {n}") for n in range(3)]
    staff = []
    for n in range(6):
        user = User.objects.create_user(f"staff{n}", password="x")
        user.groups.add(Group.objects.get(name="Managers" if n == 0 else "Staff"))
        profile = StaffProfile.objects.create(user=user, display_name=f"Staff {n}")
        profile.teams.set([teams[n % 3]])
        staff.append(user)
    for name in ("Förderung", "Beschwerde", "Rückruf", "vip"):
        Tag.objects.create(name=name)
    conversations = messages // per_conversation
    staff_ids = "{" + ",".join(str(u.pk) for u in staff) + "}"
    team_ids = "{" + ",".join(str(t.pk) for t in teams) + "}"
    words = "{" + ",".join(f'"{w}"' for w in WORDS) + "}"
    with connection.cursor() as cursor:
        for name, _table, _document, _where in search_migration.INDEXES:
            cursor.execute(f"DROP INDEX {name}")
        cursor.execute("SELECT min(id), max(id) FROM subscribers_subscriber")
        first_subscriber, _last = cursor.fetchone()
        cursor.execute(
            f"""
            INSERT INTO replies_conversation (subscriber_id, contact_address, subject, status, assignee_id,
                team_id, routing_rule, routing_reasons, legacy_routing_reason, is_unmatched, waiting_since,
                last_message_at, created_at)
            SELECT {first_subscriber} + (g %% {SUBSCRIBERS}), '',
                'Frage ' || g || ' zu ' || (%(words)s::text[])[1 + g %% {len(WORDS)}],
                CASE WHEN g %% 10 < 7 THEN 'closed' WHEN g %% 10 = 7 THEN 'snoozed' ELSE 'open' END,
                CASE WHEN g %% 5 = 0 THEN NULL ELSE (%(staff)s::int[])[1 + g %% 6] END,
                (%(teams)s::int[])[1 + g %% 3], 'campaign_contact', '[]', '', false,
                CASE WHEN g %% 10 >= 8 THEN now() - (g || ' seconds')::interval END,
                now() - (g || ' seconds')::interval, now() - (g || ' seconds')::interval - interval '1 day'
            FROM generate_series(1, {conversations}) AS g
            """,
            {"words": words, "staff": staff_ids, "teams": team_ids},
        )
        # 40 words a message: everyday words (~1 in 40 texts each) or a rare token (Zipf-like tail).
        cursor.execute(
            f"""
            INSERT INTO replies_message (conversation_id, direction, kind, from_address, to_address, cc,
                subject, text, stripped_text, html, message_id, in_reply_to, "references", created_at,
                send_status, send_attempts, send_error)
            SELECT c.id, CASE WHEN n %% 2 = 1 THEN 'in' ELSE 'out' END,
                CASE WHEN n %% 2 = 1 THEN 'human' ELSE '' END,
                CASE WHEN n %% 2 = 1 THEN s.name || ' <' || s.email || '>'
                    ELSE 'Staff <newsletter@localhost>' END,
                '', '', 'Re: ' || c.subject, t.text, t.text, '', '', '', '',
                c.created_at + (n || ' hours')::interval, CASE WHEN n %% 2 = 1 THEN '' ELSE 'sent' END, 0, ''
            FROM replies_conversation c
            JOIN subscribers_subscriber s ON s.id = c.subscriber_id
            CROSS JOIN generate_series(1, {per_conversation}) AS n
            CROSS JOIN LATERAL (
                SELECT string_agg(CASE WHEN random() < 0.05
                    THEN (%(words)s::text[])[1 + floor(random() * {len(WORDS)})::int]
                    ELSE 'w' || floor(power(random(), 3) * 200000)::int END, ' ') AS text
                FROM generate_series(1, 40 + 0 * c.id + 0 * n)
            ) t
            """,
            {"words": words},
        )
        cursor.execute(
            "INSERT INTO replies_conversationevent "
            "(conversation_id, kind, actor_id, text, reasons, created_at) "
            "SELECT id, 'note', %s, 'Rückruf vereinbart, Kundin fragt nach Förderung ' || id, '[]', now() "
            "FROM replies_conversation WHERE id %% 20 = 0",
            [staff[0].pk],
        )
        cursor.execute(
            "INSERT INTO replies_conversation_tags (conversation_id, tag_id) "
            "SELECT c.id, t.id FROM replies_conversation c, replies_tag t "
            "WHERE c.id % 50 = 0 AND t.name = 'vip'"
        )
        loaded = time.monotonic()
        for name, table, expression, where in search_migration.INDEXES:
            cursor.execute(f"CREATE INDEX {name} ON {table} USING gin (({expression})) {where}")
        indexed = time.monotonic()
        cursor.execute("ANALYZE")
        cursor.execute("SELECT count(*) FROM replies_message")
        count = cursor.fetchone()[0]
    print(
        f"loaded {count:,} messages in {conversations:,} conversations, {SUBSCRIBERS:,} subscribers: "
        f"{loaded - started:.0f} s; search indexes built in {indexed - loaded:.0f} s",
        flush=True,
    )
    return {"manager": staff[0], "staff": staff[1], "teams": teams}


def _queries(world: dict) -> list[tuple[str, str, dict]]:
    from replies.models import Tag
    from subscribers.models import Subscriber

    someone = Subscriber.objects.order_by("id")[12345]
    vip = Tag.objects.get(name="vip")
    return [
        ("rare token", "w150000", {}),
        ("rare pair", "w120000 w130000", {}),
        # The Zipf-like tail around replies.search.BROAD_MATCHES, where a search turns from
        # counted to "many" (hits in messages, roughly, for this load).
        ("token, ~1,000 hits", "w3000", {}),
        ("token, ~2,200 hits", "w1000", {}),
        ("token, ~4,000 hits", "w400", {}),
        ("token, ~10,000 hits", "w100", {}),
        ("common German word", "Wärmepumpe", {}),
        ("German inflected", "Heizungen", {}),
        ("common English word", "subsidy", {}),
        ("two common words", "heat pump", {}),
        ("phrase", '"heat pump"', {}),
        ("address", someone.email, {}),
        ("name", someone.name, {}),
        ("note word", "vereinbart", {}),
        ("subject number", "Frage 4711", {}),
        ("word + status open", "Förderung", {"status": "open"}),
        ("word + team", "Rechnung", {"team": world["teams"][1].pk}),
        ("tag filter only", "", {"tag": vip.pk}),
        ("no match", "Quantenchromodynamik", {}),
    ]


def _measure(user, queries, rounds: int) -> tuple[dict[str, list[float]], dict[str, int]]:
    from replies import pagination
    from replies.search import ORDER, Filters, find

    times: dict[str, list[float]] = {}
    totals: dict[str, int] = {}
    for label, q, filters in queries:
        samples = []
        for attempt in range(rounds + 1):
            start = time.perf_counter()
            results = find(user, q, Filters(**filters))
            page = pagination.page(results.conversations, ORDER, count=results.exact)
            elapsed = (time.perf_counter() - start) * 1000
            if attempt:  # the first is a warm-up
                samples.append(elapsed)
        times[label] = samples
        totals[label] = page.total if page.total is not None else -1  # -1: many (not counted)
    return times, totals


def _p(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--messages", type=int, default=1_000_000)
    parser.add_argument("--per-conversation", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--keep", action="store_true", help="keep the database (and reuse it with --reuse)")
    parser.add_argument("--reuse", action="store_true", help="measure a database kept by an earlier --keep")
    args = parser.parse_args()
    if not args.reuse:
        create_database(PG, DB_NAME)
        migrate(ENV)
    import django

    django.setup()
    from django.contrib.auth.models import User

    from replies.models import Team

    try:
        if args.reuse:
            world = {
                "manager": User.objects.get(username="staff0"),
                "staff": User.objects.get(username="staff1"),
                "teams": list(Team.objects.order_by("id")),
            }
        else:
            world = _load(args.messages, args.per_conversation)
        queries = _queries(world)
        everything: list[float] = []
        for who in ("manager", "staff"):
            times, totals = _measure(world[who], queries, args.rounds)
            print(f"\nas {who} ({args.rounds} runs each, ms): p50 / p95 / max   matches")
            for label, samples in times.items():
                everything += samples
                print(
                    f"  {label:<22} {statistics.median(samples):7.1f} {_p(samples, 0.95):7.1f} "
                    f"{max(samples):7.1f}   {totals[label] if totals[label] >= 0 else 'many':>8}"
                )
        print(
            f"\nall queries, both people: p50 {statistics.median(everything):.1f} ms, "
            f"p95 {_p(everything, 0.95):.1f} ms, max {max(everything):.1f} ms ({len(everything)} searches)"
        )
    finally:
        if not args.keep and not args.reuse:
            from django.db import connections

            connections.close_all()
            drop_database(PG, DB_NAME)


if __name__ == "__main__":
    main()
