"""Side by side on one machine: the C limit, django-newsletter and Rundbrief, ~10 KB mails, one smtp-sink.

    .venv/bin/python bench/compare_send.py [--n 40000] [--rounds 2] [--peer-mails 3000]

What users compare Rundbrief with is what they would use instead and what the wire allows,
measured on the same machine at the same time. So one invocation runs, in rounds, against one
Postfix `smtp-sink` (round 1 in this order, round 2 in reverse, so that a change of the
machine's load during the run falls on both sides of every ratio alike):

- the C limit: Postfix's `smtp-source` with a 10 KB payload over 1 and over 4 reused
  connections (`-d`), its wall time;
- the Django peer: django-newsletter (the newest release on PyPI, 1.2.1, with the newest Django
  that it and this Python install) in a throwaway virtualenv under a temporary directory,
  with its own PostgreSQL database and a minimal Django project (bench/peer_newsletter.py)
  whose SMTP EmailBackend points at the sink: ``Submission.submit()`` of one ~10 KB
  newsletter to 3,000 subscribers, from the call to its return after the last mail's 250;
- Rundbrief end to end: PostgreSQL, Redis, W Celery workers x C pool processes, the same
  sink, bench/campaign.mjml (built mail ~10.5 KB): from ``launch_campaign()`` (the launch
  click) to the last mail's acceptance (the latest ``sent_at``), N subscribers (1 %
  suppressed and 1 % paused, so N x 0.98 mails).

It prints each rate, the ratios Rundbrief / django-newsletter and Rundbrief / C limit (1 and 4
connections) per round, and CPU time per mail of the sending processes (smtp-source, the
django-newsletter process, the Celery workers), of their PostgreSQL backends and of the sink,
read from /proc (task schedstat) before and after each run. Not counted: Redis, PostgreSQL's
shared background processes (WAL writer, checkpointer), this process's polling.

Why N = 40,000 by default: a Rundbrief run must be long against its fixed costs (the launch's
first page, each worker compiling the campaign, the last partial chunk: ~0.1 s together)
and against the 1 s sampling of PostgreSQL backends: at 1,000-3,000 msg/s that is 13-40 s
per run. Two runs of each of the four, plus setup (two databases, a virtualenv, 40,000
subscribers), stay well under 10 minutes on 2 busy cores (~2 minutes measured, 3-4 under heavy load).

Its own databases (rb_compare, rb_compare_peer, both dropped at the end) and Redis DB 6
(flushed before and after), a free port for the sink; everything it starts is stopped and
removed at the end, also on Ctrl-C or SIGTERM. ``--peer-venv DIR`` keeps the peer's
virtualenv in DIR (created there on the first run, reused after).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.harness import (  # noqa: E402 - the repository root is put on the path first
    ROOT,
    CpuMeter,
    Processes,
    cpu_seconds,
    create_database,
    drop_database,
    exit_on_termination,
    flush_redis,
    free_port,
    load_subscribers,
    migrate,
    postgres_backends,
    process_group_peak_rss,
    process_tree,
    start_send_workers,
    start_sink,
    wait_for_port,
)

PEER_PACKAGES = ["sorl-thumbnail", "psycopg[binary]"]
WARM_UP_AUDIENCE = 3000  # six batches of 500: one for each pool process
GOAL_PEER = 15.0  # issue 17: Rundbrief ≥ 15x django-newsletter ...
GOAL_C_LIMIT = 0.75  # ... and ≥ 75 % of the C limit (1 connection)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--n", type=int, default=40_000, help="Rundbrief subscribers (default 40000)")
    parser.add_argument("--rounds", type=int, default=2, help="runs of each (default 2)")
    parser.add_argument("--workers", type=int, default=2, help="celery worker processes (default 2)")
    parser.add_argument("--concurrency", type=int, default=3, help="pool processes per worker (default 3)")
    parser.add_argument("--batch", type=int, default=500, help="SEND_BATCH_SIZE (default 500)")
    parser.add_argument("--peer-mails", type=int, default=3000, help="django-newsletter mails (3000)")
    parser.add_argument(
        "--peer-version", default="1.2.1", help="django-newsletter release to install (default 1.2.1)"
    )
    parser.add_argument("--peer-venv", type=Path, help="an existing virtualenv for the peer (kept)")
    parser.add_argument("--source-mails", type=int, default=20_000, help="smtp-source mails per run")
    parser.add_argument("--source-size", type=int, default=10_240, help="smtp-source payload bytes")
    parser.add_argument("--pg", default="postgres://postgres@127.0.0.1:5432", help="PostgreSQL server URL")
    parser.add_argument("--db", default="rb_compare", help="Rundbrief's database (created and dropped)")
    parser.add_argument("--peer-db", default="rb_compare_peer", help="the peer's database (same)")
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/6", help="Redis DB to use and flush")
    return parser.parse_args()


@dataclass
class Run:
    side: str
    mails: int
    seconds: float
    cpu: dict[str, float]  # "client" (the sending processes), "postgres", "sink": CPU seconds
    notes: dict[str, object] = field(default_factory=dict)

    @property
    def rate(self) -> float:
        return self.mails / self.seconds

    def per_mail_us(self, name: str) -> float | None:
        return None if name not in self.cpu else 1e6 * self.cpu[name] / self.mails


def sink_cpu(sink: subprocess.Popen) -> float:
    return cpu_seconds(sink.pid) or 0.0


# --- the C limit ----------------------------------------------------------------------------


class CLimit:
    def __init__(self, args: argparse.Namespace, port: int, sink: subprocess.Popen):
        self.args, self.port, self.sink = args, port, sink

    def run(self, sessions: int) -> Run:
        """smtp-source's wall time: it exits after the last 250 (and QUIT)."""
        before_children = resource.getrusage(resource.RUSAGE_CHILDREN)
        sink_before = sink_cpu(self.sink)
        started = time.perf_counter()
        subprocess.run(
            [
                "smtp-source", "-d", "-s", str(sessions), "-m", str(self.args.source_mails),
                "-l", str(self.args.source_size), "-f", "newsletter@localhost", "-t", "reader@example.org",
                f"127.0.0.1:{self.port}",
            ],
            check=True,
            stdout=subprocess.DEVNULL,
        )  # fmt: skip
        seconds = time.perf_counter() - started
        after_children = resource.getrusage(resource.RUSAGE_CHILDREN)
        client = (after_children.ru_utime + after_children.ru_stime) - (
            before_children.ru_utime + before_children.ru_stime
        )
        return Run(
            side=f"C limit, {sessions} conn",
            mails=self.args.source_mails,
            seconds=seconds,
            cpu={"client": client, "sink": sink_cpu(self.sink) - sink_before},
        )


