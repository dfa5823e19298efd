"""What a Celery worker process loads (issue 17: memory per sending process).

A worker imports every app's tasks and, to build the mails' links with reverse(), the whole URL
conf with every view. Libraries that only one web page or one upload needs (YAKE with networkx
and numpy for the dialogue report's keywords, openpyxl for .xlsx imports: ~45 MB together) are
imported where they are used, so they stay out of the workers. Checked in a fresh interpreter
that starts the way `celery -A rundbrief worker` does, so nothing the test run imported counts.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
HEAVY = ["yake", "networkx", "numpy", "openpyxl"]

WORKER_START = f"""
import json, sys
from rundbrief.celery import app
import django
django.setup()
app.loader.import_default_modules()  # every app's tasks, as the worker does
from django.urls import get_resolver
get_resolver().url_patterns  # what the worker loads before it forks its pool
print(json.dumps([name for name in {HEAVY!r} if name in sys.modules]))
"""


def test_a_worker_loads_no_library_that_only_a_page_or_an_upload_needs():
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "rundbrief.settings"}
    completed = subprocess.run(
        [sys.executable, "-c", WORKER_START], cwd=ROOT, env=env, capture_output=True, text=True, check=True
    )
    assert json.loads(completed.stdout.strip().splitlines()[-1]) == []
