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
import io
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


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


def admin_sql(pg: str, sql: str) -> None:
    import psycopg

    with psycopg.connect(f"{pg}/postgres", autocommit=True) as conn:
        conn.execute(sql)


def load_subscribers(n: int, topic_id: int) -> None:
    """COPY is ~50x faster than the ORM for a million rows."""
    from django.db import connection

    from subscribers.models import email_hash

    buffer = io.StringIO()
    for i in range(n):
        address = f"bench{i:07d}@example.org"
        paused = "2999-01-01" if i % 100 == 50 else r"\N"
        buffer.write(
            f"{address}\t{email_hash(address)}\tBench {i}\tde\tconfirmed\tevery\t1\t{paused}\thtml\t"
            "2026-01-01 00:00:00+00\t2026-01-01 00:00:00+00\t2026-01-01 00:00:00+00\n"
        )
    buffer.seek(0)
    with connection.cursor() as cursor:
        raw = cursor.connection  # psycopg 3 connection
        with (
            raw.cursor() as pg_cursor,
            pg_cursor.copy(
                "COPY subscribers_subscriber (email, email_hash, name, language, status, frequency, "
                "frequency_limit, paused_until, format, created_at, updated_at, confirmed_at) FROM STDIN"
            ) as copy,
        ):
            while chunk := buffer.read(1 << 20):
                copy.write(chunk)
        cursor.execute(
            "INSERT INTO subscribers_subscription "
            "(subscriber_id, topic_id, status, created_at, confirmed_at) "
            "SELECT id, %s, 'active', now(), now() FROM subscribers_subscriber",
            [topic_id],
        )
        cursor.execute(
            "INSERT INTO subscribers_suppression (email_hash, reason, created_at, details) "
            "SELECT email_hash, 'hard_bounce', now(), '{}' FROM subscribers_subscriber WHERE id % 100 = 0"
        )
        cursor.execute("ANALYZE")


def process_group_peak_rss(pgid: int) -> list[tuple[int, int]]:
    """(pid, peak RSS in kB) for every live process in a process group."""
    peaks = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            fields = stat[stat.rindex(")") + 2 :].split()
            if int(fields[2]) != pgid:
                continue
            status = (entry / "status").read_text()
        except (OSError, ValueError):
            continue
        for line in status.splitlines():
            if line.startswith("VmHWM:"):
                peaks.append((int(entry.name), int(line.split()[1])))
    return sorted(peaks)


def main() -> int:
    args = parse_args()
    # SIGTERM (e.g. from `timeout`) must still run the clean-up below.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    smtp_port = free_port()
    database_url = f"{args.pg}/{args.db}"
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "REDIS_URL": args.redis,
        "EMAIL_URL": f"smtp://127.0.0.1:{smtp_port}",
        "SECRET_KEY": os.environ.get("SECRET_KEY", "bench-secret-key"),
        "SEND_BATCH_SIZE": str(args.batch),
        "LOG_LEVEL": "WARNING",
        "CELERY_TASK_ALWAYS_EAGER": "false",
    }
    os.environ.update(env)
    os.environ["DJANGO_SETTINGS_MODULE"] = "rundbrief.settings"
    processes: list[subprocess.Popen] = []
    admin_sql(args.pg, f'DROP DATABASE IF EXISTS "{args.db}"')
    admin_sql(args.pg, f'CREATE DATABASE "{args.db}"')
    try:
        subprocess.run([sys.executable, "manage.py", "migrate", "-v", "0"], cwd=ROOT, env=env, check=True)
        import django

        django.setup()
        import redis
        from django.contrib.auth.models import User

        from campaigns import services
        from campaigns.models import Campaign, Delivery
        from campaigns.selectors import count_audience
        from subscribers.models import Topic

        redis.Redis.from_url(args.redis).flushdb()
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

        sink = subprocess.Popen(
            ["smtp-sink", "-u", "nobody", f"127.0.0.1:{smtp_port}", "1000"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        processes.append(sink)
        for index in range(args.workers):
            processes.append(
                subprocess.Popen(
                    [
                        sys.executable,
                        "-m",
                        "celery",
                        "-A",
                        "rundbrief",
                        "worker",
                        "-Q",
                        "send",
                        "-c",
                        str(args.concurrency),
                        "-n",
                        f"bench{index}@%h",
                        "--loglevel=WARNING",
                        "--without-gossip",
                        "--without-mingle",
                        "--without-heartbeat",
                    ],
                    cwd=ROOT,
                    env=env,
                    start_new_session=True,
                )
            )
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
        for worker in processes[1:]:
            peaks = process_group_peak_rss(worker.pid)
            listed = ", ".join(f"{pid}: {kb / 1024:.0f} MB" for pid, kb in peaks)
            print(f"worker pid {worker.pid}: peak RSS {listed}")
        assert campaign.status == Campaign.Status.SENT
        return 0
    finally:
        for process in processes:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        for process in processes:
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
        from django.db import connections

        connections.close_all()
        try:
            import redis

            redis.Redis.from_url(args.redis).flushdb()
        except Exception as exc:  # noqa: BLE001 - cleanup must go on
            print(f"could not flush {args.redis}: {exc}")
        admin_sql(args.pg, f'DROP DATABASE IF EXISTS "{args.db}" WITH (FORCE)')


if __name__ == "__main__":
    sys.exit(main())
