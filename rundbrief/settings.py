"""Settings, all from the environment (django-environ), with an embedded default.

The embedded default needs nothing installed: a SQLite file, the local mailbox for
outgoing mail, and Redis only if one answers (``make run`` decides). Production sets
DATABASE_URL, REDIS_URL, EMAIL_URL or ANYMAIL_ESP, SITE_URL, SECRET_KEY, ...
Every variable is listed in the README's configuration table.
"""

from __future__ import annotations

import importlib.util
import ipaddress
import os
from datetime import timedelta
from pathlib import Path

import environ
from celery.schedules import crontab
from django.core.exceptions import ImproperlyConfigured
from kombu import Queue

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()

DEBUG = env.bool("DEBUG", default=False)
SECRET_KEY = env.str("SECRET_KEY", default="")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured(
            "SECRET_KEY is not set. Set the SECRET_KEY environment variable "
            "(or DEBUG=true for a local development run)."
        )
    SECRET_KEY = "insecure-development-key-only-for-debug"

SITE_URL = env.str("SITE_URL", default="http://127.0.0.1:8000").rstrip("/")
# Reverse proxies in front of the web server (rundbrief/http.py): how many, and/or which
# addresses. Used for the per-IP limits and the consent proof; without them X-Forwarded-For
# is ignored (anyone can write it).
TRUSTED_PROXY_HOPS = env.int("TRUSTED_PROXY_HOPS", default=0)
TRUSTED_PROXIES = env.list("TRUSTED_PROXIES", default=[])
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost", "[::1]", "testserver"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[SITE_URL])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "csp",
    "corsheaders",
    "anymail",
    "rundbrief",
    "rundbrief.mailbox",
    "rundbrief.devtools",
    "subscribers",
    "campaigns",
    "replies",
    "audience",
    "dialogue",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "csp.middleware.CSPMiddleware",
    "corsheaders.middleware.CorsMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "rundbrief.urls"
WSGI_APPLICATION = "rundbrief.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "rundbrief.context_processors.site",
            ],
        },
    },
]

DATABASES = {
    "default": env.db("DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'rundbrief.sqlite3'}"),
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # Web server, workers and the SMTP receiver share one SQLite file in the embedded default.
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {"timeout": 20, "transaction_mode": "IMMEDIATE", "init_command": "PRAGMA journal_mode=WAL;"}
    )
# Persistent connections, vetted by Django's health check before reuse. Celery workers use
# them too: see rundbrief/celery.py (a new PostgreSQL connection per task doubled the cost
# of processing one inbound reply).
DATABASES["default"].setdefault("CONN_MAX_AGE", env.int("DB_CONN_MAX_AGE", default=60))
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Redis: cache (rate limits, throttles) and Celery broker ----------------------------
REDIS_URL = env.str("REDIS_URL", default="redis://127.0.0.1:6379/0")
if REDIS_URL:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL}}
else:
    # No Redis: a database cache is shared by all processes, so rate limits still hold.
    CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.db.DatabaseCache", "LOCATION": "rundbrief_cache"}
    }

CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default=REDIS_URL or "filesystem://")
CELERY_BROKER_TRANSPORT_OPTIONS: dict = {}
if CELERY_BROKER_URL.startswith("filesystem://"):
    # The server-less kombu transport: messages are files that web and worker processes share.
    _broker_dir = Path(env.str("CELERY_FILESYSTEM_DIR", default=str(BASE_DIR / "var" / "broker")))
    for _sub in ("queue", "processed", "control"):
        (_broker_dir / _sub).mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_broker_dir / "queue"),
        "data_folder_out": str(_broker_dir / "queue"),
        "processed_folder": str(_broker_dir / "processed"),
        # Fanout (worker remote control) lives here too, not in a "control" folder in the cwd.
        "control_folder": str(_broker_dir / "control"),
        "store_processed": False,
    }
