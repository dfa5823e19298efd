"""Settings for bench/inbound.py: the project's settings plus Celery worker connection reuse.

Celery's Django fixup closes every database connection before and after each task unless
CELERY_DB_REUSE_MAX is set, whatever CONN_MAX_AGE says; a new PostgreSQL connection per
task doubled the cost of processing one reply. (Recommended for production workers too;
left to the project settings' owner, because a reused connection is then not health-checked
between tasks.)
"""

from rundbrief.settings import *  # noqa: F403

CELERY_DB_REUSE_MAX = 1000
