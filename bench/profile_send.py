"""Where the CPU per mail of Rundbrief's send goes: workers (py-spy), PostgreSQL (perf, statements).

    .venv/bin/python bench/profile_send.py [--n 30000] [--out /tmp/rb-profile]

Three views of the same send path (bench/campaign.mjml, ~10.5 KB mails, smtp-sink), with its
own database (rb_profile) and Redis DB 7:

1. Celery workers end to end, as bench/compare_send.py runs them, with ``py-spy record`` on
   every pool process and ``perf record`` on their PostgreSQL backends (if perf works here).
   The py-spy samples are grouped by the innermost send-path function on their stack
   (token signing, body, headers, SMTP, each database step, Celery), and scaled to the CPU
   per mail measured from /proc, so each group reads as µs per mail.
2. The same send in this process (the send task's code without Celery: queue_deliveries,
   then send_deliveries per batch of ids), each SQL statement timed through a Django
   execute wrapper: calls per mail, PostgreSQL backend CPU per mail (from its
   /proc/PID/task/*/schedstat around each statement) and client CPU per mail inside the call.
   What no statement shows (COMMIT of atomic blocks) is the rest of the backend's CPU.
   pg_stat_user_tables shows how many row versions each mail writes (inserts, updates, HOT).
3. The per-mail pieces of building a message, timed alone (no database, no socket).

pg_stat_statements would give view 2 across all processes, but it needs
shared_preload_libraries and so a restart of the shared PostgreSQL server, which other
engineers' tests use; the execute wrapper measures the same from the client side.
Writes raw py-spy and perf output under --out; prints the tables.
"""

from __future__ import annotations

import argparse
import collections
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import timeit
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.compare_send import Rundbrief  # noqa: E402 - the repository root is put on the path first
from bench.harness import (  # noqa: E402
    Processes,
    cpu_seconds,
    exit_on_termination,
    free_port,
    postgres_backends,
    process_tree,
    start_sink,
    wait_for_port,
)

# Innermost match wins: (group, function name, file suffix). Checked from the leaf up.
GROUPS = [
    ("token signing (2 signed tokens)", "make_token", "subscribers/tokens.py"),
    ("Message-ID / reply token (launch)", "new_message_id", "rundbrief/mail/headers.py"),
    ("Message-ID / reply token (launch)", "new_token", "rundbrief/mail/addresses.py"),
    ("dot-stuffing", "dot_stuffed", "rundbrief/mail/transports/smtp.py"),
    ("body: merge + quoted-printable", "_render_encoded", "campaigns/messages.py"),
    ("headers + assembly (build)", "build", "campaigns/messages.py"),
    ("DB: record acceptances (per round)", "record", "campaigns/sending/ledger.py"),
    ("SMTP: send_round (socket I/O)", "send_round", "rundbrief/mail/transports/smtp.py"),
    ("DB: claim + recipients (chunk)", "_hold", "campaigns/sending/loop.py"),
    ("DB: skipped rows (chunk)", "recipients_of", "campaigns/sending/run.py"),
    ("DB: fold acceptances (chunk)", "fold_held", "campaigns/sending/ledger.py"),
    ("DB: campaign status (chunk)", "_campaign_status", "campaigns/sending/loop.py"),
    ("DB: finish_if_done (batch)", "finish_if_done", "campaigns/sending/loop.py"),
    ("DB: campaign + factory (batch)", "send_deliveries", "campaigns/sending/loop.py"),
    ("launch: queue_deliveries (rows, pages)", "queue_deliveries", "campaigns/services.py"),
    ("Celery, kombu, Redis (task overhead)", "", "celery/"),
    ("Celery, kombu, Redis (task overhead)", "", "kombu/"),
    ("Celery, kombu, Redis (task overhead)", "", "billiard/"),
]
_FRAME = re.compile(r"^(?P<function>.+?) \((?P<file>[^:()]+):\d+\)$")


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--n", type=int, default=30_000, help="subscribers (default 30000)")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--concurrency", type=int, default=3)
    parser.add_argument("--batch", type=int, default=500, help="SEND_BATCH_SIZE (default 500)")
    parser.add_argument("--rate", type=int, default=200, help="py-spy samples per second")
    parser.add_argument("--out", type=Path, default=Path("/tmp/rb-profile"), help="raw profiles go here")
    parser.add_argument("--pg", default="postgres://postgres@127.0.0.1:5432")
    parser.add_argument("--db", default="rb_profile")
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/7")
    return parser.parse_args()


# --- 1. workers under py-spy, backends under perf -------------------------------------------