CELERY_TASK_DEFAULT_QUEUE = "default"
# Separate queues so a big send never starves inbound processing.
CELERY_TASK_QUEUES = (Queue("default"), Queue("send"), Queue("inbound"))
CELERY_TASK_ROUTES = {
    "campaigns.tasks.*": {"queue": "send"},
    "replies.tasks.*": {"queue": "inbound"},
}
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_IGNORE_RESULT = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
# Celery's Django fixup closes every connection around every task unless this is set; we
# set it out of reach and let Django's close_old_connections (CONN_MAX_AGE, health checks)
# decide instead, around each task (rundbrief/celery.py).
CELERY_DB_REUSE_MAX = 10**9
CELERY_TASK_ALWAYS_EAGER = env.bool("CELERY_TASK_ALWAYS_EAGER", default=False)
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_TIMEZONE = "UTC"
CELERY_BEAT_SCHEDULE: dict = {
    "purge-expired-pending-subscribers": {
        "task": "subscribers.tasks.purge_expired_pending",
        "schedule": crontab(minute=17),
    },
    # Confirmation mails held back by the resend window go out once it has passed.
    "send-due-confirmations": {
        "task": "subscribers.tasks.send_due_confirmations",
        "schedule": timedelta(minutes=1),
    },
}

# --- Outgoing mail --------------------------------------------------------------------
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="Rundbrief <newsletter@localhost>")
SERVER_EMAIL = DEFAULT_FROM_EMAIL
REPLY_DOMAIN = env.str("REPLY_DOMAIN", default="reply.localhost")
# VERP: every mail's envelope sender is <prefix>+<token>@REPLY_DOMAIN (rundbrief/mail/addresses.py).
BOUNCE_ADDRESS_PREFIX = env.str("BOUNCE_ADDRESS_PREFIX", default="bounces")
# Soft bounces count, as in GNU Mailman: a permanent failure suppresses at once; temporary ones
# add to a score (at most one per day) that suppresses at the threshold, reset after a quiet spell.
BOUNCE_SCORE_THRESHOLD = env.float("BOUNCE_SCORE_THRESHOLD", default=5.0)
BOUNCE_SCORE_TEMPORARY = env.float("BOUNCE_SCORE_TEMPORARY", default=0.5)
BOUNCE_SCORE_PERMANENT = env.float("BOUNCE_SCORE_PERMANENT", default=1.0)
BOUNCE_INFO_STALE_AFTER_DAYS = env.int("BOUNCE_INFO_STALE_AFTER_DAYS", default=7)
ANYMAIL_ESP = env.str("ANYMAIL_ESP", default="")
EMAIL_URL = env.str("EMAIL_URL", default="")
ANYMAIL: dict = {
    # ANYMAIL_<ESP>_<SETTING>=... in the environment becomes ANYMAIL["<ESP>_<SETTING>"].
    key.removeprefix("ANYMAIL_"): value
    for key, value in os.environ.items()
    if key.startswith("ANYMAIL_") and key != "ANYMAIL_ESP"
}
# anymail's shared secret: HTTP basic auth "user:password" on every webhook URL. Without it
# anyone could post a forged bounce and suppress any address, so outside DEBUG it is required;
# several, comma-separated, let a new secret be rolled out before the old one is dropped.
WEBHOOK_SECRET = env.str("WEBHOOK_SECRET", default="")
WEBHOOK_SECRETS = [secret.strip() for secret in WEBHOOK_SECRET.split(",") if secret.strip()]
if not WEBHOOK_SECRETS and not DEBUG:
    raise ImproperlyConfigured(
        "WEBHOOK_SECRET is not set. Set it to a user:password pair (e.g. rundbrief:$(openssl rand -hex 24)) "
        "and give the ESP the webhook URLs with it (https://user:password@<site>/webhooks/anymail/...), "
        "or set DEBUG=true for a local development run."
    )