# --- the Django peer ------------------------------------------------------------------------


class Peer:
    """django-newsletter in its own virtualenv and database, sending to the same sink."""

    def __init__(self, args: argparse.Namespace, port: int, sink: subprocess.Popen):
        self.args, self.port, self.sink = args, port, sink
        self.tmp: Path | None = None
        self.venv: Path | None = None
        self.info: dict = {}
        self.env = {**os.environ, "PEER_DATABASE": args.peer_db, "PEER_SMTP_PORT": str(port)}
        for name in ("DATABASE_URL", "DJANGO_SETTINGS_MODULE", "REDIS_URL", "EMAIL_URL"):
            self.env.pop(name, None)

    def prepare(self, size: int) -> None:
        self.tmp = Path(tempfile.mkdtemp(prefix="rb-compare-peer-"))
        self.venv = self.args.peer_venv or self.tmp / "venv"
        if not (self.venv / "bin" / "python").exists():  # --peer-venv DIR is created once, then kept
            version = self.args.peer_version
            print(f"  virtualenv for django-newsletter {version} in {self.venv} ...", flush=True)
            subprocess.run([sys.executable, "-m", "venv", str(self.venv)], check=True)
            subprocess.run(
                [
                    str(self.venv / "bin" / "python"), "-m", "pip", "install", "--quiet",
                    "--disable-pip-version-check", f"django-newsletter=={self.args.peer_version}",
                    *PEER_PACKAGES,
                ],
                check=True,
                stderr=subprocess.DEVNULL,  # pip's warnings about unused local index locations
            )  # fmt: skip
        shutil.copy(ROOT / "bench" / "peer_newsletter.py", self.tmp / "peer_newsletter.py")
        create_database(self.args.pg, self.args.peer_db)
        self.info = self._call("seed", "--subscribers", str(self.args.peer_mails), "--size", str(size))

    def _call(self, *arguments: str) -> dict:
        completed = subprocess.run(
            [str(self.venv / "bin" / "python"), "-W", "ignore", "peer_newsletter.py", *arguments],
            env=self.env,
            cwd=self.tmp,
            check=True,
            capture_output=True,
            text=True,
        )
        return json.loads(completed.stdout.strip().splitlines()[-1])

    def run(self) -> Run:
        sink_before = sink_cpu(self.sink)
        result = self._call("submit")
        if result["failed"]:
            print(f"  django-newsletter: {result['failed']} mails failed: {result['first_error']}")
        return Run(
            side="django-newsletter",
            mails=result["mails"] - result["failed"],
            seconds=result["seconds"],
            cpu={
                "client": result["cpu_peer"],
                "postgres": result["cpu_postgres"],
                "sink": sink_cpu(self.sink) - sink_before,
            },
        )

    def cleanup(self) -> None:
        drop_database(self.args.pg, self.args.peer_db)
        if self.tmp is not None:
            shutil.rmtree(self.tmp, ignore_errors=True)


