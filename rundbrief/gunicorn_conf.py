"""gunicorn settings for production: `gunicorn -c python:rundbrief.gunicorn_conf rundbrief.wsgi`.

Only what gunicorn cannot take from its command line: with PROMETHEUS_MULTIPROC_DIR set, each
worker writes its request metrics to that directory (prometheus_client's multi-process mode,
read by /metrics); a worker that exits must be marked dead there, or its gauges live on.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from prometheus_client import multiprocess


def on_starting(server) -> None:
    """The directory starts empty: figures of a previous run's workers would be counted again."""
    directory = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if directory:
        shutil.rmtree(directory, ignore_errors=True)
        Path(directory).mkdir(parents=True, exist_ok=True)


def child_exit(server, worker) -> None:
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        multiprocess.mark_process_dead(worker.pid)
