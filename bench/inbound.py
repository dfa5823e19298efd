"""Inbound benchmark: N replies over SMTP to the receiver, processed end to end by real workers.

    .venv/bin/python bench/inbound.py [-n 20000] [--connections 4] [--workers 2]

Notification mails to the contact person are off unless --notify is given (the issue's
"end to end" is stored, recognised, matched, routed).
Uses its own PostgreSQL database (rb_bench_inbound, recreated) and Redis DB 3 (the replies engineer's), starts
`manage.py run_inbound_smtp` and `celery worker -Q inbound` as subprocesses, seeds one
campaign with N deliveries, and sends one reply per delivery (to its reply+token address,
with a quoted history to strip) over a few reused SMTP connections. It then waits until
every message is processed and checks that none was lost or duplicated: N stored, N
processed, N thread messages, N conversations, each routed to the campaign's contact.
Prints: send rate (stored and answered 250), end-to-end rate (stored + recognised +
matched + threaded + routed).
"""

from __future__ import annotations

import argparse
import os
import smtplib
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

DB_NAME = os.environ.get("BENCH_DB", "rb_bench_inbound")
ENV = {
    **os.environ,
    "DATABASE_URL": f"postgres://postgres@127.0.0.1:5432/{DB_NAME}",
    "REDIS_URL": os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/3"),
    "SECRET_KEY": "bench-secret-key",
    "WEBHOOK_SECRET": os.environ.get("WEBHOOK_SECRET", "bench:webhook-secret"),
    "DJANGO_SETTINGS_MODULE": "rundbrief.settings",
    "LOG_LEVEL": "WARNING",
    "CELERY_TASK_ALWAYS_EAGER": "false",
}
os.environ.update(ENV)
PYTHON = sys.executable


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def recreate_database() -> None:
    import psycopg

    with psycopg.connect("postgresql://postgres@127.0.0.1:5432/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{DB_NAME}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{DB_NAME}"')
    subprocess.run([PYTHON, "manage.py", "migrate", "-v", "0"], cwd=ROOT, env=ENV, check=True)
    subprocess.run(["redis-cli", "-u", ENV["REDIS_URL"], "flushdb"], check=True, capture_output=True)


def seed(n: int, *, notify: bool) -> list[tuple[str, str, str]]:
    """One campaign, n confirmed subscribers and their deliveries; returns (email, token, message_id)."""
    import django

    django.setup()
    from django.contrib.auth.models import Group, User

    from campaigns.models import Campaign, Delivery
    from replies.models import StaffProfile
    from rundbrief.mail.addresses import new_token as new_reply_token
    from subscribers.models import Subscriber, Topic, email_hash

    contact = User.objects.create_user("bench.contact", email="contact@staff.localhost")
    contact.groups.add(Group.objects.get(name="Staff"))
    # With --notify every reply also sends the contact person a notice (a second task and a mail).
    StaffProfile.objects.create(user=contact, display_name="Bench Contact", notify_by_email=notify)
    topic = Topic.objects.create(slug="bench", name="Bench", owner=contact)
    campaign = Campaign.objects.create(
        name="Bench", subject="Bench newsletter", mjml_body="<mjml/>", contact=contact
    )
    campaign.topics.add(topic)
    subscribers = [
        Subscriber(
            email=f"s{i}@bench.example", email_hash=email_hash(f"s{i}@bench.example"), status="confirmed"
        )
        for i in range(n)
    ]
    Subscriber.objects.bulk_create(subscribers, batch_size=2000)
    rows = []
    deliveries = []
    for i, subscriber in enumerate(Subscriber.objects.order_by("id")):
        token = new_reply_token()
        message_id = f"<bench.{i}@rundbrief.localhost>"
        deliveries.append(
            Delivery(
                campaign=campaign,
                subscriber=subscriber,
                status="sent",
                reply_token=token,
                message_id=message_id,
            )
        )
        rows.append((subscriber.email, token, message_id))
    Delivery.objects.bulk_create(deliveries, batch_size=2000)
    from django.db import connections

    connections.close_all()
    return rows


def reply_bytes(i: int, email: str, token: str, message_id: str) -> bytes:
    return (
        f"From: Subscriber {i} <{email}>\r\n"
        f"To: Rundbrief <reply+{token}@reply.localhost>\r\n"
        f"Subject: Re: Bench newsletter\r\n"
        f"Message-ID: <bench-reply-{i}@bench.example>\r\n"
        f"In-Reply-To: {message_id}\r\n"
        f"References: {message_id}\r\n"
        f"Date: Sun, 22 Nov 2026 10:00:00 +0100\r\n"
        f"MIME-Version: 1.0\r\n"
        f"Content-Type: text/plain; charset=utf-8\r\n\r\n"
        f"Hallo,\r\n\r\nvielen Dank für den Rundbrief Nummer {i}. Ich habe eine Frage zur Förderung.\r\n\r\n"
        f"Viele Grüße\r\nSubscriber {i}\r\n\r\n"
        f"Am 21.11.2026 um 10:00 schrieb Rundbrief <newsletter@localhost>:\r\n"
        f"> Liebe Leserin, lieber Leser,\r\n> diesen Monat geht es um Wärmepumpen.\r\n"
    ).encode()


def wait_for_port(port: int, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"receiver did not start on port {port}")


def send_all(port: int, messages: list[bytes], connections: int) -> list[str]:
    errors: list[str] = []
    chunks = [messages[k::connections] for k in range(connections)]

    def run(chunk: list[bytes]) -> None:
        client = smtplib.SMTP("127.0.0.1", port, timeout=60)
        for raw in chunk:
            try:
                client.sendmail("subscriber@bench.example", ["reply+x@reply.localhost"], raw)
            except smtplib.SMTPException as exc:
                errors.append(str(exc))
        client.quit()

    threads = [threading.Thread(target=run, args=(chunk,)) for chunk in chunks]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return errors


def counts() -> dict[str, int]:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT (SELECT count(*) FROM replies_inboundmessage),"
            " (SELECT count(*) FROM replies_inboundmessage WHERE status = 'processed'),"
            " (SELECT count(*) FROM replies_inboundmessage WHERE status = 'failed'),"
            " (SELECT count(*) FROM replies_message WHERE direction = 'in'),"
            " (SELECT count(DISTINCT inbound_id) FROM replies_message WHERE direction = 'in'),"
            " (SELECT count(*) FROM replies_conversation),"
            " (SELECT count(*) FROM replies_conversation WHERE routing_rule = 'campaign_contact')"
        )
        stored, processed, failed, messages, distinct, conversations, routed = cursor.fetchone()
    return {
        "stored": stored,
        "processed": processed,
        "failed": failed,
        "messages": messages,
        "distinct_messages": distinct,
        "conversations": conversations,
        "routed_to_contact": routed,
    }