# --- Rundbrief ------------------------------------------------------------------------------


class Rundbrief:
    """Rundbrief's end-to-end send: launch, Celery workers, PostgreSQL, Redis, the sink."""

    def __init__(self, args: argparse.Namespace, port: int, sink: subprocess.Popen, processes: Processes):
        self.args, self.port, self.sink, self.processes = args, port, sink, processes
        self.env = {
            **os.environ,
            "DATABASE_URL": f"{args.pg}/{args.db}",
            "REDIS_URL": args.redis,
            "EMAIL_URL": f"smtp://127.0.0.1:{port}",
            "SECRET_KEY": os.environ.get("SECRET_KEY", "bench-secret-key"),
            "WEBHOOK_SECRET": os.environ.get("WEBHOOK_SECRET", "bench:webhook-secret"),
            "SEND_BATCH_SIZE": str(args.batch),
            "LOG_LEVEL": "WARNING",
            "CELERY_TASK_ALWAYS_EAGER": "false",
            "DJANGO_SETTINGS_MODULE": "rundbrief.settings",
        }
        self.workers: list[subprocess.Popen] = []
        self.topic = None
        self.warm_up_topic = None
        self.size = 0
        self.runs = 0

    def prepare(self) -> None:
        os.environ.update(self.env)
        create_database(self.args.pg, self.args.db)
        migrate(self.env)
        import django

        django.setup()
        from django.contrib.auth.models import User

        from subscribers.models import Topic

        flush_redis(self.args.redis)
        owner = User.objects.create_user("bench-owner", first_name="Bea", last_name="Bench")
        self.topic = Topic.objects.create(slug="bench", name="Bench", owner=owner)
        load_subscribers(self.args.n, self.topic.pk)
        self.warm_up_topic = Topic.objects.create(slug="warm-up", name="Warm-up", owner=owner)
        self._subscribe_first(WARM_UP_AUDIENCE, self.warm_up_topic.pk)
        self.size = self._built_size(self._campaign("Size probe", self.topic))
        self.workers = start_send_workers(
            self.processes, self.env, workers=self.args.workers, concurrency=self.args.concurrency
        )
        from rundbrief.celery import app as celery_app

        celery_app.conf.task_always_eager = False
        self._wait_for_workers(celery_app)
        # Every pool process runs a batch (imports, connections) before anything is measured,
        # as the long-running workers of a real installation have.
        self._send(self._campaign("Warm-up", self.warm_up_topic))

    @staticmethod
    def _subscribe_first(count: int, topic_id: int) -> None:
        from django.db import connection

        with connection.cursor() as cursor:
            cursor.execute(
                "INSERT INTO subscribers_subscription (subscriber_id, topic_id, status, created_at, "
                "confirmed_at) SELECT id, %s, 'active', now(), now() FROM subscribers_subscriber "
                "ORDER BY id LIMIT %s",
                [topic_id, count],
            )

    def _wait_for_workers(self, celery_app) -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            replies = celery_app.control.ping(timeout=1.0) or []
            if len(replies) >= self.args.workers:
                return
        raise RuntimeError("the Celery workers did not answer within 60 s")

    def _campaign(self, name: str, topic):
        from campaigns import services

        body = (ROOT / "bench" / "campaign.mjml").read_text()
        return services.save_campaign(
            name=name, topics=[topic], subject="Bench Rundbrief", mjml_body=body, from_name="Rundbrief"
        )

    @staticmethod
    def _built_size(campaign) -> int:
        from campaigns.messages import Recipient, build_factory

        recipient = Recipient(
            delivery_id=1,
            message_id="<0123456789abcdef0123456789abcdef@localhost>",
            reply_token="0123456789abcdef0123456789abcdef",
            subscriber_id=1,
            email="bench0000001@example.org",
            name="Bench 1",
            language="de",
            text_only=False,
        )
        return len(build_factory(campaign).build(recipient).raw)

    def _reset(self) -> None:
        """Each run starts from an empty delivery table."""
        from django.db import connection

        with connection.cursor() as cursor:
            cursor.execute("TRUNCATE campaigns_acceptance, campaigns_delivery CASCADE")
            cursor.execute("ANALYZE campaigns_delivery")

    def _worker_pids(self) -> list[int]:
        return [pid for worker in self.workers for pid in process_tree(worker.pid)]

    def run(self) -> Run:
        self._reset()
        self.runs += 1
        return self._send(self._campaign(f"Compare {self.runs}", self.topic))

    def _send(self, campaign) -> Run:
        from django.db.models import Max
        from django.utils import timezone

        from campaigns import services
        from campaigns.models import Campaign, Delivery
        from campaigns.selectors import count_audience

        target = count_audience(campaign).recipients
        workers, postgres = CpuMeter(), CpuMeter()
        workers_before = workers.sample(self._worker_pids())
        postgres_before = postgres.sample(postgres_backends(self.args.db))
        sink_before = sink_cpu(self.sink)
        launched_at = timezone.now()
        started = time.monotonic()
        services.launch_campaign(campaign=campaign)
        last_sample = last_report = started
        status = Campaign.Status.SENDING
        while status != Campaign.Status.SENT:
            time.sleep(0.2)
            now = time.monotonic()
            status = Campaign.objects.filter(pk=campaign.pk).values_list("status", flat=True).get()
            if now - last_sample >= 1:  # backends and pool processes may come and go
                postgres.sample(postgres_backends(self.args.db))
                workers.sample(self._worker_pids())
                last_sample = now
            if now - last_report >= 10:
                sent = Delivery.objects.filter(campaign=campaign, status=Delivery.Status.SENT).count()
                print(f"    … {sent} of {target} sent after {now - started:.0f} s", flush=True)
                last_report = now
            if now - started > 600:
                raise RuntimeError(f"{campaign.name} did not finish within 10 minutes")
        cpu = {
            "client": workers.sample(self._worker_pids()) - workers_before,
            "postgres": postgres.sample(postgres_backends(self.args.db)) - postgres_before,
            "sink": sink_cpu(self.sink) - sink_before,
        }
        deliveries = Delivery.objects.filter(campaign=campaign)
        last_accepted = deliveries.aggregate(last=Max("sent_at"))["last"]
        sent = deliveries.filter(status=Delivery.Status.SENT).count()
        if sent != target:
            print(f"  {campaign.name}: {sent} of {target} sent ({target - sent} not)")
        peak = max((kb for w in self.workers for _pid, kb in process_group_peak_rss(w.pid)), default=0)
        return Run(
            side="Rundbrief",
            mails=sent,
            seconds=(last_accepted - launched_at).total_seconds(),
            cpu=cpu,
            notes={"peak_rss_mb": peak / 1024},
        )

    def cleanup(self) -> None:
        if "django" in sys.modules:
            from django.db import connections

            connections.close_all()
        flush_redis(self.args.redis)
        drop_database(self.args.pg, self.args.db)