def group_of(stack: list[str]) -> str:
    for frame in reversed(stack):  # leaf last in py-spy's raw format
        match = _FRAME.match(frame)
        if not match:
            continue
        function, file = match["function"].rpartition(".")[2], match["file"]  # "Class.method"
        for group, name, suffix in GROUPS:
            if (not name or function == name) and (file.endswith(suffix) or (not name and suffix in file)):
                return group
    return "other (Django ORM set-up, Python start of task, ...)"


def read_collapsed(paths: list[Path]) -> tuple[collections.Counter, collections.Counter, int]:
    groups: collections.Counter = collections.Counter()
    leaves: collections.Counter = collections.Counter()
    total = 0
    for path in paths:
        if not path.exists():
            continue
        for line in path.read_text().splitlines():
            stack_text, _, count_text = line.rpartition(" ")
            if not count_text.isdigit():
                continue
            count = int(count_text)
            stack = stack_text.split(";")
            groups[group_of(stack)] += count
            match = _FRAME.match(stack[-1])
            leaf = (
                f"{match['function']} ({match['file'].rpartition('site-packages/')[2]})"
                if match
                else stack[-1]
            )
            leaves[leaf] += count
            total += count
    return groups, leaves, total


def perf_works() -> bool:
    if not shutil.which("perf"):
        return False
    probe = subprocess.run(["perf", "stat", "-e", "task-clock", "true"], capture_output=True)
    return probe.returncode == 0


