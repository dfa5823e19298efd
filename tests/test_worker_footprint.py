"""What a Celery worker process loads (issue 17: memory per sending process).

A worker imports every app's tasks and, to build the mails' links, the URL conf of the pages
mails link to (rundbrief/link_urls.py), never the whole site's. Libraries that only a web page,
an upload or the API needs stay out of it: YAKE with networkx and numpy (the dialogue report's
keywords), openpyxl (.xlsx imports), django-ninja with pydantic (the API), prometheus_client
(/metrics) and cryptography (stored IMAP passwords): ~70 MB together. Checked in a fresh
interpreter that starts the way `celery -A rundbrief worker` does, up to the fork of its pool,
so nothing the test run imported counts.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from django.urls import URLPattern, URLResolver, get_resolver, reverse

from rundbrief import links

ROOT = Path(__file__).resolve().parents[1]
HEAVY = ["yake", "networkx", "numpy", "openpyxl", "ninja", "pydantic", "prometheus_client", "cryptography"]

WORKER_START = f"""
import json, sys
from rundbrief.celery import _share_memory_with_the_pool, app
import django
django.setup()
app.loader.import_default_modules()  # every app's tasks (and the fixup's checks), as the worker does
_share_memory_with_the_pool()  # worker_init: what the worker loads before it forks its pool
import campaigns.sending.loop  # what a send task runs
print(json.dumps([name for name in {HEAVY!r} if name in sys.modules]))
"""


def test_a_worker_loads_no_library_that_only_a_page_an_upload_or_the_api_needs():
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "rundbrief.settings"}
    env.pop("CELERY_SKIP_CHECKS", None)  # what rundbrief.celery decides, not the test run
    completed = subprocess.run(
        [sys.executable, "-c", WORKER_START], cwd=ROOT, env=env, capture_output=True, text=True, check=True
    )
    assert json.loads(completed.stdout.strip().splitlines()[-1]) == []


def _names(patterns: list, namespace: str = "") -> list[tuple[str, int]]:
    """Every named page in a URL conf, as (namespaced name, number of arguments)."""
    found = []
    for entry in patterns:
        if isinstance(entry, URLResolver):
            inner = f"{namespace}{entry.namespace}:" if entry.namespace else namespace
            found += _names(entry.url_patterns, inner)
        elif isinstance(entry, URLPattern) and entry.name:
            found.append((namespace + entry.name, len(entry.pattern.regex.groupindex)))
    return found


def test_every_page_a_mail_links_to_has_the_same_path_in_the_site():
    names = _names(get_resolver(links.LINK_URLCONF).url_patterns)
    expected = {"subscribers:unsubscribe", "subscribers:preferences", "dialogue:web_view"}
    expected.add("replies:conversation")  # the staff notifications' link
    assert expected <= {name for name, _ in names}
    for name, arguments in names:
        args = [str(7 + index) for index in range(arguments)]
        assert links.link_path(name, args) == reverse(name, args=args), name