# --- report ---------------------------------------------------------------------------------


def describe(run: Run) -> str:
    cpu = ", ".join(
        f"{name} {value:.0f} µs"
        for name in ("client", "postgres", "sink")
        if (value := run.per_mail_us(name)) is not None
    )
    rate = f"{run.mails:>6} mails in {run.seconds:6.2f} s = {run.rate:7.0f} msg/s"
    return f"  {run.side:<20} {rate}   CPU/mail: {cpu}"


def report(rounds: list[dict[str, Run]], rundbrief: Rundbrief, peer: Peer, args: argparse.Namespace) -> None:
    sides = ["C limit, 1 conn", "C limit, 4 conn", "django-newsletter", "Rundbrief"]
    numbers = range(1, len(rounds) + 1)
    header = "".join(f"{'round ' + str(i):>12}" for i in numbers)
    print("\n=== rates (msg/s)" + " " * 14 + header)
    for side in sides:
        print(f"  {side:<29}" + "".join(f"{r[side].rate:>12.0f}" for r in rounds))

    def ratio(side: str, r: dict[str, Run]) -> float:
        return r["Rundbrief"].rate / r[side].rate

    print("\n=== ratios (same round)" + " " * 8 + header + "        goal")
    print(
        f"  {'Rundbrief / django-newsletter':<29}"
        + "".join(f"{ratio('django-newsletter', r):>11.1f}x" for r in rounds)
        + f"{'≥ ' + format(GOAL_PEER, '.0f') + 'x':>12}"
    )
    print(
        f"  {'Rundbrief / C limit, 1 conn':<29}"
        + "".join(f"{100 * ratio('C limit, 1 conn', r):>11.0f}%" for r in rounds)
        + f"{'≥ ' + format(100 * GOAL_C_LIMIT, '.0f') + ' %':>12}"
    )
    print(
        f"  {'Rundbrief / C limit, 4 conn':<29}"
        + "".join(f"{100 * ratio('C limit, 4 conn', r):>11.0f}%" for r in rounds)
    )
    print("\n=== CPU per mail (µs, median of the rounds)     sending processes   PostgreSQL        sink")
    for side in sides:
        cells = []
        for name in ("client", "postgres", "sink"):
            values = [v for r in rounds if (v := r[side].per_mail_us(name)) is not None]
            cells.append(f"{statistics.median(values):>12.0f}" if values else f"{'-':>12}")
        print(f"  {side:<45}" + "".join(cells))
    peak = max(r["Rundbrief"].notes["peak_rss_mb"] for r in rounds)
    print(
        f"\nRundbrief: {args.workers} workers x {args.concurrency} processes, SEND_BATCH_SIZE {args.batch}, "
        f"{args.n} subscribers; built mail {rundbrief.size} bytes; worker peak RSS {peak:.0f} MB"
    )
    print(
        f"django-newsletter {peer.info.get('django_newsletter')} on Django {peer.info.get('django')}: "
        f"mail {peer.info.get('size')} bytes ({peer.info.get('articles')} articles); "
        f"smtp-source payload {args.source_size} bytes"
    )