if any(":" not in secret for secret in WEBHOOK_SECRETS):
    raise ImproperlyConfigured(
        "WEBHOOK_SECRET must be user:password (HTTP basic auth), several separated by commas."
    )
if WEBHOOK_SECRETS:
    ANYMAIL["WEBHOOK_SECRET"] = WEBHOOK_SECRETS
# Signed webhooks whose signature carries a timestamp (Mailgun, SendGrid, Resend): older (or
# further in the future) than this is refused, and each signature is accepted once (shared cache).
WEBHOOK_MAX_AGE_SECONDS = env.int("WEBHOOK_MAX_AGE_SECONDS", default=15 * 60)
if ANYMAIL_ESP:
    EMAIL_BACKEND = f"anymail.backends.{ANYMAIL_ESP}.EmailBackend"
    EMAIL_DELIVERY = "esp"
elif EMAIL_URL:
    vars().update(env.email_url_config(EMAIL_URL))
    EMAIL_DELIVERY = "smtp"
else:
    # The local default: every mail is captured and shown at /dev/mailbox/.
    EMAIL_BACKEND = "rundbrief.mailbox.backend.MailboxBackend"
    EMAIL_DELIVERY = "mailbox"
MAILBOX_ENABLED = EMAIL_DELIVERY == "mailbox"
# Where the local mailbox delivers "reply as the subscriber" mail: the inbound SMTP receiver.
INBOUND_SMTP_HOST = env.str("INBOUND_SMTP_HOST", default="127.0.0.1")
INBOUND_SMTP_PORT = env.int("INBOUND_SMTP_PORT", default=2526)
INBOUND_MAX_MESSAGE_BYTES = env.int("INBOUND_MAX_MESSAGE_BYTES", default=25 * 1024 * 1024)
# Message bytes all SMTP/LMTP sessions may hold at once (0: one message of the largest size plus
# 8 MiB for small ones beside it; each costs a few times its size in memory while stored), and
# how long a session waits for room before DATA gets 451 (replies/smtp.py).
INBOUND_SMTP_BUFFER_BYTES = env.int("INBOUND_SMTP_BUFFER_BYTES", default=0)
INBOUND_SMTP_BUFFER_WAIT_SECONDS = env.float("INBOUND_SMTP_BUFFER_WAIT_SECONDS", default=60.0)

# --- Subscribers ----------------------------------------------------------------------
CONFIRMATION_LINK_MAX_AGE = timedelta(days=env.int("CONFIRMATION_LINK_DAYS", default=7))
CONFIRMATION_RESEND_WINDOW = timedelta(minutes=env.int("CONFIRMATION_RESEND_MINUTES", default=10))
# Preference links in mails stop working after this; the page then offers a new one by mail.
PREFERENCES_LINK_MAX_AGE = timedelta(days=env.int("PREFERENCES_LINK_DAYS", default=180))
# Erasure and data download are confirmed through a link mailed on request, valid this long.
DATA_LINK_MAX_AGE = timedelta(minutes=env.int("DATA_LINK_MINUTES", default=60))
SUBSCRIBE_RATE_LIMIT = env.str("SUBSCRIBE_RATE_LIMIT", default="10/h")
CORS_ALLOWED_ORIGINS = env.list("CORS_ALLOWED_ORIGINS", default=[])
CORS_URLS_REGEX = r"^/api/.*$"
RATELIMIT_VIEW = "rundbrief.views.rate_limited"
RATELIMIT_IP_META_KEY = "rundbrief.http.client_ip_for_rate_limits"

