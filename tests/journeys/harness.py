"""The browser-journey harness: a live system started the way `make run` starts it.

`start_live_system()` runs `manage.py run_all` in a temporary directory (its own SQLite
file, filesystem broker, free web and SMTP ports, no Redis: the embedded default) and
waits until it answers. The helpers below drive Chromium through Playwright's sync API.
Journeys talk to the system over HTTP and SMTP only; to read state they may run
`live_system.manage(...)` against its SQLite file.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from tests import support
from tests.support import free_port

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts" / "journeys"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
DEMO_PASSWORD = "rundbrief-demo"
START_TIMEOUT = 120  # seconds: migrations on a fresh SQLite file plus five processes
MAIL_TIMEOUT = 45  # seconds for a mail to go through a worker and show up in the mailbox

# Settings that would point the live system at the unit-test services instead of its own.
_FOREIGN_ENV = re.compile(
    r"^(DATABASE_URL|REDIS_URL|SECRET_KEY|SITE_URL|EMAIL_URL|ANYMAIL_.*|CELERY_.*|INBOUND_SMTP_.*|"
    r"ALLOWED_HOSTS|CSRF_TRUSTED_ORIGINS|MEDIA_ROOT|DJANGO_SETTINGS_MODULE)$"
)


def port_answers(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


@dataclass
class LiveSystem:
    url: str
    port: int
    smtp_port: int
    data_dir: Path
    env: dict[str, str]
    log_path: Path
    process: subprocess.Popen | None = field(default=None, repr=False)

    def manage(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        """Run a management command against the live system's database (e.g. to read state)."""
        result = subprocess.run(
            [sys.executable, str(ROOT / "manage.py"), *args],
            env=self.env,
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=120,
        )
        if check and result.returncode != 0:
            raise AssertionError(f"manage.py {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}")
        return result

    def python(self, code: str) -> str:
        """Run Python with Django set up against the live system; returns what it printed."""
        return self.manage("shell", "--no-imports", "-c", code).stdout.strip()

    def log_tail(self, lines: int = 80) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"


def live_environment(data_dir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not _FOREIGN_ENV.match(k)}
    env.update(
        {
            "DEBUG": "true",
            "DATABASE_URL": f"sqlite:///{data_dir / 'rundbrief.sqlite3'}",
            "REDIS_URL": "",  # the embedded default: filesystem broker, database cache
            "CELERY_FILESYSTEM_DIR": str(data_dir / "var" / "broker"),
            "LOG_LEVEL": "WARNING",
            "PYTHONUNBUFFERED": "1",
            # Every journey shares this one system and one client address (127.0.0.1): the
            # per-IP signup budget (10/h) would otherwise depend on how many ran before.
            # The limit itself is tested in tests/subscribers/.
            "SUBSCRIBE_RATE_LIMIT": "1000/h",
        }
    )
    return env


def start_live_system(data_dir: Path) -> LiveSystem:
    port, smtp_port = free_port(), free_port()
    env = live_environment(data_dir)
    env["INBOUND_SMTP_PORT"] = str(smtp_port)
    env["SITE_URL"] = f"http://127.0.0.1:{port}"
    system = LiveSystem(
        url=f"http://127.0.0.1:{port}",
        port=port,
        smtp_port=smtp_port,
        data_dir=data_dir,
        env=env,
        log_path=data_dir / "run_all.log",
    )
    log = system.log_path.open("wb")
    system.process = subprocess.Popen(
        [
            sys.executable,
            str(ROOT / "manage.py"),
            "run_all",
            "--port",
            str(port),
            "--smtp-port",
            str(smtp_port),
            "--data-dir",
            str(data_dir / "var"),
        ],
        env=env,
        cwd=ROOT,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,  # its own process group, so teardown reaches everything
    )
    log.close()
    try:
        _wait_until_up(system)
    except BaseException:
        stop_live_system(system)
        raise
    return system


