""" "Reply as the subscriber": a real RFC 5322 reply, delivered over SMTP to the inbound receiver.

Deliberately the production path: the reply enters Rundbrief exactly as a subscriber's
mail would, through the SMTP receiver, never by writing to the database directly.
"""

from __future__ import annotations

import smtplib
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import format_datetime, localtime, make_msgid, parsedate_to_datetime

from django.conf import settings
from django.utils.translation import gettext as _

from rundbrief.mail.subjects import reply_subject
from rundbrief.mailbox.models import CapturedMail
from rundbrief.mailbox.reading import ReadableMail, read_mail


class ReplyDeliveryError(Exception):
    """The inbound receiver could not be reached or refused the reply; the message says why."""


@dataclass(frozen=True)
class ReplyDraft:
    from_address: str
    to_address: str
    subject: str
    in_reply_to: str
    references: str
    body: str


def quoted_original(readable: ReadableMail) -> str:
    """The "On … wrote:" line and the original text part, each line quoted with "> "."""
    sender = readable.header("From") or readable.from_address
    date_header = readable.header("Date")
    try:
        when = format_datetime(parsedate_to_datetime(date_header)) if date_header else ""
    except (TypeError, ValueError):
        when = date_header
    intro = _("On %(date)s, %(sender)s wrote:") % {"date": when, "sender": sender}
    text = readable.text or _("(no text part)")
    quoted = "\n".join(f"> {line}" if line else ">" for line in text.splitlines())
    return f"{intro}\n{quoted}"


def draft_reply(original: CapturedMail) -> ReplyDraft:
    """What the reply form starts with: addresses, threading headers and the quoted original."""
    readable = read_mail(bytes(original.raw))
    message_id = readable.header("Message-ID").strip() or original.message_id
    references = " ".join(part for part in (readable.header("References").strip(), message_id) if part)
    return ReplyDraft(
        from_address=original.recipients[0] if original.recipients else "",
        to_address=readable.reply_to,
        subject=reply_subject(readable.header("Subject") or original.subject),
        in_reply_to=message_id,
        references=references,
        body="\n\n" + quoted_original(readable),
    )


def compose_reply(draft: ReplyDraft, *, body: str) -> EmailMessage:
    if not draft.from_address or not draft.to_address:
        raise ReplyDeliveryError(_("This mail has no recipient or no reply address to answer."))
    message = EmailMessage()
    message["From"] = draft.from_address
    message["To"] = draft.to_address
    message["Subject"] = draft.subject
    message["Date"] = format_datetime(localtime())
    message["Message-ID"] = make_msgid(domain=draft.from_address.rpartition("@")[2] or "localhost")
    if draft.in_reply_to:
        message["In-Reply-To"] = draft.in_reply_to
        message["References"] = draft.references
    # Browsers submit CRLF; the email package writes the line endings itself.
    message.set_content(body.replace("\r\n", "\n"))
    return message


def deliver(message: EmailMessage, *, host: str | None = None, port: int | None = None) -> None:
    """Hand the reply to the inbound SMTP receiver, or raise ReplyDeliveryError saying why not."""
    host = host or settings.INBOUND_SMTP_HOST
    port = port or settings.INBOUND_SMTP_PORT
    try:
        with smtplib.SMTP(host, port, timeout=15) as smtp:
            smtp.send_message(message)
    except smtplib.SMTPRecipientsRefused as exc:
        raise ReplyDeliveryError(
            _("The inbound receiver at %(host)s:%(port)s refused the recipient: %(detail)s")
            % {"host": host, "port": port, "detail": _smtp_detail(exc.recipients)}
        ) from exc
    except smtplib.SMTPResponseException as exc:
        raise ReplyDeliveryError(
            _("The inbound receiver at %(host)s:%(port)s answered %(code)s: %(detail)s")
            % {"host": host, "port": port, "code": exc.smtp_code, "detail": _decode(exc.smtp_error)}
        ) from exc
    except (OSError, smtplib.SMTPException) as exc:
        raise ReplyDeliveryError(
            _(
                "The inbound SMTP receiver at %(host)s:%(port)s is not reachable (%(error)s). "
                "Is it running? `make run` starts it."
            )
            % {"host": host, "port": port, "error": exc}
        ) from exc


def _decode(value: bytes | str) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


def _smtp_detail(recipients: dict) -> str:
    return "; ".join(f"{addr}: {code} {_decode(msg)}" for addr, (code, msg) in recipients.items())
