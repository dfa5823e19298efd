"""The Celery app. Tasks are thin: they take ids and call services."""

import os

from celery import Celery
from celery.signals import before_task_publish, task_postrun, task_prerun, task_success

from rundbrief.counters import count_task_result, stamp_published_at

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "rundbrief.settings")

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
