"""Plain SMTP with reused connections, several per process, and the exactly-once point.

The exactly-once point: a message is written up to, but not including, the final "."
line; then its delivery is committed as accepted; then the "." goes out. A worker killed
while waiting for the server's 250 therefore never sends that mail again. The price is a
short moment (between that commit and writing the ".") in which a kill loses the mail
instead: at-most-once there, which we prefer to a duplicate.

A transport keeps ``SMTP_CONNECTIONS`` connections and sends in rounds of one mail per
connection: every envelope is written before any reply is read, and the acceptances of a
whole round are committed in one statement before its dots are written. That spreads one
commit over several mails and overlaps the server's round trips, instead of waiting for
each in turn. The dots of a round are written back to back, so the window above grows to
a few microseconds per connection.
"""

from __future__ import annotations

import logging
import re
import smtplib
import socket
from collections.abc import Callable, Sequence

from django.conf import settings

from rundbrief.mail.headers import sender_address
from rundbrief.mail.refusals import PermanentSendError, SendError, TransientSendError, smtp_refusal
from rundbrief.mail.transports.base import OnAccepted, OutgoingMail, Transport

logger = logging.getLogger(__name__)

# What we put into RCPT TO ourselves: no spaces, brackets or line breaks, ASCII (no SMTPUTF8).
_PLAIN_ADDRESS = re.compile(r"^[!-;=?-~]+@[!-;=?-~]+$")

# Called once per round with the positions (in the round) of the mails whose "." is about to be written.
OnRoundAccepted = Callable[[Sequence[int]], None]


def _lost(exc: BaseException) -> SendError:
    if isinstance(exc, smtplib.SMTPResponseException):
        return smtp_refusal(exc.smtp_code, exc.smtp_error)
    return TransientSendError(f"SMTP connection lost: {exc}", connection_lost=True)


def dot_stuffed(raw: bytes) -> bytes:
    """The DATA payload (RFC 5321 4.5.2): lines starting with "." get another; ends with CRLF.

    bytes.replace instead of a multiline regex: the same result, ten times faster on the
    ~12 kB of a mail (MJML's CSS puts many lines starting with "." in every one).
    """
    raw = raw.replace(b"\n.", b"\n..")
    if raw.startswith(b"."):
        raw = b"." + raw
    return raw if raw.endswith(b"\r\n") else raw + b"\r\n"


def _open_connection() -> smtplib.SMTP:
    try:
        cls = smtplib.SMTP_SSL if getattr(settings, "EMAIL_USE_SSL", False) else smtplib.SMTP
        timeout = getattr(settings, "EMAIL_TIMEOUT", None) or 30
        conn = cls(settings.EMAIL_HOST, settings.EMAIL_PORT, timeout=timeout)
        # Small writes (the final ".") must not wait for Nagle + delayed ACK (~40 ms each).
        conn.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        conn.ehlo()
        if getattr(settings, "EMAIL_USE_TLS", False):
            conn.starttls()
            conn.ehlo()
        if settings.EMAIL_HOST_USER:
            conn.login(settings.EMAIL_HOST_USER, settings.EMAIL_HOST_PASSWORD)
    except smtplib.SMTPResponseException as exc:
        raise smtp_refusal(exc.smtp_code, exc.smtp_error) from exc
    except (OSError, smtplib.SMTPException) as exc:
        raise TransientSendError(f"SMTP connection failed: {exc}", connection_lost=True) from exc
    return conn


class _Channel:
    """One open connection, carrying at most one mail at a time."""

    def __init__(self, conn: smtplib.SMTP) -> None:
        self.conn = conn
        self.pipelining = conn.has_extn("pipelining")
        self.pending_envelope = False

    def start(self, sender: str, address: str) -> None:
        """MAIL, RCPT, DATA: one write when the server offers PIPELINING (RFC 2920), read later."""
        if self.pipelining:
            self.conn.send(f"MAIL FROM:<{sender}>\r\nRCPT TO:<{address}>\r\nDATA\r\n".encode())
            self.pending_envelope = True
            return
        self._expect((250,), *self.conn.mail(sender))
        self._expect((250, 251), *self.conn.rcpt(address))
        self._expect((354,), *self.conn.docmd("data"))

    def envelope_accepted(self) -> None:
        """Reads the pipelined envelope's replies; raises unless the server waits for the content."""
        if not self.pending_envelope:
            return
        self.pending_envelope = False
        conn = self.conn
        mail_reply, rcpt_reply, data_reply = conn.getreply(), conn.getreply(), conn.getreply()
        if data_reply[0] == 354 and (mail_reply[0] != 250 or rcpt_reply[0] not in (250, 251)):
            conn.send(b".\r\n")  # a server that said 354 anyway gets an empty message it must refuse
            conn.getreply()
        self._expect((250,), *mail_reply)
        self._expect((250, 251), *rcpt_reply)
        self._expect((354,), *data_reply)

    def _expect(self, ok: tuple[int, ...], code: int, message: bytes) -> None:
        if code not in ok:
            self.conn.rset()  # a failure here is a lost connection, handled by the caller
            raise smtp_refusal(code, message)

    def quit(self) -> None:
        try:
            self.conn.quit()
        except (OSError, smtplib.SMTPException):
            self.conn.close()


