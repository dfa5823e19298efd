"""Rundbrief spread over three hosts (network namespaces, tests/multihost/network.py).

Host A runs a throwaway PostgreSQL and Redis (from the installed binaries, in a temp dir,
bound to A's address only); host B the web server and the inbound SMTP receiver; host C the
Celery workers. The test, in the root namespace, plays the relay (an SMTP sink), the
subscriber's mail program and the people at their browsers: a marketer launches the demo
campaign over HTTP on B, C sends it to the sink, a subscriber's reply goes to B's receiver,
C processes and routes it to the campaign's contact person, who answers over HTTP on B, and
C sends the answer, threaded.
"""

from __future__ import annotations

import email
import email.policy
import glob
import http.cookiejar
import os
import re
import shutil
import smtplib
import socket
import sys
import tempfile
import threading
import urllib.parse
import urllib.request
from email.message import EmailMessage
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller

from tests.multihost import network as netns
from tests.support import ROOT, wait_for

pytestmark = pytest.mark.worker

DEMO_PASSWORD = "rundbrief-demo"
WEB_PORT, SMTP_PORT, PG_PORT, REDIS_PORT = 8000, 2525, 5432, 6379


def _postgres_bin(name: str) -> str:
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"), key=lambda p: int(p.split("/")[4]))
    if not found:
        pytest.skip(f"PostgreSQL's {name} is not installed")
    return found[-1]


class Sink:
    """The relay every host sends through: keeps what it accepted."""

    def __init__(self) -> None:
        self.messages: list[email.message.EmailMessage] = []
        self.lock = threading.Lock()

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd's hook name
        with self.lock:
            self.messages.append(
                email.message_from_bytes(envelope.original_content, policy=email.policy.default)
            )
        return "250 OK"

    def find(self, predicate):
        with self.lock:
            return [m for m in self.messages if predicate(m)]


class Browser:
    """A person at a browser: cookies, CSRF token, form posts (urllib, no redirects followed)."""

    def __init__(self, base: str) -> None:
        self.base = base
        self.jar = http.cookiejar.CookieJar()

        class NoRedirect(urllib.request.HTTPRedirectHandler):
            def redirect_request(self, *args, **kwargs):
                return None

        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(self.jar), NoRedirect)

    def request(self, path: str, data: dict | None = None) -> tuple[int, str, str]:
        body = None
        if data is not None:
            token = next((c.value for c in self.jar if c.name == "csrftoken"), "")
            body = urllib.parse.urlencode({**data, "csrfmiddlewaretoken": token}).encode()
        request = urllib.request.Request(self.base + path, data=body, headers={"Accept-Language": "en"})
        try:
            with self.opener.open(request, timeout=30) as response:
                return response.status, response.read().decode(), response.headers.get("Location", "")
        except urllib.error.HTTPError as error:
            return error.code, error.read().decode(errors="replace"), error.headers.get("Location", "")

    def log_in(self, username: str) -> None:
        self.request("/accounts/login/")
        status, _body, location = self.request(
            "/accounts/login/", {"username": username, "password": DEMO_PASSWORD}
        )
        assert status == 302 and "/accounts/login/" not in location, f"login of {username} failed ({status})"


