"""Production settings: what refuses to start, what `check --deploy` says, and the real app server.

Each subprocess gets a production-like environment (no DEBUG, https SITE_URL, long secrets);
the suite's own settings are loaded once per process, so settings that are read at import
time can only be tested this way.
"""

from __future__ import annotations

import gzip
import os
import secrets
import signal
import subprocess
import sys
import urllib.error
import urllib.request

import pytest

from tests.support import ROOT, free_port, wait_for

METRICS_TOKEN = secrets.token_hex(16)
PRODUCTION = {
    "SECRET_KEY": secrets.token_hex(32),
    "WEBHOOK_SECRET": "rundbrief:" + secrets.token_hex(24),
    "SITE_URL": "https://news.example.org",
    "ALLOWED_HOSTS": "news.example.org,127.0.0.1",
    "STATIC_PLAIN": "false",
}
# (DJANGO_ALLOW_ASYNC_UNSAFE: set process-wide by the Playwright tests; check --deploy refuses it.)
DEV_ONLY = {
    "DEBUG",
    "SECRET_KEY",
    "WEBHOOK_SECRET",
    "SITE_URL",
    "ALLOWED_HOSTS",
    "STATIC_PLAIN",
    "DJANGO_ALLOW_ASYNC_UNSAFE",
}


def environment(**values: str) -> dict[str, str]:
    """The test process's environment (database, Redis) without its dev/test-only settings."""
    base = {key: value for key, value in os.environ.items() if key not in DEV_ONLY}
    return {**base, "DJANGO_SETTINGS_MODULE": "rundbrief.settings", **values}


def setting_values(code: str, env: dict[str, str]) -> list[str]:
    result = manage("shell", "-v", "0", "-c", code, env=env)
    assert result.returncode == 0, result.stderr
    return result.stdout.split()


def manage(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )


def test_missing_webhook_secret_outside_debug_is_a_clear_startup_error():
    env = environment(**{**PRODUCTION, "WEBHOOK_SECRET": ""})
    result = manage("check", env=env)
    assert result.returncode != 0
    assert "WEBHOOK_SECRET is not set" in result.stderr
    assert "user:password" in result.stderr


def test_a_webhook_secret_that_is_not_user_password_is_refused():
    result = manage("check", env=environment(**{**PRODUCTION, "WEBHOOK_SECRET": "justapassword"}))
    assert result.returncode != 0
    assert "WEBHOOK_SECRET must be user:password" in result.stderr


def test_deploy_check_is_clean_with_production_settings():
    result = manage("check", "--deploy", "--fail-level", "WARNING", env=environment(**PRODUCTION))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_production_security_settings_follow_an_https_site_url():
    code = (
        "from django.conf import settings as s;"
        "print(s.SECURE_SSL_REDIRECT, s.SESSION_COOKIE_SECURE, s.CSRF_COOKIE_SECURE,"
        " s.SECURE_HSTS_SECONDS, s.SECURE_HSTS_INCLUDE_SUBDOMAINS, s.SECURE_PROXY_SSL_HEADER)"
    )
    https = setting_values(code, environment(**PRODUCTION, SECURE_PROXY_SSL_HEADER="X-Forwarded-Proto"))
    assert https == [
        "True",
        "True",
        "True",
        "31536000",
        "True",
        "('HTTP_X_FORWARDED_PROTO',",
        "'https')",
    ]
    # Each one can be set on its own, e.g. a proxy that redirects to HTTPS itself:
    tuned = setting_values(
        code, environment(**PRODUCTION, SECURE_SSL_REDIRECT="false", SECURE_HSTS_SECONDS="600")
    )
    assert tuned[:4] == ["False", "True", "True", "600"]
    plain = setting_values(code, environment(DEBUG="true", SITE_URL="http://127.0.0.1:8000"))
    assert plain[:4] == ["False", "False", "False", "0"]


def test_deploy_check_names_what_is_unsafe_in_a_development_configuration():
    result = manage(
        "check",
        "--deploy",
        env=environment(DEBUG="true", SITE_URL="http://mail.example.org", ALLOWED_HOSTS="x.org"),
    )
    for check_id in ("rundbrief.E001", "rundbrief.W003", "rundbrief.W004", "security.W018"):
        assert check_id in result.stdout + result.stderr, check_id
    weak = manage("check", "--deploy", env=environment(**{**PRODUCTION, "WEBHOOK_SECRET": "hook:short"}))
    assert "rundbrief.W002" in weak.stdout + weak.stderr