def _wait_until_up(system: LiveSystem) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if system.process.poll() is not None:
            raise RuntimeError(
                f"run_all exited with {system.process.returncode} before answering:\n{system.log_tail()}"
            )
        if _http_ok(system.url + "/dev/mailbox/") and port_answers(system.smtp_port):
            # The workers print "ready" when they consume; the journeys wait for mail anyway.
            return
        time.sleep(0.5)
    raise RuntimeError(f"run_all did not answer within {START_TIMEOUT}s:\n{system.log_tail()}")


def _http_ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.status == 200
    except (urllib.error.URLError, OSError):
        return False


def stop_live_system(system: LiveSystem, timeout: float = 30) -> None:
    """SIGTERM run_all (it stops its children, like Ctrl-C), then SIGKILL whatever is left."""
    process = system.process
    if process is None or process.poll() is not None:
        return
    try:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)
    except ProcessLookupError:
        pass


# --- Browser helpers ----------------------------------------------------------------------


def shot(page, name: str) -> Path:
    """Save a full-page screenshot as test-artifacts/journeys/<name>.png (kept for the README)."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def login(page, username: str, password: str = DEMO_PASSWORD) -> None:
    """Log in through the login form as one of the demo users (see seed_demo)."""
    page.goto("/accounts/login/")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", password)
    page.click("form button[type=submit].primary")
    page.wait_for_load_state()
    if "/accounts/login/" in page.url:
        raise AssertionError(f"login as {username!r} failed: still on {page.url}")


def logout(page) -> None:
    page.click("form[action$='/accounts/logout/'] button")
    page.wait_for_load_state()


def wait_for(
    check: Callable[[], object], *, timeout: float = MAIL_TIMEOUT, interval: float = 0.5, what: str = ""
):
    """tests.support.wait_for with the journeys' defaults: pages and mail take longer, and a
    check often reloads a page, so poll gently."""
    return support.wait_for(check, timeout=timeout, what=what or repr(check), interval=interval)


def open_newest_mail(page, address: str, *, subject_contains: str = "", timeout: float = MAIL_TIMEOUT):
    """Open the newest mail to address in the local mailbox, waiting until one arrives.

    With subject_contains, waits for the newest mail whose subject contains that text.
    Leaves the page on the mail's detail view and returns the page.
    """
    rows = page.locator("table.mailbox-list tbody tr")

    def newest_matching_link():
        page.goto(f"/dev/mailbox/?to={urllib.request.quote(address)}")
        for index in range(rows.count()):
            link = rows.nth(index).locator("a").first
            if subject_contains.lower() in link.inner_text().lower():
                return link
        return None

    link = wait_for(newest_matching_link, timeout=timeout, what=f"mail to {address} ({subject_contains!r})")
    link.click()
    page.wait_for_load_state()
    return page


def mail_link(page, text_or_pattern: str) -> str:
    """The first URL in the open mail's text part that contains the given text."""
    for href in page.locator("[data-testid=mail-text] a").evaluate_all("els => els.map(e => e.href)"):
        if text_or_pattern in href:
            return href
    raise AssertionError(f"no link containing {text_or_pattern!r} in the text part of {page.url}")


def click_link_in_html(page, name: str | re.Pattern):
    """Click a link in the mail's HTML part (sandboxed iframe); it opens in a new tab. Returns that tab."""
    with page.context.expect_page() as new_tab:
        page.frame_locator("iframe.preview").get_by_role("link", name=name).first.click()
    tab = new_tab.value
    tab.wait_for_load_state()
    return tab


def reply_as_subscriber(page, text: str) -> None:
    """From an open mail in the mailbox: write a reply above the quote and send it over SMTP."""
    page.click("text=Reply as the subscriber")
    body = page.locator("textarea[name=body]")
    body.fill(text + body.input_value())
    page.click("form button[type=submit].primary")
    page.wait_for_load_state()
    errors = page.locator(".message.error")
    if errors.count():
        raise AssertionError(f"reply was not delivered: {errors.first.inner_text()}")