def _port_open(host: str, port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((host, port)) == 0


@pytest.fixture
def network():
    try:
        built = netns.build()
    except netns.NamespacesUnavailable as exc:
        pytest.skip(f"network namespaces cannot be created here ({exc}); the three-host test needs root")
    yield built
    built.remove()


def test_campaign_reply_routing_and_answer_across_three_hosts(network):
    a, b, c = (network.hosts[name] for name in "abc")
    work = Path(tempfile.mkdtemp(prefix="rb-threehosts-"))
    work.chmod(0o755)
    logs = work / "logs"
    logs.mkdir()

    def waited(check, *, timeout: float, what: str, interval: float = 0.2):
        try:
            return wait_for(check, timeout=timeout, what=what, interval=interval)
        except AssertionError as exc:
            raise AssertionError(f"{exc}") from None

    def tails() -> str:
        return "\n".join(
            f"--- {log.name} ---\n" + "\n".join(log.read_text(errors="replace").splitlines()[-25:])
            for log in sorted(logs.glob("*.log"))
        )

    controller = None
    try:
        # --- host A: PostgreSQL and Redis, bound to A's address only -----------------------
        pgdata = work / "pgdata"
        pgdata.mkdir()
        shutil.chown(pgdata, "postgres", "postgres")
        initdb = network.run(
            "a",
            [
                "runuser",
                "-u",
                "postgres",
                "--",
                _postgres_bin("initdb"),
                "-D",
                str(pgdata),
                "-A",
                "trust",
                "-U",
                "postgres",
                "--no-sync",
                "-E",
                "UTF8",
            ],
            env=dict(os.environ),
            cwd=work,
        )
        assert initdb.returncode == 0, initdb.stderr
        with (pgdata / "pg_hba.conf").open("a") as hba:
            hba.write(f"host all all {network.prefix}.0/24 trust\n")
        network.start(
            "a",
            [
                "runuser",
                "-u",
                "postgres",
                "--",
                _postgres_bin("postgres"),
                "-D",
                str(pgdata),
                "-c",
                f"listen_addresses={a.address}",
                "-c",
                f"port={PG_PORT}",
                "-c",
                f"unix_socket_directories={pgdata}",
                "-c",
                "fsync=off",
                "-c",
                "synchronous_commit=off",
                "-c",
                "full_page_writes=off",
            ],
            env=dict(os.environ),
            log=logs / "a-postgres.log",
            cwd=work,
        )
        network.start(
            "a",
            [
                "redis-server",
                "--bind",
                a.address,
                "--port",
                str(REDIS_PORT),
                "--save",
                "",
                "--appendonly",
                "no",
                "--protected-mode",
                "no",
                "--dir",
                str(work),
            ],
            env=dict(os.environ),
            log=logs / "a-redis.log",
            cwd=work,
        )
        waited(lambda: _port_open(a.address, PG_PORT), timeout=30, what="PostgreSQL on A")
        waited(lambda: _port_open(a.address, REDIS_PORT), timeout=15, what="Redis on A")
        createdb = network.run(
            "b",
            [_postgres_bin("createdb"), "-h", a.address, "-U", "postgres", "rundbrief"],
            env=dict(os.environ),
            cwd=work,
        )
        assert createdb.returncode == 0, createdb.stderr

        # --- the relay, in the root namespace ------------------------------------------------
        sink = Sink()
        controller = Controller(sink, hostname=network.gateway, port=2587)
        controller.start()

        env = {
            key: value
            for key, value in os.environ.items()
            if not re.match(
                r"^(DATABASE_URL|REDIS_URL|CELERY_.*|EMAIL_URL|ANYMAIL_.*|SITE_URL|DJANGO_.*)$", key
            )
        }
        env.update(
            {
                "DEBUG": "false",
                "SECRET_KEY": "three-hosts-secret-key",
                "DATABASE_URL": f"postgres://postgres@{a.address}:{PG_PORT}/rundbrief",
                "REDIS_URL": f"redis://{a.address}:{REDIS_PORT}/0",
                "SITE_URL": f"http://{b.address}:{WEB_PORT}",
                "ALLOWED_HOSTS": b.address,
                "EMAIL_URL": f"smtp://{network.gateway}:2587",
                "REPLY_DOMAIN": "reply.example.org",
                "DEFAULT_FROM_EMAIL": "Rundbrief <news@example.org>",
                "WEBHOOK_SECRET": "rundbrief:three-hosts-webhook",
                "STATIC_PLAIN": "true",
                "MEDIA_ROOT": str(work / "media"),
                "TWO_FACTOR_REQUIRED_GROUPS": "",  # two-factor login has its own tests
                "TWO_FACTOR_REQUIRED_FOR_SUPERUSERS": "false",
                "CELERY_TASK_ALWAYS_EAGER": "false",
                "LOG_LEVEL": "WARNING",
                "PYTHONUNBUFFERED": "1",
            }
        )
        manage = [sys.executable, str(ROOT / "manage.py")]
        for step in (["migrate", "--noinput"], ["seed_demo"]):
            result = network.run("b", manage + step, env=env, cwd=ROOT, timeout=180)
            assert result.returncode == 0, f"{step}: {result.stdout}\n{result.stderr}"

        # --- host B: web and inbound receiver; host C: the workers ---------------------------
        network.start(
            "b",
            manage + ["runserver", f"{b.address}:{WEB_PORT}", "--noreload"],
            env=env,
            log=logs / "b-web.log",
            cwd=ROOT,
        )
        network.start(
            "b",
            manage + ["run_inbound_smtp", "--host", b.address, "--port", str(SMTP_PORT)],
            env=env,
            log=logs / "b-smtp.log",
            cwd=ROOT,
        )
        celery = [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "rundbrief",
            "worker",
            "-c",
            "1",
            "--loglevel",
            "WARNING",
            "--without-gossip",
            "--without-mingle",
            "--without-heartbeat",
        ]
        network.start(
            "c", celery + ["-Q", "send", "-n", "send@c"], env=env, log=logs / "c-send.log", cwd=ROOT
        )
        network.start(
            "c",
            celery + ["-Q", "default,inbound", "-n", "main@c"],
            env=env,
            log=logs / "c-main.log",
            cwd=ROOT,
        )
        waited(lambda: _port_open(b.address, WEB_PORT), timeout=60, what="the web server on B")
        waited(lambda: _port_open(b.address, SMTP_PORT), timeout=60, what="the receiver on B")

        web = f"http://{b.address}:{WEB_PORT}"
        health_status, health_body, _ = Browser(web).request("/healthz")
        assert health_status == 200, health_body  # database and Redis on A, seen from B

        # --- a marketer launches the demo campaign on B; C sends it -------------------------
        marketer = Browser(web)
        marketer.log_in("marketer")
        _status, listing, _ = marketer.request("/campaigns/")
        campaign_id = re.search(r'href="/campaigns/(\d+)/"', listing).group(1)
        status, _body, _ = marketer.request(f"/campaigns/{campaign_id}/launch/", {"at": "", "confirmed": "1"})
        assert status == 302
        newsletters = waited(
            lambda: (
                len(sink.find(lambda m: m["Subject"] == "Our demo newsletter")) == 4
                and sink.find(lambda m: m["Subject"] == "Our demo newsletter")
            ),
            timeout=60,
            what="four campaign mails at the relay",
        )
        to_lena = next(m for m in newsletters if "lena.fischer@example.org" in m["To"])
        reply_to = to_lena["Reply-To"].addresses[0].addr_spec
        assert reply_to.endswith("@reply.example.org")

        # --- Lena answers; B's receiver stores it, C routes it to the contact (Anna) ---------
        reply = EmailMessage()
        reply["From"] = "Lena Fischer <lena.fischer@example.org>"
        reply["To"] = reply_to
        reply["Subject"] = "Re: Our demo newsletter"
        reply["Message-ID"] = "<lena-reply-1@example.org>"
        reply["In-Reply-To"] = to_lena["Message-ID"]
        reply["References"] = to_lena["Message-ID"]
        reply.set_content("Hallo Anna,\n\nwann ist das nächste Treffen?\n\nLena\n")
        with smtplib.SMTP(b.address, SMTP_PORT, timeout=30) as smtp:
            smtp.send_message(reply, from_addr="lena.fischer@example.org", to_addrs=[reply_to])

        anna = Browser(web)
        anna.log_in("anna")

        def conversation_in_annas_queue():
            _status, inbox, _ = anna.request("/inbox/")
            match = re.search(r'href="/inbox/conversations/(\d+)/"', inbox)
            return match and match.group(1)

        conversation_id = waited(
            conversation_in_annas_queue,
            timeout=60,
            what="the reply in Anna's queue",
            interval=0.5,
        )
        _status, page, _ = anna.request(f"/inbox/conversations/{conversation_id}/")
        assert "wann ist das nächste Treffen?" in page
        assert "Lena" in page

        # --- Anna answers on B; C sends the answer through the relay, threaded --------------
        status, _body, _ = anna.request(
            f"/inbox/conversations/{conversation_id}/reply/", {"text": "Hallo Lena, am Donnerstag um 18 Uhr."}
        )
        assert status == 302
        answers = waited(
            lambda: sink.find(lambda m: m["In-Reply-To"] == "<lena-reply-1@example.org>"),
            timeout=60,
            what="Anna's answer at the relay",
        )
        answer = answers[0]
        assert "lena.fischer@example.org" in answer["To"]
        assert "Anna" in answer["From"]
        assert "am Donnerstag um 18 Uhr" in answer.get_body(("plain",)).get_content()
        assert answer["Reply-To"].addresses[0].addr_spec.endswith("@reply.example.org")
    finally:
        if controller is not None:
            controller.stop()
        network.stop_all()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":  # pragma: no cover - for running it by hand
    sys.exit(pytest.main([__file__, "-q"]))