class SMTPTransport(Transport):
    """Rounds of up to ``SMTP_CONNECTIONS`` mails over as many reused connections."""

    name = "smtp"

    def __init__(self, connections: int | None = None) -> None:
        self.round_size = max(1, connections or settings.SMTP_CONNECTIONS)
        self.channels: list[_Channel | None] = [None] * self.round_size
        self.sender = sender_address()

    def open(self) -> None:
        """Opens the connections; a server that takes fewer (a connection limit) gets smaller rounds.

        Raises only if not even the first connection opens.
        """
        for index in range(self.round_size):
            try:
                self._channel(index)
            except SendError as exc:
                if index == 0:
                    raise
                logger.warning("SMTP server took %d of %d connections (%s)", index, self.round_size, exc)
                self.round_size = index
                del self.channels[index:]
                return

    def _channel(self, index: int) -> _Channel:
        channel = self.channels[index]
        if channel is None:
            channel = self.channels[index] = _Channel(_open_connection())
        return channel

    def _drop(self, index: int) -> None:
        channel, self.channels[index] = self.channels[index], None
        if channel is not None:
            channel.conn.close()

    def close(self) -> None:
        for index, channel in enumerate(self.channels):
            if channel is not None:
                channel.quit()
                self.channels[index] = None

    def send(self, mail: OutgoingMail, on_accepted: OnAccepted) -> None:
        [error] = self.send_round([mail], lambda _positions: on_accepted(""))
        if error is not None:
            raise error

    def send_round(
        self, mails: Sequence[OutgoingMail], on_accepted: OnRoundAccepted
    ) -> list[SendError | None]:
        """Up to ``round_size`` mails, one per connection; an error (or None) per mail, in order.

        ``on_accepted`` commits the acceptances of the mails about to get their "." (their
        positions in ``mails``); a mail
        with an error afterwards had its acceptance recorded only if the error came after
        the dot was written, and the caller takes it back either way.
        """
        if len(mails) > self.round_size:
            raise ValueError(f"at most {self.round_size} mails per round")
        errors: list[SendError | None] = [None] * len(mails)

        def fail(index: int, exc: BaseException) -> None:
            errors[index] = exc if isinstance(exc, SendError) else _lost(exc)
            if errors[index].connection_lost or not isinstance(exc, SendError):
                self._drop(index)

        started = []
        for index, mail in enumerate(mails):
            sender = mail.return_path or self.sender
            if not _PLAIN_ADDRESS.match(mail.to_address):
                errors[index] = PermanentSendError(f"not a deliverable address: {mail.to_address!r}")
                continue
            try:
                self._channel(index).start(sender, mail.to_address)
            except (SendError, OSError, smtplib.SMTPException) as exc:
                fail(index, exc)
            else:
                started.append(index)

        ready = []
        for index in started:
            try:
                self.channels[index].envelope_accepted()
                self.channels[index].conn.send(dot_stuffed(mails[index].raw))
            except (SendError, OSError, smtplib.SMTPException) as exc:
                fail(index, exc)
            else:
                ready.append(index)
        if not ready:
            return errors

        try:
            on_accepted(ready)
        except BaseException:
            for index in ready:  # no "." ever follows: the server discards those messages
                self._drop(index)
            raise
        dotted = []
        for index in ready:  # back to back: the window in the module docstring
            try:
                self.channels[index].conn.send(b".\r\n")
            except (OSError, smtplib.SMTPException) as exc:
                fail(index, exc)
            else:
                dotted.append(index)
        for index in dotted:
            try:
                code, message = self.channels[index].conn.getreply()
            except (OSError, smtplib.SMTPException) as exc:
                fail(index, exc)
                continue
            if code != 250:
                errors[index] = smtp_refusal(code, message)
        return errors
