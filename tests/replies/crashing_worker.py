"""The Celery app of tests/replies/test_worker_crash.py: the project's app, plus a poison message.

Started as ``celery -A tests.replies.crashing_worker worker``. In each pool process, processing
a message whose subject carries RUNDBRIEF_TEST_CRASH_MARKER (set in the worker's environment
by the test) ends that process at once with exit code 137, as the OOM killer would: no
exception, no cleanup. Production code has no such hook; this module wraps the one function
that processes a locked message (replies.services.batches._process_locked), after the fork.
"""

from __future__ import annotations

import os

from celery.signals import worker_process_init

from rundbrief.celery import app

__all__ = ["app"]


@worker_process_init.connect
def _poison_the_marked_message(**kwargs: object) -> None:
    # Imported here: Django is set up in the pool process by now (not yet when this module loads).
    from replies.services import batches

    marker = os.environ["RUNDBRIEF_TEST_CRASH_MARKER"]
    process_locked = batches._process_locked

    def crashing(inbound, *args, **kwargs):
        if marker in inbound.subject:
            os._exit(137)
        return process_locked(inbound, *args, **kwargs)

    batches._process_locked = crashing
