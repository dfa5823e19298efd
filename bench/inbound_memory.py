"""Peak memory of the SMTP receiver while several big messages arrive at once (issue 10).

    .venv/bin/python bench/inbound_memory.py [--clients 6] [--mb 24] [--rounds 2]

Starts `manage.py run_inbound_smtp` (25 MB size limit, the default) as a subprocess twice per
round, side by side: once with the shared DATA byte budget as configured by default (two
message of the largest size plus 8 MiB, INBOUND_SMTP_BUFFER_BYTES=0) and once with the budget opened up
(INBOUND_SMTP_BUFFER_BYTES = clients x limit, i.e. what every session could hold without it).
Each time, `--clients` connections each send one `--mb` MB message at the same moment
(declaring SIZE=, as Postfix does); a session that gets 451 waits a second and retries, as an
MTA would, later. Prints the receiver's peak RSS (VmHWM from /proc), the wall time until every
message was answered 250, and checks that all were stored once.

Its own PostgreSQL database (rb_bench_inbound_mem, recreated) and Redis DB 7.
"""

from __future__ import annotations

import argparse
import os
import smtplib
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.harness import (  # noqa: E402 - the repository root is put on the path first
    ROOT,
    create_database,
    drop_database,
    exit_on_termination,
    free_port,
    migrate,
)

PG = "postgresql://postgres@127.0.0.1:5432"
DB_NAME = "rb_bench_inbound_mem"
LIMIT = 25 * 1024 * 1024
ENV = {
    **os.environ,
    "DATABASE_URL": f"postgres://postgres@127.0.0.1:5432/{DB_NAME}",
    "REDIS_URL": "redis://127.0.0.1:6379/7",
    "SECRET_KEY": "bench-secret-key",
    "WEBHOOK_SECRET": "bench:webhook-secret",
    "DJANGO_SETTINGS_MODULE": "rundbrief.settings",
    "LOG_LEVEL": "WARNING",
    "CELERY_TASK_ALWAYS_EAGER": "false",
    "INBOUND_MAX_MESSAGE_BYTES": str(LIMIT),
}
PYTHON = sys.executable


def stored() -> int:
    with psycopg.connect(f"{PG}/{DB_NAME}", autocommit=True) as conn:
        return conn.execute("SELECT count(*) FROM replies_inboundmessage").fetchone()[0]


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def message(i: int, size: int) -> bytes:
    head = (
        f"From: Sender {i} <sender{i}@example.org>\r\nTo: reply+{i:032x}@reply.localhost\r\n"
        f"Subject: big {i}\r\nMessage-ID: <big-{i}-{time.time_ns()}@example.org>\r\n"
        "MIME-Version: 1.0\r\nContent-Type: text/plain\r\n\r\n"
    ).encode()
    line = b"x" * 998 + b"\r\n"
    return head + line * (size // len(line))


def send(port: int, raw: bytes, barrier: threading.Barrier, results: list) -> None:
    barrier.wait()
    while True:
        with smtplib.SMTP("127.0.0.1", port, timeout=600) as client:
            client.ehlo()
            client.mail("sender@example.org", options=[f"SIZE={len(raw)}"])
            client.rcpt("reply+00@reply.localhost")
            code, _ = client.docmd("DATA")
            if code == 451:  # busy with big messages: an MTA retries later
                time.sleep(1)
                continue
            assert code == 354, code
            client.send(raw + b"\r\n.\r\n")
            code, reply = client.getreply()
            results.append(code)
            return


def run(label: str, clients: int, mb: int, buffer_bytes: int) -> tuple[float, float]:
    port = free_port()
    env = {**ENV, "INBOUND_SMTP_BUFFER_BYTES": str(buffer_bytes)}
    proc = subprocess.Popen(
        [PYTHON, "manage.py", "run_inbound_smtp", "--port", str(port)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
    )
    try:
        proc.stdout.readline()  # "listening on ..."
        before = stored()
        barrier = threading.Barrier(clients)
        results: list[int] = []
        raws = [message(i, mb * 1024 * 1024) for i in range(clients)]
        started = time.perf_counter()
        threads = [threading.Thread(target=send, args=(port, raw, barrier, results)) for raw in raws]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        wall = time.perf_counter() - started
        peak = peak_rss_mb(proc.pid)
        assert results == [250] * clients, results
        assert stored() - before == clients
        print(f"  {label:<28} peak RSS {peak:7.0f} MB   all stored in {wall:5.1f} s", flush=True)
        return peak, wall
    finally:
        proc.terminate()
        proc.wait(30)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--clients", type=int, default=6)
    parser.add_argument("--mb", type=int, default=24)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    exit_on_termination()
    create_database(PG, DB_NAME)
    try:
        measure(args)
    finally:
        drop_database(PG, DB_NAME)


def measure(args: argparse.Namespace) -> None:
    migrate(ENV)
    bounded, open_ = [], []
    print(f"{args.clients} clients x {args.mb} MB at once, size limit {LIMIT // 2**20} MB")
    for r in range(args.rounds):
        print(f"round {r + 1}")
        pair = [("budget (default)", 0, bounded), ("budget opened up", args.clients * LIMIT, open_)]
        if r % 2:
            pair.reverse()
        for label, buffer_bytes, out in pair:
            out.append(run(label, args.clients, args.mb, buffer_bytes))
    med = lambda rows, i: statistics.median(row[i] for row in rows)  # noqa: E731
    print(
        f"median peak RSS: {med(bounded, 0):.0f} MB with the budget, {med(open_, 0):.0f} MB without "
        f"({med(bounded, 0) / med(open_, 0):.0%}); "
        f"median wall {med(bounded, 1):.1f} s vs {med(open_, 1):.1f} s"
    )


if __name__ == "__main__":
    main()