# --- Campaigns ------------------------------------------------------------------------
SEND_RATE_PER_SECOND = env.float("SEND_RATE_PER_SECOND", default=0)  # 0 = unlimited
SEND_BATCH_SIZE = env.int("SEND_BATCH_SIZE", default=500)
# SMTP connections each sending process keeps open; one commit covers a round of one mail on each.
SMTP_CONNECTIONS = env.int("SMTP_CONNECTIONS", default=4)
LIST_ID_DOMAIN = env.str("LIST_ID_DOMAIN", default="rundbrief.localhost")
SEND_MAX_ATTEMPTS = env.int("SEND_MAX_ATTEMPTS", default=5)  # transient failures before "failed"
# The staff inbox: a queued answer waits this long before it goes out, so its author can undo it.
ANSWER_UNDO_SECONDS = env.int("ANSWER_UNDO_SECONDS", default=10)
# Attachments of one staff answer together (the ESP or relay may allow less).
ANSWER_MAX_ATTACHMENT_BYTES = env.int("ANSWER_MAX_ATTACHMENT_BYTES", default=10 * 1024 * 1024)
SEND_RETRY_BASE_SECONDS = env.int("SEND_RETRY_BASE_SECONDS", default=30)  # backoff doubles per attempt
SEND_RETRY_MAX_SECONDS = env.int("SEND_RETRY_MAX_SECONDS", default=900)
# Deliveries queued/sending longer than this are re-enqueued by the recovery task (worker died).
SEND_STUCK_AFTER_SECONDS = env.int("SEND_STUCK_AFTER_SECONDS", default=600)
CELERY_BEAT_SCHEDULE["campaigns-start-due"] = {
    "task": "campaigns.tasks.start_due_campaigns_task",
    "schedule": timedelta(seconds=30),
}
# A/B tests by replies whose wait has passed are decided and their rest queued (campaigns.abtest).
CELERY_BEAT_SCHEDULE["campaigns-decide-ab-tests"] = {
    "task": "campaigns.tasks.decide_due_ab_tests_task",
    "schedule": timedelta(minutes=1),
}
CELERY_BEAT_SCHEDULE["campaigns-recover-stalled"] = {
    "task": "campaigns.tasks.recover_stalled_sends_task",
    "schedule": timedelta(minutes=5),
}
# The audience desk: uploaded CSV files of imports never started are deleted after a day.
CELERY_BEAT_SCHEDULE["audience-purge-import-drafts"] = {
    "task": "audience.tasks.purge_import_drafts_task",
    "schedule": timedelta(hours=1),
}

# --- Replies --------------------------------------------------------------------------
# Stored inbound mail still unprocessed after this long (broker was down) is enqueued again.
INBOUND_REQUEUE_AFTER_MINUTES = env.int("INBOUND_REQUEUE_AFTER_MINUTES", default=10)
# A message claimed this many times without finishing (its worker died on it: segfault, OOM
# killer) is marked failed on its next claim instead of being processed again.
INBOUND_MAX_ATTEMPTS = max(1, env.int("INBOUND_MAX_ATTEMPTS", default=3))
# Inbound mail bigger than this is processed alone, never in a batch (its parse holds no
# batch's transaction and locks, and the worker holds one big message at a time).
INBOUND_LARGE_MESSAGE_BYTES = env.int("INBOUND_LARGE_MESSAGE_BYTES", default=1024 * 1024)
# Hard time limit of the inbound tasks: a drain stuck in one message this long is killed
# (the claim counts against the message, see INBOUND_MAX_ATTEMPTS); a healthy drain hands
# over to a fresh task after 60 s.
INBOUND_TASK_TIME_LIMIT_SECONDS = env.int("INBOUND_TASK_TIME_LIMIT_SECONDS", default=300)
CELERY_BEAT_SCHEDULE["replies-requeue-stale-inbound"] = {
    "task": "replies.tasks.requeue_stale_inbound_task",
    "schedule": timedelta(minutes=5),
}
CELERY_BEAT_SCHEDULE["replies-requeue-stuck-answers"] = {
    "task": "replies.tasks.requeue_stuck_staff_answers_task",
    "schedule": timedelta(minutes=5),
}
# --- Dialogue (dialogue/) -------------------------------------------------------------
# A call-back request's phone number is deleted this many days after its conversation closed.
CALLBACK_RETENTION_DAYS = env.int("CALLBACK_RETENTION_DAYS", default=30)
CELERY_BEAT_SCHEDULE["dialogue-purge-callbacks"] = {
    "task": "dialogue.tasks.purge_callbacks_task",
    "schedule": timedelta(hours=1),
}

