"""The Celery app. Tasks are thin: they take ids and call services."""

import gc
import os

from celery import Celery
from celery.signals import before_task_publish, task_postrun, task_prerun, task_success, worker_init
from django.urls import get_resolver

from rundbrief.counters import count_task_result, stamp_published_at
from rundbrief.links import LINK_URLCONF

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "rundbrief.settings")
# Celery's Django fixup runs Django's system checks when a worker starts; the URL checks import
# the site's whole URL conf (the API with django-ninja and pydantic, the admin, /metrics), which
# a worker never serves: ~17 MB in every worker process (issue 17). `manage.py migrate` and
# `manage.py check --deploy` run them at each deploy (README), `runserver` when it starts.
os.environ.setdefault("CELERY_SKIP_CHECKS", "true")

app = Celery("rundbrief")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
# Deliveries sent/failed for /metrics, and each task's queueing time for /healthz.
task_success.connect(count_task_result, weak=False)
before_task_publish.connect(stamp_published_at, weak=False)


@task_prerun.connect
@task_postrun.connect
def _recycle_database_connections(task=None, **kwargs) -> None:
    """Treat each task like a request: drop connections that are broken or past CONN_MAX_AGE.

    Celery's own fixup would close every connection around every task (settings set
    CELERY_DB_REUSE_MAX out of reach to stop that); this keeps healthy ones for reuse.
    Eager tasks run inside the caller's transaction and must not touch its connection.
    """
    if task is not None and getattr(task.request, "is_eager", False):
        return
    from django.db import close_old_connections

    close_old_connections()


@worker_init.connect
def _share_memory_with_the_pool(**kwargs) -> None:
    """Before the prefork pool forks: load what every pool process needs, then freeze it.

    The mails' links are reversed in the URL conf of the pages mails link to (rundbrief.links),
    which imports those pages' views: done once here, its memory is shared by all pool processes
    instead of copied into each.
    gc.freeze() moves every object alive now out of the collector's reach, so the pool
    processes' collections never write to (and so copy) the pages they share with this one
    (the CPython docs' advice for fork without exec). Issue 17: memory per process.
    """
    get_resolver(LINK_URLCONF).url_patterns  # noqa: B018 - the property imports the URL conf
    gc.freeze()
