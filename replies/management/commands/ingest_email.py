"""Store one message read from standard input, for an MTA pipe (e.g. Postfix `pipe` or an alias).

Exit codes follow sysexits.h, which MTAs understand: 0 stored, 65 (EX_DATAERR) for input
that is not a storable mail (the MTA bounces it), 75 (EX_TEMPFAIL) when the database
cannot be reached (the MTA keeps the mail and retries).
"""

from __future__ import annotations

import sys

from django.core.management.base import BaseCommand, CommandParser
from django.utils.translation import gettext as _

from replies import services
from replies.models import InboundMessage

EX_DATAERR = 65
EX_TEMPFAIL = 75


class Command(BaseCommand):
    help = _("Store one email from standard input (for an MTA pipe) and print its id.")

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--sender", default="", help=_("Envelope sender, as the MTA passes it."))
        parser.add_argument(
            "--recipient", action="append", default=[], help=_("Envelope recipient (repeatable).")
        )

    def handle(self, *args: object, **options: object) -> None:
        try:
            raw = sys.stdin.buffer.read()
        except (OSError, ValueError) as exc:
            self._fail(_("Could not read standard input: %(error)s") % {"error": exc}, EX_DATAERR)
        try:
            inbound = services.store_inbound(
                raw,
                source=InboundMessage.Source.PIPE,
                envelope_from=str(options["sender"]),
                envelope_to=list(options["recipient"]),
            )
        except services.RejectedMessage as exc:
            self._fail(_("Not stored: %(reason)s") % {"reason": exc}, EX_DATAERR)
        except services.StorageUnavailable as exc:
            self._fail(_("Not stored, try again later: %(reason)s") % {"reason": exc}, EX_TEMPFAIL)
        note = _(" (already stored before)") if getattr(inbound, "duplicate", False) else ""
        self.stdout.write(f"{inbound.pk}{note}")

    def _fail(self, message: str, code: int) -> None:
        self.stderr.write(message)
        sys.exit(code)