def profile_workers(side: Rundbrief, args: argparse.Namespace, tools: Processes) -> None:
    args.out.mkdir(parents=True, exist_ok=True)
    # One pool process, sampled in py-spy's default (blocking) mode, which leaves out the time
    # a thread waits in a system call; six profilers on two cores would change what they measure.
    children = [pid for worker in side.workers for pid in process_tree(worker.pid)[1:]][:1]
    spies = []
    for pid in children:
        path = args.out / f"py-spy-{pid}.txt"
        spies.append(path)
        tools.start(
            [
                shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy")), "record",
                "--pid", str(pid), "--rate", str(args.rate), "--format", "raw",
                "--output", str(path),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )  # fmt: skip
    backends = postgres_backends(args.db)
    perf_data = args.out / "perf-postgres.data"
    if backends and perf_works():
        tools.start(
            ["perf", "record", "-F", "499", "-g", "-o", str(perf_data), "-p", ",".join(map(str, backends))],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
    time.sleep(2)  # the profilers attach
    run = side.run()
    for process in tools.started:
        os.killpg(process.pid, signal.SIGINT)  # both write their output on SIGINT
    for process in tools.started:
        process.wait(timeout=60)
    tools.started.clear()
    workers_us = run.per_mail_us("client")
    print(
        f"\n=== 1. Celery workers ({args.workers} x {args.concurrency}), "
        f"py-spy {args.rate} Hz on one pool process, perf on the PostgreSQL backends"
    )
    print(
        f"  {run.mails} mails in {run.seconds:.1f} s = {run.rate:.0f} msg/s (with the profilers attached); "
        f"CPU per mail: workers {workers_us:.0f} µs, PostgreSQL {run.per_mail_us('postgres'):.0f} µs, "
        f"sink {run.per_mail_us('sink'):.0f} µs"
    )
    groups, leaves, total = read_collapsed(spies)
    if not total:
        print("  py-spy recorded nothing (ptrace not permitted?)")
        return
    print(
        f"  {total} samples (on CPU); worker CPU per mail by the innermost send-path function on the stack:"
    )
    for group, count in groups.most_common():
        print(f"    {workers_us * count / total:6.0f} µs  {100 * count / total:5.1f} %  {group}")
    print("  hottest functions (self time):")
    for leaf, count in leaves.most_common(25):
        print(f"    {workers_us * count / total:6.0f} µs  {100 * count / total:5.1f} %  {leaf}")
    if perf_data.exists():
        report = subprocess.run(
            ["perf", "report", "-i", str(perf_data), "--no-children", "--sort", "symbol", "--stdio"],
            capture_output=True,
            text=True,
        ).stdout
        lines = [line for line in report.splitlines() if line.strip() and not line.startswith("#")]
        top = [line for line in lines if re.match(r"^\s+\d+\.\d+%", line)][:30]
        (args.out / "perf-postgres.txt").write_text(report)
        print("  PostgreSQL backends, perf (self, by symbol):")
        for line in top:
            print(f"    {line.strip()}")


# --- 2. statements, in process ---------------------------------------------------------------

_NUMBERS = re.compile(r"\b\d+\b")
_LISTS = re.compile(r"\((?:%s, )+%s\)|\((?:\d+, )+\d+\)")


def normalise(sql: str) -> str:
    sql = " ".join(sql.split())
    sql = _LISTS.sub("(…)", sql)
    sql = _NUMBERS.sub("N", sql)
    sql = re.sub(r'"[a-z_]+"\.', "", sql)  # table qualifiers of the columns
    return sql[:150]


class Census:
    def __init__(self, backend: int):
        self.backend = backend
        self.calls: collections.Counter = collections.Counter()
        self.server: collections.Counter = collections.Counter()
        self.client: collections.Counter = collections.Counter()

    def __call__(self, execute, sql, params, many, context):
        key = normalise(sql)
        server_before = cpu_seconds(self.backend)
        client_before = time.thread_time()
        try:
            return execute(sql, params, many, context)
        finally:
            self.client[key] += time.thread_time() - client_before
            self.server[key] += cpu_seconds(self.backend) - server_before
            self.calls[key] += 1


def table_stats() -> dict[str, tuple[int, ...]]:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_stat_clear_snapshot()")
        cursor.execute(
            "SELECT relname, n_tup_ins, n_tup_upd, n_tup_hot_upd, n_tup_del FROM pg_stat_user_tables "
            "WHERE relname LIKE 'campaigns_%%'"
        )
        return {row[0]: row[1:] for row in cursor.fetchall()}


def census_in_process(side: Rundbrief, args: argparse.Namespace) -> None:
    from django.conf import settings
    from django.db import connection

    from campaigns import services
    from campaigns.models import Campaign, Delivery
    from campaigns.sending import loop as sending

    side.processes.stop_all()  # the workers (and the sink): this process sends now
    sink = start_sink(side.processes, side.port)
    side.sink = sink
    wait_for_port(side.port)
    side._reset()
    campaign = side._campaign("Census", side.topic)
    Campaign.objects.filter(pk=campaign.pk).update(status=Campaign.Status.SENDING)
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        backend = cursor.fetchone()[0]
    time.sleep(1)
    stats_before = table_stats()
    launch, send = Census(backend), Census(backend)
    server_start, client_start = cpu_seconds(backend), time.thread_time()
    with connection.execute_wrapper(launch):
        services.queue_deliveries(campaign_id=campaign.pk)  # its send tasks wait in Redis DB 7
    server_launch, client_launch = cpu_seconds(backend), time.thread_time()
    ids = list(Delivery.objects.filter(campaign=campaign).order_by("pk").values_list("pk", flat=True))
    server_send0, client_send0 = cpu_seconds(backend), time.thread_time()
    sink_before = cpu_seconds(sink.pid) or 0.0
    started = time.perf_counter()
    with connection.execute_wrapper(send):
        for start in range(0, len(ids), settings.SEND_BATCH_SIZE):
            sending.send_deliveries(
                campaign_id=campaign.pk, delivery_ids=ids[start : start + settings.SEND_BATCH_SIZE]
            )
    seconds = time.perf_counter() - started
    server_end, client_end = cpu_seconds(backend), time.thread_time()
    sink_cpu = (cpu_seconds(sink.pid) or 0.0) - sink_before
    mails = Delivery.objects.filter(campaign=campaign, status=Delivery.Status.SENT).count()
    time.sleep(1.5)  # backends flush their table counters about once a second
    stats_after = table_stats()

    print(f"\n=== 2. the send task's code in this process, one connection: {mails} mails in {seconds:.1f} s")
    print(
        f"  CPU per mail: this process {1e6 * (client_end - client_send0) / mails:.0f} µs (sending) + "
        f"{1e6 * (client_launch - client_start) / mails:.0f} µs (launch); PostgreSQL "
        f"{1e6 * (server_end - server_send0) / mails:.0f} µs (sending) + "
        f"{1e6 * (server_launch - server_start) / mails:.0f} µs (launch); "
        f"sink {1e6 * sink_cpu / mails:.0f} µs"
    )
    for title, census, server_total in (
        ("launch (queue_deliveries)", launch, server_launch - server_start),
        ("sending (send_deliveries)", send, server_end - server_send0),
    ):
        print(f"  {title}: per mail  calls   PG CPU µs   client µs   statement")
        rows = sorted(census.calls, key=lambda key: -census.server[key])
        for key in rows:
            print(
                f"    {census.calls[key] / mails:14.3f} {1e6 * census.server[key] / mails:11.1f} "
                f"{1e6 * census.client[key] / mails:11.1f}   {key}"
            )
        rest = server_total - sum(census.server.values())
        print(
            f"    {'':14} {1e6 * rest / mails:11.1f} {'':11}   (outside statements: COMMIT of atomic blocks)"
        )
    print("  row versions written per mail (pg_stat_user_tables):   inserted  updated  HOT  deleted")
    for table, after in sorted(stats_after.items()):
        before = stats_before.get(table, (0, 0, 0, 0))
        delta = [(a - b) / mails for a, b in zip(after, before, strict=True)]
        if any(delta):
            print(f"    {table:<50} " + "  ".join(f"{value:7.2f}" for value in delta))


# --- 3. the pieces of building one mail ------------------------------------------------------


def build_pieces(side: Rundbrief) -> None:
    from email.utils import formataddr, formatdate

    from django.utils import translation

    from campaigns.merge import join_parts
    from campaigns.messages import Recipient, build_factory
    from rundbrief.mail.transports.smtp import dot_stuffed
    from subscribers.tokens import PREFERENCES, UNSUBSCRIBE, make_token

    factory = build_factory(side._campaign("Pieces", side.topic))
    recipient = Recipient(
        delivery_id=1,
        message_id="<0123456789abcdef0123456789abcdef@localhost>",
        reply_token="0123456789abcdef0123456789abcdef",
        subscriber_id=12345,
        email="bench0012345@example.org",
        name="Bench 12345",
        language="de",
        text_only=False,
    )
    translation.activate("de")
    variables = factory.variables(recipient)
    raw = factory.build(recipient).raw
    static = factory._static["de"]
    values = factory._bodies.values(variables)
    pieces = {
        "factory.build (all of it)": lambda: factory.build(recipient),
        "  variables: 2 signed tokens + URLs": lambda: factory.variables(recipient),
        "    make_token(PREFERENCES)": lambda: make_token(PREFERENCES, 12345),
        "    make_token(UNSUBSCRIBE, topics, campaign)": lambda: make_token(
            UNSUBSCRIBE, 12345, ("bench",), 7
        ),
        "  body: values, join, quoted-printable": lambda: factory._render_encoded(recipient, variables),
        "    values: the {{ }} nodes rendered (text + HTML)": lambda: factory._bodies.values(variables),
        "    join_parts: the HTML as one str": lambda: join_parts(static.html, values.__getitem__),
        "    the HTML's quoted-printable bytes joined": lambda: static.encoded_html(values),
        "  recipient headers": lambda: factory.recipient_headers(recipient, variables),
        "  To: formataddr + Date: formatdate": lambda: (
            formataddr((recipient.name, recipient.email), charset="utf-8"),
            formatdate(usegmt=True),
        ),
        "dot_stuffed (SMTP payload)": lambda: dot_stuffed(raw),
    }
    print(f"\n=== 3. building one mail ({len(raw)} bytes), each piece alone (best of 5)")
    for name, piece in pieces.items():
        number = 2000
        best = min(timeit.repeat(piece, number=number, repeat=5)) / number
        print(f"    {1e6 * best:7.1f} µs  {name}")
    smtp_alone(factory, recipient)


def smtp_alone(factory, recipient) -> None:
    """Rounds of prebuilt mails over SMTP_CONNECTIONS connections, no database: user and system CPU."""
    import resource

    from rundbrief.mail.transports.smtp import SMTPTransport

    transport = SMTPTransport()
    transport.open()
    mails = [factory.build(recipient) for _ in range(transport.round_size)]
    rounds = 2000
    before = resource.getrusage(resource.RUSAGE_SELF)
    started = time.perf_counter()
    for _ in range(rounds):
        errors = transport.send_round(mails, lambda _accepted: None)
        assert not any(errors), errors
    seconds = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_SELF)
    transport.close()
    count = rounds * len(mails)
    user = 1e6 * (after.ru_utime - before.ru_utime) / count
    system = 1e6 * (after.ru_stime - before.ru_stime) / count
    print(
        f"    {user + system:7.1f} µs  SMTP alone: {count} prebuilt mails in rounds of {len(mails)} "
        f"({count / seconds:.0f} msg/s): user {user:.0f} µs + kernel {system:.0f} µs per mail"
    )


def main() -> int:
    args = parse_args()
    exit_on_termination()
    args.rounds = 1
    processes, tools = Processes(), Processes()
    port = free_port()
    sink = start_sink(processes, port)
    side = Rundbrief(args, port, sink, processes)
    try:
        wait_for_port(port)
        print(f"preparing: database {args.db}, {args.n} subscribers, workers, warm-up ...", flush=True)
        side.prepare()
        profile_workers(side, args, tools)
        census_in_process(side, args)
        build_pieces(side)
        return 0
    finally:
        tools.stop_all()
        processes.stop_all()
        side.cleanup()


if __name__ == "__main__":
    sys.exit(main())
