"""Read the IMAP mailboxes configured in the admin into the inbound store, until interrupted."""

from __future__ import annotations

import signal
import sys
import threading

from django.core.management.base import BaseCommand, CommandParser
from django.utils.translation import gettext as _

from replies import services
from replies.imap.intake import CONNECTION_ERRORS, MailboxUnusable, check_once, enabled_mailboxes, run_intake


class Command(BaseCommand):
    help = _(
        "Read replies from IMAP mailboxes (IDLE where the server has it, else polling), "
        "reconnecting with backoff, until stopped."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--mailbox", action="append", default=[], help=_("Only this mailbox (its name; repeatable).")
        )
        parser.add_argument(
            "--once", action="store_true", help=_("Check each mailbox once and exit (e.g. from cron).")
        )

    def handle(self, *args: object, **options: object) -> None:
        names = list(options["mailbox"])
        if options["once"]:
            self._check_all_once(names)
            return
        stop = threading.Event()
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, lambda *_args: stop.set())
        mailboxes = enabled_mailboxes(names)
        self.stdout.write(
            _("IMAP intake running for: %(names)s")
            % {"names": ", ".join(m.name for m in mailboxes) or _("(no enabled mailbox yet)")}
        )
        self.stdout.flush()
        run_intake(stop, names=names)

    def _check_all_once(self, names: list[str]) -> None:
        failed = False
        for mailbox in enabled_mailboxes(names):
            try:
                result = check_once(mailbox)
            except (services.StorageUnavailable, MailboxUnusable, *CONNECTION_ERRORS) as exc:
                failed = True
                self.stderr.write(_("%(mailbox)s: %(error)s") % {"mailbox": mailbox, "error": exc})
                continue
            self.stdout.write(
                _("%(mailbox)s: %(stored)d stored, %(duplicates)d already stored, %(refused)d refused")
                % {
                    "mailbox": mailbox,
                    "stored": result.stored,
                    "duplicates": result.duplicates,
                    "refused": result.refused,
                }
            )
        if failed:
            sys.exit(75)  # EX_TEMPFAIL: try again later
