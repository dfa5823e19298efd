"""What `make run` starts, and with which environment.

Kept apart from the management command so it can be read (and tested) as a table:
one entry per long-running process, all sharing one environment.
"""

from __future__ import annotations

import shlex
import sys
from dataclasses import dataclass
from pathlib import Path

import redis
from django.conf import settings


@dataclass(frozen=True)
class SystemOptions:
    host: str
    port: int
    smtp_port: int
    data_dir: Path
    # Celery's log level in the workers and beat: WARNING keeps `make run`'s output to what
    # needs attention (task failures, retries); INFO also shows every task (run_all --verbose).
    celery_log_level: str = "WARNING"


def redis_answers(url: str) -> bool:
    """True when a Redis server answers PING at url within a second."""
    if not url:
        return False
    try:
        client = redis.Redis.from_url(url, socket_connect_timeout=1, socket_timeout=1)
        try:
            return bool(client.ping())
        finally:
            client.close()
    except (redis.RedisError, OSError, ValueError):
        return False


def site_url(options: SystemOptions) -> str:
    # Listening on all interfaces still means links for this machine's own browser.
    host = "127.0.0.1" if options.host in ("0.0.0.0", "::", "") else options.host
    return f"http://{host}:{options.port}"


def child_environment(base: dict[str, str], *, options: SystemOptions, use_redis: bool) -> dict[str, str]:
    """The environment every child process gets: the same settings everywhere.

    Without Redis, REDIS_URL="" makes settings fall back to kombu's filesystem transport
    (under the data dir) and a database cache, so tasks still run in a worker process.
    """
    env = dict(base)
    env["DEBUG"] = "true"
    env["PYTHONUNBUFFERED"] = "1"  # lines reach the combined log as they happen
    # Tasks never run inside the web request, whatever the calling shell says.
    env["CELERY_TASK_ALWAYS_EAGER"] = "false"
    if not use_redis:
        env["REDIS_URL"] = ""
        if env.get("CELERY_BROKER_URL", "").startswith("redis"):
            del env["CELERY_BROKER_URL"]
    env["CELERY_FILESYSTEM_DIR"] = str(options.data_dir / "broker")
    env.setdefault("MEDIA_ROOT", str(options.data_dir / "media"))
    # Links in mails must point at this web server.
    env.setdefault("SITE_URL", site_url(options))
    env["INBOUND_SMTP_HOST"] = "127.0.0.1" if options.host in ("0.0.0.0", "::") else options.host
    env["INBOUND_SMTP_PORT"] = str(options.smtp_port)
    return env


def _manage(*args: str) -> str:
    return shlex.join([sys.executable, str(settings.BASE_DIR / "manage.py"), *args])


def _celery(*args: str) -> str:
    return shlex.join([sys.executable, "-m", "celery", "-A", "rundbrief", *args])


def process_table(options: SystemOptions, *, imap: bool = False) -> dict[str, str]:
    """name -> shell command for every long-running process of the system.

    imap: IMAP mailboxes are configured, so the IMAP intake runs too.
    """
    level = options.celery_log_level
    worker_flags = ("--loglevel", level, "--without-gossip", "--without-mingle", "--pool", "solo")
    # --quiet: no start-up banner (50 lines per worker, which pushed run_all's own banner away).
    quiet = () if level in ("DEBUG", "INFO") else ("--quiet",)
    table = {
        "web": _manage("runserver", f"{options.host}:{options.port}", "--noreload"),
        # Two workers: a big send on "send" can never hold up inbound replies or confirmations.
        "worker": _celery(*quiet, "worker", "-Q", "default,inbound", "-n", "main@%h", *worker_flags),
        "sender": _celery(*quiet, "worker", "-Q", "send", "-n", "send@%h", *worker_flags),
        "beat": _celery(
            *quiet,
            "beat",
            "--loglevel",
            level,
            "--schedule",
            str(options.data_dir / "celerybeat-schedule"),
        ),
        "smtp": _manage("run_inbound_smtp", "--host", "127.0.0.1", "--port", str(options.smtp_port)),
    }
    if imap:
        table["imap"] = _manage("run_imap_intake")
    return table


def setup_commands(*, seed: bool) -> list[list[str]]:
    """One-off steps before the system starts, run in order with the children's environment."""
    steps = [["migrate", "--noinput"], ["createcachetable"]]
    if seed:
        steps.append(["seed_demo"])
    return [[sys.executable, str(settings.BASE_DIR / "manage.py"), *step] for step in steps]