def main() -> int:
    args = parse_args()
    exit_on_termination()
    began = time.monotonic()
    print(f"load average before (1, 5, 15 min): {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    processes = Processes()
    port = free_port()
    sink = start_sink(processes, port)
    rundbrief = Rundbrief(args, port, sink, processes)
    peer = Peer(args, port, sink)
    c_limit = CLimit(args, port, sink)
    try:
        wait_for_port(port)
        print(f"preparing Rundbrief: database {args.db}, {args.n} subscribers, workers ...", flush=True)
        rundbrief.prepare()
        print(f"preparing django-newsletter: database {args.peer_db}, {args.peer_mails} subscribers")
        peer.prepare(rundbrief.size)
        print(f"prepared in {time.monotonic() - began:.0f} s", flush=True)
        steps = [
            ("C limit, 1 conn", lambda: c_limit.run(1)),
            ("C limit, 4 conn", lambda: c_limit.run(4)),
            ("django-newsletter", peer.run),
            ("Rundbrief", rundbrief.run),
        ]
        rounds: list[dict[str, Run]] = []
        for number in range(1, args.rounds + 1):
            print(f"round {number}", flush=True)
            results: dict[str, Run] = {}
            for side, step in steps if number % 2 else reversed(steps):
                results[side] = step()
                print(describe(results[side]), flush=True)
            rounds.append(results)
        report(rounds, rundbrief, peer, args)
        print(
            f"\ntotal {time.monotonic() - began:.0f} s; load average after: "
            f"{' '.join(f'{x:.2f}' for x in os.getloadavg())}"
        )
        return 0
    finally:
        processes.stop_all()
        rundbrief.cleanup()
        peer.cleanup()


if __name__ == "__main__":
    sys.exit(main())
