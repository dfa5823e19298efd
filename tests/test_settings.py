import os
import subprocess
import sys

from django.conf import settings
from django.db import connection


def test_suite_runs_on_postgresql():
    assert connection.vendor == "postgresql"


def test_separate_celery_queues_keep_sending_from_starving_inbound():
    names = {queue.name for queue in settings.CELERY_TASK_QUEUES}
    assert names == {"default", "send", "inbound"}
    assert settings.CELERY_TASK_ROUTES["campaigns.tasks.*"] == {"queue": "send"}
    assert settings.CELERY_TASK_ROUTES["replies.tasks.*"] == {"queue": "inbound"}


def test_missing_secret_key_outside_debug_is_a_clear_startup_error():
    env = {k: v for k, v in os.environ.items() if k not in {"SECRET_KEY", "DEBUG"}}
    result = subprocess.run(
        [sys.executable, "-c", "import django; from django.conf import settings; settings.SECRET_KEY"],
        env={**env, "DJANGO_SETTINGS_MODULE": "rundbrief.settings"},
        capture_output=True,
        text=True,
    )
    assert result.returncode != 0
    assert "SECRET_KEY is not set" in result.stderr