# --- Auth, i18n, static ---------------------------------------------------------------
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"
# A form without a valid CSRF token gets the error page in the site's look (rundbrief/errors.py).
CSRF_FAILURE_VIEW = "rundbrief.errors.csrf_failure"

LANGUAGE_CODE = "en"
LANGUAGES = [("de", "Deutsch"), ("en", "English")]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = env.str("TIME_ZONE", default="Europe/Berlin")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = Path(env.str("STATIC_ROOT", default=str(BASE_DIR / "var" / "static")))
# Outside DEBUG the app server serves static files itself (whitenoise): what `collectstatic`
# wrote, gzip-compressed, under content-hashed names cached for a year. DEBUG (make run) and
# the test suite (STATIC_PLAIN=true) use the files as they are, served by the dev server.
STATIC_PLAIN = env.bool("STATIC_PLAIN", default=DEBUG)
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"
        if STATIC_PLAIN
        else "rundbrief.storage.StaticFilesStorage"  # whitenoise's, without rewriting source-map references
    },
}
if not STATIC_PLAIN:
    MIDDLEWARE.insert(
        MIDDLEWARE.index("django.middleware.security.SecurityMiddleware") + 1,
        ("whitenoise.middleware.WhiteNoiseMiddleware"),
    )
MEDIA_ROOT = Path(env.str("MEDIA_ROOT", default=str(BASE_DIR / "var" / "media")))
MEDIA_URL = "media/"

# --- HTTPS, cookies and security headers ---------------------------------------------
# An https:// SITE_URL means the site is served over HTTPS: redirect plain HTTP, send HSTS,
# and mark the session and CSRF cookies Secure. Each can be set on its own.
SITE_IS_HTTPS = SITE_URL.startswith("https://")
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=SITE_IS_HTTPS)
SESSION_COOKIE_SECURE = env.bool("SESSION_COOKIE_SECURE", default=SITE_IS_HTTPS)
CSRF_COOKIE_SECURE = env.bool("CSRF_COOKIE_SECURE", default=SITE_IS_HTTPS)
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=365 * 24 * 3600 if SITE_IS_HTTPS else 0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", default=True)
SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=False)
# A reverse proxy that terminates TLS tells Django so in a header, e.g.
# SECURE_PROXY_SSL_HEADER=X-Forwarded-Proto (only if the proxy always sets or strips it).
# gunicorn already does this for proxies in its --forwarded-allow-ips (127.0.0.1 by default).
_proxy_ssl_header = env.str("SECURE_PROXY_SSL_HEADER", default="")
if _proxy_ssl_header:
    SECURE_PROXY_SSL_HEADER = ("HTTP_" + _proxy_ssl_header.upper().replace("-", "_"), "https")
SILENCED_SYSTEM_CHECKS: list[str] = []
if not SECURE_HSTS_PRELOAD:
    # Preloading commits the whole registrable domain to HTTPS in every browser; an operator's
    # decision (SECURE_HSTS_PRELOAD=true), not something the app may warn everyone into.
    SILENCED_SYSTEM_CHECKS.append("security.W021")

# Content Security Policy (django-csp): no inline script or style anywhere (the pages load
# theirs from /static/), nothing from other hosts. Mails are shown in frames served with their
# own, stricter policy (rundbrief/mailframes.py: inline styles, no scripts, images only).
_csp_report_uri = env.str("CSP_REPORT_URI", default="")  # (django-csp reserves CSP_* setting names)
_csp_directives = {
    "default-src": ["'self'"],
    "script-src": ["'self'"],
    "style-src": ["'self'"],
    "img-src": ["'self'", "data:"],
    "font-src": ["'self'"],
    "connect-src": ["'self'"],
    "frame-src": ["'self'"],
    "frame-ancestors": ["'self'"],
    "form-action": ["'self'"],
    "base-uri": ["'none'"],
    "object-src": ["'none'"],
}
if _csp_report_uri:
    _csp_directives["report-uri"] = [_csp_report_uri]
