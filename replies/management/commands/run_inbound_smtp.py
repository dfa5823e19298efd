"""Run the inbound SMTP (or LMTP) receiver until interrupted."""

from __future__ import annotations

import signal
import threading

from django.conf import settings
from django.core.management.base import BaseCommand, CommandParser
from django.utils.translation import gettext as _

from replies.smtp import InboundController, InboundHandler


class Command(BaseCommand):
    help = _("Receive replies over SMTP (or LMTP with --lmtp) and store them before answering 250.")

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--host", default=settings.INBOUND_SMTP_HOST)
        parser.add_argument("--port", type=int, default=settings.INBOUND_SMTP_PORT)
        parser.add_argument(
            "--lmtp", action="store_true", help=_("Speak LMTP (for a Postfix lmtp: transport).")
        )
        parser.add_argument(
            "--max-bytes",
            type=int,
            default=settings.INBOUND_MAX_MESSAGE_BYTES,
            help=_("Size limit per message."),
        )
        parser.add_argument("--threads", type=int, default=8, help=_("Threads storing messages in parallel."))

    def handle(self, *args: object, **options: object) -> None:
        handler = InboundHandler(lmtp=bool(options["lmtp"]), threads=int(options["threads"]))
        controller = InboundController(
            handler, host=str(options["host"]), port=int(options["port"]), max_bytes=int(options["max_bytes"])
        )
        stop = threading.Event()
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, lambda *_args: stop.set())
        controller.start()
        protocol = "LMTP" if options["lmtp"] else "SMTP"
        self.stdout.write(
            _("Inbound %(protocol)s receiver listening on %(host)s:%(port)s")
            % {"protocol": protocol, "host": options["host"], "port": options["port"]}
        )
        self.stdout.flush()
        try:
            stop.wait()
        finally:
            controller.stop()
