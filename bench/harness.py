"""What the send benchmarks share: a database of their own, subscribers, smtp-sink, workers, CPU clocks.

Used by bench/send_campaign.py (Rundbrief alone) and bench/compare_send.py (side by side with
the C limit and django-newsletter). Every process started here runs in its own session, so
``Processes.stop_all`` can end it and whatever it forked by process group, and nothing else.
"""

from __future__ import annotations

import contextlib
import io
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def exit_on_termination() -> None:
    """SIGTERM and SIGHUP (e.g. from `timeout` or a closed terminal) still run the clean-up."""
    for signum in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, lambda number, _frame: sys.exit(128 + number))


# --- PostgreSQL ---------------------------------------------------------------------------


def admin_sql(pg: str, sql: str) -> None:
    import psycopg

    with psycopg.connect(f"{pg}/postgres", autocommit=True) as conn:
        conn.execute(sql)


def create_database(pg: str, name: str) -> None:
    admin_sql(pg, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    admin_sql(pg, f'CREATE DATABASE "{name}"')


def drop_database(pg: str, name: str) -> None:
    try:
        admin_sql(pg, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    except Exception as exc:  # noqa: BLE001 - clean-up goes on with the next step
        print(f"could not drop database {name}: {exc}", file=sys.stderr)


def migrate(env: dict[str, str]) -> None:
    subprocess.run([sys.executable, "manage.py", "migrate", "-v", "0"], cwd=ROOT, env=env, check=True)


def load_subscribers(n: int, topic_id: int) -> None:
    """N confirmed subscribers of one topic, 1 % suppressed and 1 % paused (COPY: ~50x the ORM)."""
    from django.db import connection

    from subscribers.mailboxes import mailbox_hash
    from subscribers.models import email_hash

    buffer = io.StringIO()
    for i in range(n):
        address = f"bench{i:07d}@example.org"
        paused = "2999-01-01" if i % 100 == 50 else r"\N"
        buffer.write(
            f"{address}\t{email_hash(address)}\t{mailbox_hash(address)}\tBench {i}\tde\tconfirmed\tevery\t1\t"
            f"{paused}\thtml\t"
            "2026-01-01 00:00:00+00\t2026-01-01 00:00:00+00\t2026-01-01 00:00:00+00\t{}\n"
        )
    buffer.seek(0)
    with connection.cursor() as cursor:
        raw = cursor.connection  # psycopg 3 connection
        with (
            raw.cursor() as pg_cursor,
            pg_cursor.copy(
                "COPY subscribers_subscriber (email, email_hash, mailbox_hash, name, language, status, "
                "frequency, frequency_limit, paused_until, format, created_at, updated_at, confirmed_at, "
                "attributes) "
                "FROM STDIN"
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


def postgres_backends(database: str) -> list[int]:
    """The server processes of one database's connections, but this process's own."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()", [database]
        )
        return [row[0] for row in cursor.fetchall()]


# --- Redis --------------------------------------------------------------------------------


def flush_redis(url: str) -> None:
    try:
        import redis

        redis.Redis.from_url(url).flushdb()
    except Exception as exc:  # noqa: BLE001 - clean-up goes on with the next step
        print(f"could not flush {url}: {exc}", file=sys.stderr)


# --- CPU clocks ---------------------------------------------------------------------------


def cpu_seconds(pid: int) -> float | None:
    """CPU time of one process, all its threads, in seconds (None if it is gone).

    From /proc/PID/task/*/schedstat (nanoseconds on the CPU), not /proc/PID/stat's clock
    ticks: a process that ran 30 ms would read as 0, 10, 20 or 30 ms there.
    """
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return None
    total = 0
    for task in tasks:
        try:
            total += int(Path(f"/proc/{pid}/task/{task}/schedstat").read_text().split()[0])
        except (OSError, ValueError, IndexError):
            continue
    return total / 1e9


def process_tree(pid: int) -> list[int]:
    pids = [pid]
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return pids
    for task in tasks:
        try:
            children = Path(f"/proc/{pid}/task/{task}/children").read_text().split()
        except OSError:
            continue
        for child in children:
            pids += process_tree(int(child))
    return pids


class CpuMeter:
    """CPU seconds of a changing set of processes, remembering the last reading of each.

    ``sample(pids)`` reads the given processes; a process seen once and gone later keeps its
    last reading, one that first appears counts from zero (it was started during the run).
    """

    def __init__(self) -> None:
        self.last: dict[int, float] = {}

    def sample(self, pids: list[int]) -> float:
        for pid in pids:
            seconds = cpu_seconds(pid)
            if seconds is not None:
                self.last[pid] = seconds
        return self.total()

    def total(self) -> float:
        return sum(self.last.values())


def process_group_memory(pgid: int) -> list[tuple[int, int, int, int]]:
    """(pid, peak RSS, PSS now, USS now), in kB, for every live process in a process group.

    RSS counts every page a process maps, the ones it shares with its parent and siblings too
    (a prefork pool child inherits the worker's ~100 MB of imported code copy-on-write): added
    up over processes it counts the shared pages once per process. PSS divides each shared page
    among the processes that share it, so the processes' PSS add up to what they really use;
    USS (private pages only) is what one more pool process costs.
    """
    rows = []
    for pid, peak in process_group_peak_rss(pgid):
        pss = uss = 0
        try:
            for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
                name, _, rest = line.partition(":")
                if name == "Pss":
                    pss = int(rest.split()[0])
                elif name in ("Private_Clean", "Private_Dirty"):
                    uss += int(rest.split()[0])
        except OSError:
            continue
        rows.append((pid, peak, pss, uss))
    return rows


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


# --- Processes ----------------------------------------------------------------------------


class Processes:
    """Child processes, each the leader of its own process group, stopped together at the end."""

    def __init__(self) -> None:
        self.started: list[subprocess.Popen] = []

    def start(self, command: list[str], **kwargs) -> subprocess.Popen:
        process = subprocess.Popen(command, start_new_session=True, **kwargs)
        self.started.append(process)
        return process

    def stop_all(self, timeout: float = 20) -> None:
        for process in self.started:
            if process.poll() is None:
                _signal_group(process.pid, signal.SIGTERM)
        for process in self.started:
            try:
                process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                _signal_group(process.pid, signal.SIGKILL)
                process.wait(timeout=timeout)
        self.started.clear()


def _signal_group(pgid: int, signum: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, signum)


def start_sink(processes: Processes, port: int) -> subprocess.Popen:
    """Postfix's smtp-sink: accepts and discards every mail (backlog 1000)."""
    return processes.start(
        ["smtp-sink", "-u", "nobody", f"127.0.0.1:{port}", "1000"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def wait_for_port(port: int, timeout: float = 10) -> None:
    import time

    deadline = time.monotonic() + timeout
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            if time.monotonic() > deadline:
                raise RuntimeError(f"nothing listens on port {port}") from None
            time.sleep(0.05)


def start_send_workers(
    processes: Processes, env: dict[str, str], *, workers: int, concurrency: int, name: str = "bench"
) -> list[subprocess.Popen]:
    """W `celery worker -Q send` processes with C pool processes each."""
    return [
        processes.start(
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
                str(concurrency),
                "-n",
                f"{name}{index}@%h",
                "--loglevel=WARNING",
                "--without-gossip",
                "--without-mingle",
                "--without-heartbeat",
            ],
            cwd=ROOT,
            env=env,
        )  # fmt: skip
        for index in range(workers)
    ]