if env.bool("CSP_REPORT_ONLY", default=False):  # for trying a policy change: report, do not block
    CONTENT_SECURITY_POLICY_REPORT_ONLY = {"DIRECTIVES": _csp_directives}
else:
    CONTENT_SECURITY_POLICY = {"DIRECTIVES": _csp_directives}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    # aiosmtpd logs every connection at INFO (five lines per probe or mail); its warnings still show.
    "loggers": {
        "mail.log": {"level": env.str("SMTP_LOG_LEVEL", default="WARNING")},
        # flufl.bounce logs every detector it runs at INFO.
        "flufl.bounce": {"level": "WARNING"},
    },
}

# --- Operations: IMAP intake, health and metrics, two-factor login ----------------------
# (one block, so it merges apart from the rest; every variable is in the README's table)
INSTALLED_APPS += ["django_otp", "django_otp.plugins.otp_totp", "django_otp.plugins.otp_static"]
MIDDLEWARE.insert(0, "django_prometheus.middleware.PrometheusBeforeMiddleware")
MIDDLEWARE.insert(
    MIDDLEWARE.index("django.contrib.auth.middleware.AuthenticationMiddleware") + 1,
    "django_otp.middleware.OTPMiddleware",
)
MIDDLEWARE.insert(
    MIDDLEWARE.index("django_otp.middleware.OTPMiddleware") + 1,
    "rundbrief.accounts.middleware.TwoFactorMiddleware",
)
MIDDLEWARE.append("django_prometheus.middleware.PrometheusAfterMiddleware")
if DATABASES["default"]["ENGINE"].endswith("postgresql"):
    # libpq waits forever for an unreachable database host; health checks and workers must not.
    DATABASES["default"].setdefault("OPTIONS", {}).setdefault(
        "connect_timeout", env.int("DB_CONNECT_TIMEOUT", default=10)
    )
# IMAP intake (run_imap_intake): the longest wait between reconnects, how long one IDLE lasts
# before it is renewed (RFC 2177: under 29 minutes), how often the mailbox list is re-read.
IMAP_RETRY_MAX_SECONDS = env.int("IMAP_RETRY_MAX_SECONDS", default=300)
IMAP_IDLE_SECONDS = env.int("IMAP_IDLE_SECONDS", default=300)
IMAP_RELOAD_SECONDS = env.int("IMAP_RELOAD_SECONDS", default=30)
IMAP_TIMEOUT_SECONDS = env.int("IMAP_TIMEOUT_SECONDS", default=60)
# /healthz fails when the oldest task waiting in a queue, or the oldest stored inbound mail not
# yet processed, is older than this.
HEALTH_MAX_QUEUE_AGE_SECONDS = env.int("HEALTH_MAX_QUEUE_AGE_SECONDS", default=300)
HEALTH_MAX_INBOUND_AGE_SECONDS = env.int("HEALTH_MAX_INBOUND_AGE_SECONDS", default=900)
# /metrics (Prometheus) answers a request bearing this token, or coming from one of these
# addresses/networks; with neither set it answers nobody (DEBUG: this machine only).
METRICS_TOKEN = env.str("METRICS_TOKEN", default="")
METRICS_ALLOWED_IPS = env.list("METRICS_ALLOWED_IPS", default=["127.0.0.1", "::1"] if DEBUG else [])
PROMETHEUS_EXPORT_MIGRATIONS = False
# Two-factor login (TOTP, django-otp): required for superusers and members of these groups
# (not in DEBUG, so the demo accounts of `make run` log in with their password alone).
TWO_FACTOR_REQUIRED_GROUPS = [
    name.strip()
    for name in env.list("TWO_FACTOR_REQUIRED_GROUPS", default=[] if DEBUG else ["Managers", "Staff"])
    if name.strip()
]
TWO_FACTOR_REQUIRED_FOR_SUPERUSERS = env.bool("TWO_FACTOR_REQUIRED_FOR_SUPERUSERS", default=not DEBUG)
OTP_TOTP_ISSUER = env.str("OTP_TOTP_ISSUER", default="Rundbrief")
# Failed logins (password or code) allowed per account and per IP address in a window
# (django-ratelimit syntax); past that the login form says how long to wait.
LOGIN_FAILURES_PER_ACCOUNT = env.str("LOGIN_FAILURES_PER_ACCOUNT", default="10/15m")
LOGIN_FAILURES_PER_IP = env.str("LOGIN_FAILURES_PER_IP", default="50/15m")