def _cpu_seconds(pid: int) -> float:
    """User plus system CPU time of one process, from /proc (0 if it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _process_tree(pid: int) -> list[int]:
    pids = [pid]
    try:
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except OSError:
        children = []
    for child in children:
        pids += _process_tree(int(child))
    return pids


def _postgres_backends() -> list[int]:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()", [DB_NAME]
        )
        return [row[0] for row in cursor.fetchall()]


def cpu_used(receiver: int, worker: int) -> dict[str, float]:
    """CPU seconds so far of the receiver, the workers and their PostgreSQL backends."""
    return {
        "receiver": sum(map(_cpu_seconds, _process_tree(receiver))),
        "workers": sum(map(_cpu_seconds, _process_tree(worker))),
        "postgres": sum(map(_cpu_seconds, _postgres_backends())),
    }


def cpu_per_reply(processed: int, before: dict[str, float], after: dict[str, float]) -> str:
    """Where the machine's CPU went while sending and processing, per reply (bench client not counted)."""
    return ", ".join(
        f"{name} {1000 * (after[name] - before[name]) / max(processed, 1):.2f} ms" for name in after
    )


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("-n", type=int, default=20_000)
    parser.add_argument("--connections", type=int, default=4, help="parallel SMTP connections (each reused)")
    parser.add_argument(
        "--workers", type=int, default=2, help="Celery worker processes (prefork concurrency; 2 cores)"
    )
    parser.add_argument("--receiver-threads", type=int, default=8)
    parser.add_argument(
        "--notify", action="store_true", help="notify the contact person of every reply by mail"
    )
    args = parser.parse_args()

    print(f"load average before (1, 5, 15 min): {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print(f"preparing database {DB_NAME} with {args.n} deliveries ...", flush=True)
    recreate_database()
    rows = seed(args.n, notify=args.notify)
    messages = [reply_bytes(i, *row) for i, row in enumerate(rows)]

    port = free_port()
    receiver = subprocess.Popen(
        [
            PYTHON,
            "manage.py",
            "run_inbound_smtp",
            "--port",
            str(port),
            "--threads",
            str(args.receiver_threads),
        ],
        cwd=ROOT,
        env=ENV,
    )
    worker = subprocess.Popen(
        [
            PYTHON, "-m", "celery", "-A", "rundbrief", "worker", "-Q", "inbound", "-c", str(args.workers),
            "--prefetch-multiplier", "16", "--without-gossip", "--without-mingle", "--without-heartbeat",
            "-l", "WARNING",
        ],
        cwd=ROOT,
        env=ENV,
    )  # fmt: skip
    try:
        wait_for_port(port)
        time.sleep(3)  # the workers finish starting (their start-up is not counted)
        cpu_at_start = cpu_used(receiver.pid, worker.pid)
        print(f"sending {args.n} replies over {args.connections} SMTP connections ...", flush=True)
        started = time.monotonic()
        errors = send_all(port, messages, args.connections)
        sent = time.monotonic()
        send_seconds = sent - started
        stored = args.n - len(errors)
        print(f"  stored+250: {stored} in {send_seconds:.1f} s = {stored / send_seconds:.0f} replies/s")
        print(f"  SMTP errors: {len(errors)}", flush=True)
        last_progress, last_change = -1, time.monotonic()
        while True:
            state = counts()
            done = state["processed"] + state["failed"]
            if done >= state["stored"] and state["stored"] >= args.n - len(errors):
                break
            if done != last_progress:
                last_progress, last_change = done, time.monotonic()
            elif time.monotonic() - last_change > 60:
                print("  no progress for 60 s, giving up", flush=True)
                break
            time.sleep(0.25)
        finished = time.monotonic()
        total = finished - started
        state = counts()
        rate = state["processed"] / total
        print(f"  processed end to end: {state['processed']} in {total:.1f} s = {rate:.0f} replies/s")
        print(f"  counts: {state}")
        used = cpu_per_reply(state["processed"], cpu_at_start, cpu_used(receiver.pid, worker.pid))
        print(f"  CPU per reply: {used}")
        print(f"  load average (1, 5, 15 min): {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
        ok = (
            not errors
            and state["stored"] == args.n
            and state["processed"] == args.n
            and state["failed"] == 0
            and state["messages"] == args.n
            and state["distinct_messages"] == args.n
            and state["conversations"] == args.n
            and state["routed_to_contact"] == args.n
        )
        print("RESULT:", "OK, none lost or duplicated" if ok else "PROBLEM (see counts)")
        return 0 if ok else 1
    finally:
        for process in (receiver, worker):
            process.terminate()
        for process in (receiver, worker):
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()


if __name__ == "__main__":
    sys.exit(main())