@pytest.fixture
def gunicorn_server(tmp_path, django_db_setup, django_db_blocker):
    """gunicorn with production settings and whitenoise, on the suite's database (after collectstatic)."""
    from django.db import connection

    from subscribers.models import ConsentText

    with (
        django_db_blocker.unblock()
    ):  # the signup page needs one (a flush by an earlier test drops the migration's)
        for language in ("en", "de"):
            ConsentText.objects.get_or_create(
                version="deploy-1", language=language, defaults={"text": "Consent."}
            )
    db = connection.settings_dict
    metrics_dir = tmp_path / "prometheus"
    metrics_dir.mkdir()
    (metrics_dir / "counter_4242.db").write_bytes(b"left over from a previous run")
    env = environment(
        **PRODUCTION,
        DATABASE_URL=f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
        STATIC_ROOT=str(tmp_path / "static"),
        PROMETHEUS_MULTIPROC_DIR=str(metrics_dir),
        METRICS_TOKEN=METRICS_TOKEN,
    )
    collected = manage("collectstatic", "--noinput", env=env)
    assert collected.returncode == 0, collected.stderr
    port = free_port()
    process = subprocess.Popen(
        [
            sys.executable, "-m", "gunicorn", "-c", "python:rundbrief.gunicorn_conf",
            "rundbrief.wsgi:application",
            "--bind", f"127.0.0.1:{port}", "--workers", "2", "--forwarded-allow-ips", "127.0.0.1",
        ],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip

    def up() -> bool:
        try:
            fetch(f"http://127.0.0.1:{port}/subscribe/")
        except OSError:
            return process.poll() is not None  # died: stop waiting, the test shows its output
        return True

    wait_for(up, timeout=60, what="gunicorn")
    assert process.poll() is None, process.stdout.read()
    yield f"http://127.0.0.1:{port}", tmp_path / "static", metrics_dir
    process.send_signal(signal.SIGTERM)
    process.wait(timeout=30)


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


def fetch(url: str, **headers: str):
    opener = urllib.request.build_opener(_NoRedirect)
    request = urllib.request.Request(url, headers={"Host": "news.example.org", **headers})
    try:
        return opener.open(request, timeout=10)
    except urllib.error.HTTPError as response:
        return response


@pytest.mark.django_db(transaction=True)
def test_gunicorn_serves_pages_and_compressed_static_files_with_security_headers(gunicorn_server):
    base, static_root, _metrics_dir = gunicorn_server
    # Plain HTTP is redirected to HTTPS.
    response = fetch(base + "/subscribe/")
    assert response.status == 301
    assert response.headers["Location"] == "https://news.example.org/subscribe/"
    # Behind the TLS proxy (X-Forwarded-Proto from an allowed address): the page and its headers.
    page = fetch(base + "/subscribe/", **{"X-Forwarded-Proto": "https"})
    assert page.status == 200
    html = page.read().decode()
    assert page.headers["Strict-Transport-Security"] == "max-age=31536000; includeSubDomains"
    policy = page.headers["Content-Security-Policy"]
    assert (
        "default-src 'self'" in policy and "script-src 'self'" in policy and "'unsafe-inline'" not in policy
    )
    assert page.headers["X-Content-Type-Options"] == "nosniff"
    assert "Secure" in page.headers["Set-Cookie"]  # the CSRF cookie of the signup form
    # Static files under their hashed names, cached for a year, gzip for who asks.
    css_url = html.split('rel="stylesheet" href="', 1)[1].split('"', 1)[0]
    assert (
        css_url.startswith("/static/css/rundbrief.") and css_url.endswith(".css") and css_url.count(".") == 2
    )
    css = fetch(base + css_url, **{"X-Forwarded-Proto": "https", "Accept-Encoding": "gzip"})
    assert css.status == 200
    assert css.headers["Content-Encoding"] == "gzip"
    assert "max-age=315360000" in css.headers["Cache-Control"]
    assert gzip.decompress(css.read()) == (ROOT / "static" / "css" / "rundbrief.css").read_bytes()


@pytest.mark.django_db(transaction=True)
def test_gunicorn_config_counts_the_requests_of_every_worker_and_starts_from_an_empty_metrics_dir(
    gunicorn_server,
):
    """rundbrief/gunicorn_conf.py: prometheus_client's multi-process mode across gunicorn's workers."""
    base, _static_root, metrics_dir = gunicorn_server
    assert not (metrics_dir / "counter_4242.db").exists()  # emptied at start
    https = {"X-Forwarded-Proto": "https"}
    for _ in range(6):  # spread over both workers
        assert fetch(base + "/subscribe/", **https).status == 200
    assert fetch(base + "/metrics", **https).status == 403  # no token
    scrape = fetch(base + "/metrics", Authorization=f"Bearer {METRICS_TOKEN}", **https)
    assert scrape.status == 200
    text = scrape.read().decode()
    counted = [
        float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith("django_http_responses_total_by_status_total{") and 'status="200"' in line
    ]
    assert sum(counted) >= 6, text[:2000]
