"""`make run`: prepare the database, then start and supervise the whole system.

Web server, two Celery workers, beat and the inbound SMTP receiver run as child
processes under honcho's Manager, which multiplexes their output and stops all of them
when one exits or on Ctrl-C / SIGTERM.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from honcho.manager import Manager
from honcho.printer import Printer

from replies.models import ImapMailbox
from rundbrief.devtools.demo import DEMO_ACCOUNTS
from rundbrief.devtools.system import (
    SystemOptions,
    child_environment,
    process_table,
    redis_answers,
    setup_commands,
    site_url,
)


class Command(BaseCommand):
    help = (
        "Start Rundbrief: web server, Celery workers, beat, the inbound SMTP receiver and, when "
        "IMAP mailboxes are configured, the IMAP intake."
    )
    requires_system_checks: list = []  # the children check; this process only supervises

    def add_arguments(self, parser):
        parser.add_argument("--host", default="127.0.0.1", help="Web server address (default 127.0.0.1).")
        parser.add_argument("--port", type=int, default=8000, help="Web server port (default 8000).")
        parser.add_argument(
            "--smtp-port",
            type=int,
            default=settings.INBOUND_SMTP_PORT,
            help="Port of the inbound SMTP receiver (default INBOUND_SMTP_PORT, 2526).",
        )
        parser.add_argument(
            "--data-dir",
            default=str(settings.BASE_DIR / "var"),
            help="Where the broker files and the beat schedule live (default ./var).",
        )
        parser.add_argument(
            "--no-seed", action="store_true", help="Do not add demo data to an empty database."
        )
        parser.add_argument(
            "--verbose",
            action="store_true",
            help="Celery workers and beat log every task (INFO) and print their banners; "
            "by default they log warnings and errors only.",
        )

    def handle(self, *args, **options):
        system = SystemOptions(
            host=options["host"],
            port=options["port"],
            smtp_port=options["smtp_port"],
            data_dir=Path(options["data_dir"]).resolve(),
            celery_log_level="INFO" if options["verbose"] else "WARNING",
        )
        system.data_dir.mkdir(parents=True, exist_ok=True)
        # The SMTP receiver always listens on 127.0.0.1 (it is the local mailbox's target).
        for host, port in ((system.host, system.port), ("127.0.0.1", system.smtp_port)):
            if _port_in_use(host, port):
                raise CommandError(
                    f"Port {port} on {host} is already in use; pick another with --port/--smtp-port."
                )

        use_redis = redis_answers(settings.REDIS_URL)
        env = child_environment(dict(os.environ), options=system, use_redis=use_redis)
        if use_redis:
            self.stdout.write(f"Broker and cache: Redis at {settings.REDIS_URL}")
        else:
            self.stdout.write(
                f"Broker and cache: no Redis answered at {settings.REDIS_URL or '(REDIS_URL empty)'}; "
                f"using kombu's filesystem transport in {system.data_dir / 'broker'} and a database cache"
            )
        self.stdout.write(f"Database: {_describe_database()}")

        for command in setup_commands(seed=not options["no_seed"]):
            self.stdout.write(f"$ manage.py {' '.join(command[2:])}")
            result = subprocess.run(command, env=env, cwd=settings.BASE_DIR)
            if result.returncode != 0:
                raise CommandError(f"'manage.py {' '.join(command[2:])}' failed (exit {result.returncode}).")

        # The IMAP intake only when there is something to read (mailboxes are added in the admin;
        # one added while running is read after a restart, or by `manage.py run_imap_intake`).
        imap = ImapMailbox.objects.filter(enabled=True).exists()
        if not imap:
            self.stdout.write("IMAP intake: not started (no enabled IMAP mailbox in the admin)")
        processes = process_table(system, imap=imap)

        printer = QuietWatchingPrinter(sys.stdout)
        manager = Manager(printer=printer)
        for name, command in processes.items():
            manager.add_process(name, command, env=env, cwd=str(settings.BASE_DIR))
        threading.Thread(
            target=self._announce_when_up, args=(system, env, sorted(processes), printer), daemon=True
        ).start()
        manager.loop()
        sys.exit(manager.returncode or 0)

    def _announce_when_up(
        self, system: SystemOptions, env: dict[str, str], names: list[str], printer: QuietWatchingPrinter
    ) -> None:
        """Print the URLs and demo accounts once everything is up and the start-up output has
        settled, so the banner is the last thing on the screen rather than scrolled away."""
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and not (
            _port_in_use(system.host, system.port) and _port_in_use("127.0.0.1", system.smtp_port)
        ):
            time.sleep(0.3)
        printer.wait_for_quiet(QUIET_BEFORE_BANNER, timeout=BANNER_AT_THE_LATEST)
        base = env.get("SITE_URL", site_url(system))
        lines = [
            "",
            "=" * 72,
            f"Rundbrief is running ({', '.join(names)}). Ctrl-C stops everything.",
            f"  Signup page:    {base}/",
            f"  Log in:         {base}/accounts/login/",
            f"  Local mailbox:  {base}/dev/mailbox/",
            f"  Admin:          {base}/admin/",
            f"  Inbound SMTP:   127.0.0.1:{system.smtp_port}",
            "  Demo accounts (development passwords):",
            *(f"    {a.role:<10} {a.username:<16} {a.password}" for a in DEMO_ACCOUNTS),
            "=" * 72,
            "",
        ]
        sys.stdout.write("\n".join(lines) + "\n")
        sys.stdout.flush()


QUIET_BEFORE_BANNER = 2  # seconds without output from any process: the workers have booted
BANNER_AT_THE_LATEST = 30  # seconds after the ports answer, in case something keeps talking


class QuietWatchingPrinter(Printer):
    """honcho's printer, noting when a process last printed (the banner waits for a pause)."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.last_output = time.monotonic()

    def write(self, message) -> None:
        super().write(message)
        self.last_output = time.monotonic()

    def wait_for_quiet(self, seconds: float, *, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and time.monotonic() - self.last_output < seconds:
            time.sleep(0.2)


def _port_in_use(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1" if host in ("0.0.0.0", "") else host, port)) == 0


def _describe_database() -> str:
    db = settings.DATABASES["default"]
    if db["ENGINE"].endswith("sqlite3"):
        return f"SQLite file {db['NAME']}"
    return f"{db['ENGINE'].rsplit('.', 1)[-1]} database {db['NAME']} on {db.get('HOST') or 'localhost'}"
