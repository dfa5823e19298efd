"""Helpers shared by tests that start real processes: free ports, polling, Celery workers."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from django.conf import settings
from django.db import connection

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for(
    check: Callable[[], object], timeout: float = 60.0, what: str = "the condition", interval: float = 0.1
) -> object:
    """Poll check() until it returns something truthy (the work happens in another process); return it."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


def worker_environment(**extra: str) -> dict[str, str]:
    """The environment of a worker subprocess: this test's PostgreSQL database and Redis."""
    db = connection.settings_dict
    return {
        **os.environ,
        "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
        "REDIS_URL": settings.REDIS_URL,
        "CELERY_TASK_ALWAYS_EAGER": "false",
        **extra,
    }


def start_celery_worker(
    *, queues: Sequence[str], env: dict[str, str], app: str = "rundbrief"
) -> subprocess.Popen:
    """One `celery worker` of `app` with a single pool process, in its own process group so that
    a test can kill parent and pool together."""
    return subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", app, "worker", "-Q", ",".join(queues), "-c", "1"]
        + ["--loglevel=WARNING", "--without-gossip", "--without-mingle", "--without-heartbeat"],
        cwd=ROOT,
        env=env,
        start_new_session=True,
    )


def stop_workers(workers: Sequence[subprocess.Popen]) -> None:
    """SIGTERM to each still running worker's process group (parent and pool), then wait for it."""
    for worker in workers:
        if worker.poll() is None:
            os.killpg(worker.pid, signal.SIGTERM)
            worker.wait(timeout=20)