# --- REST API and webhooks out (the `api` app) -------------------------------------------
# (one block, so it merges apart from the rest; every variable is in the README's table)
INSTALLED_APPS += ["api"]
# django-ninja's Swagger UI (its template and static files, served by us: no CDN) without
# "ninja" in INSTALLED_APPS: every process imports the installed apps, and ninja brings pydantic,
# ~12 MB in every worker process, which never serves the API (issue 17). api.v1.docs renders it.
_NINJA_DIR = Path(importlib.util.find_spec("ninja").origin).parent  # found, not imported
TEMPLATES[0]["DIRS"].append(_NINJA_DIR / "templates")
STATICFILES_DIRS.append(_NINJA_DIR / "static")
# Every write made with an API key is recorded with the key (api.models.ApiWrite).
MIDDLEWARE.append("api.middleware.record_api_writes")
WEBHOOK_TIMEOUT_SECONDS = env.int("WEBHOOK_TIMEOUT_SECONDS", default=10)
WEBHOOK_MAX_ATTEMPTS = env.int("WEBHOOK_MAX_ATTEMPTS", default=8)
WEBHOOK_RETRY_BASE_SECONDS = env.int("WEBHOOK_RETRY_BASE_SECONDS", default=30)
WEBHOOK_RETRY_MAX_SECONDS = env.int("WEBHOOK_RETRY_MAX_SECONDS", default=3600)
WEBHOOK_DISABLE_AFTER_FAILURES = env.int("WEBHOOK_DISABLE_AFTER_FAILURES", default=20)
# Webhook URLs on loopback, private or reserved addresses are refused (no requests into our own
# network on a manager's say-so) unless this is set; DEBUG allows them for local receivers.
WEBHOOK_ALLOW_PRIVATE_ADDRESSES = env.bool("WEBHOOK_ALLOW_PRIVATE_ADDRESSES", default=DEBUG)
# Private networks webhook receivers may be in all the same (comma-separated CIDRs, e.g. 10.8.0.0/16),
# and the CA certificates HTTPS receivers are checked against (empty: certifi's bundle).
WEBHOOK_ALLOWED_NETWORKS = env.list("WEBHOOK_ALLOWED_NETWORKS", default=[])
for _network in WEBHOOK_ALLOWED_NETWORKS:
    try:
        ipaddress.ip_network(_network, strict=False)
    except ValueError as _exc:
        raise ImproperlyConfigured(
            f"WEBHOOK_ALLOWED_NETWORKS: {_network!r} is not a network (e.g. 10.8.0.0/16)."
        ) from _exc
WEBHOOK_CA_BUNDLE = env.str("WEBHOOK_CA_BUNDLE", default="")
CELERY_BEAT_SCHEDULE["api-requeue-lost-webhook-deliveries"] = {
    "task": "api.tasks.requeue_lost_webhook_deliveries_task",
    "schedule": timedelta(minutes=5),
}
