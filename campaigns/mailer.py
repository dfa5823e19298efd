"""Per-recipient messages and their hand-over to a backend (SMTP, an anymail ESP, the local mailbox).

Building a MIME message with the stdlib costs 1–4 ms; most of it is invariant per campaign.
So the factory encodes the invariant headers once and per recipient only renders the
template, quoted-printable-encodes the two bodies (C code in binascii) and splices bytes.
"""

from __future__ import annotations

import binascii
import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from email.header import Header
from email.utils import formataddr, formatdate, parseaddr

from django.conf import settings
from django.core.mail import EmailMultiAlternatives, get_connection
from django.urls import reverse
from django.utils import translation

from campaigns.merge import Slot, join_parts, split_campaign
from campaigns.rendering import CompiledCampaign, RenderedMail
from replies.addresses import reply_address
from subscribers.tokens import PREFERENCES, UNSUBSCRIBE, absolute, make_token


class SendError(Exception):
    """A message could not be handed over; ``reason`` is shown to the marketer."""

    def __init__(self, reason: str, *, connection_lost: bool = False):
        self.reason = reason
        self.connection_lost = connection_lost  # the backend, not this recipient, is the problem
        super().__init__(reason)


class TransientSendError(SendError):
    """Try again later (4xx, connection trouble, ESP throttling)."""


class PermanentSendError(SendError):
    """Never try again (5xx: unknown user, rejected content)."""


@dataclass(frozen=True)
class Recipient:
    delivery_id: int
    message_id: str
    reply_token: str
    subscriber_id: int
    email: str
    name: str
    language: str
    text_only: bool


@dataclass
class OutgoingMail:
    recipient: Recipient
    raw: bytes  # the complete RFC 5322 message, CRLF line endings
    html: str
    text: str
    subject: str
    from_header: str
    headers: dict[str, str] = field(default_factory=dict)  # all but From/To/Subject/Date, for ESPs


def _clean(value: str) -> str:
    """No header injection through names or subjects."""
    return re.sub(r"[\r\n]+", " ", value).strip()


def _encode_header(value: str) -> str:
    value = _clean(value)
    return value if value.isascii() else Header(value, "utf-8").encode()


def _qp(text: str) -> bytes:
    normalised = text.replace("\r\n", "\n").replace("\r", "\n").encode("utf-8")
    return binascii.b2a_qp(normalised, istext=True).replace(b"\n", b"\r\n")


def message_domain() -> str:
    return parseaddr(settings.DEFAULT_FROM_EMAIL)[1].rpartition("@")[2] or "localhost"


def new_message_id() -> str:
    """Stored with the delivery before the first attempt, so a retry carries the same Message-ID."""
    return f"<{secrets.token_hex(16)}@{message_domain()}>"


def _url_around_token(name: str) -> tuple[str, str]:
    placeholder = "RUNDBRIEFTOKEN"
    before, after = absolute(reverse(name, args=[placeholder])).split(placeholder)
    return before, after


class MessageFactory:
    """Everything invariant for one campaign, prepared once per worker process."""

    def __init__(
        self,
        *,
        compiled: CompiledCampaign,
        campaign_id: int,
        subject: str,
        from_name: str,
        list_name: str,
        list_slug: str,
        topic_slugs: tuple[str, ...],
        subject_prefix: str = "",
    ):
        self.compiled = compiled
        # Most campaigns use recipient data only as plain {{ … }} values: their static text
        # (layout, footer, {% translate %}) is then rendered once per language and only the
        # values per recipient, which is the same string as a full render (campaigns.merge).
        self._bodies = split_campaign(compiled)
        self._static_parts: dict[str, tuple[list[str | Slot], list[str | Slot]]] = {}
        self.campaign_id = campaign_id
        self.topic_slugs = topic_slugs
        name, address = parseaddr(settings.DEFAULT_FROM_EMAIL)
        self.envelope_from = address
        self.from_header = formataddr((_clean(from_name or name), address), charset="utf-8")
        self.subject = subject_prefix + subject
        self.list_id = f"{_encode_header(list_name)} <{list_slug}.{settings.LIST_ID_DOMAIN}>"
        # Gmail's Feedback-ID: campaign:topic:kind:sender, lets complaint rates be told apart.
        self.feedback_id = f"{campaign_id}:{list_slug}:newsletter:rundbrief"
        self.boundary = "=_rb_" + secrets.token_hex(12)
        self._preferences_url = _url_around_token("subscribers:preferences")
        self._unsubscribe_url = _url_around_token("subscribers:unsubscribe")
        self.common_headers = {
            "List-Id": self.list_id,
            "Feedback-ID": self.feedback_id,
            "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",  # RFC 8058
        }
        self._fixed = (
            f"From: {self.from_header}\r\n"
            f"Subject: {_encode_header(self.subject)}\r\n"
            + "".join(f"{key}: {value}\r\n" for key, value in self.common_headers.items())
            + "MIME-Version: 1.0\r\n"
        ).encode()
        self._alternative = (
            f'Content-Type: multipart/alternative; boundary="{self.boundary}"\r\n\r\n'
            f"--{self.boundary}\r\n"
            "Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n"
        ).encode()
        self._html_part = (
            f"\r\n--{self.boundary}\r\n"
            "Content-Type: text/html; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n"
        ).encode()
        self._end = f"\r\n--{self.boundary}--\r\n".encode()
        self._text_only = (
            b"Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n"
        )

    def variables(self, recipient: Recipient) -> dict:
        # Same URLs as subscribers.tokens.preferences_url/unsubscribe_url, with the reverse()
        # done once per campaign: signed tokens are URL-safe, so splicing them in is exact.
        preferences = make_token(PREFERENCES, recipient.subscriber_id)
        unsubscribe = make_token(UNSUBSCRIBE, recipient.subscriber_id, self.topic_slugs, self.campaign_id)
        return {
            "subscriber": {"name": recipient.name, "email": recipient.email},
            "preferences_url": self._preferences_url[0] + preferences + self._preferences_url[1],
            "unsubscribe_url": self._unsubscribe_url[0] + unsubscribe + self._unsubscribe_url[1],
        }

    def recipient_headers(self, recipient: Recipient, variables: dict) -> dict[str, str]:
        """The headers that differ per recipient (the rest are ``common_headers``)."""
        return {
            "Message-ID": recipient.message_id,
            "Reply-To": reply_address(recipient.reply_token),
            "List-Unsubscribe": f"<{variables['unsubscribe_url']}>",
        }

    def render(self, recipient: Recipient, variables: dict) -> RenderedMail:
        """This recipient's bodies; callers sending many mails activate each language once."""
        if self._bodies is None:  # the template branches on recipient data: a full render each
            return self.compiled.render(variables, language=recipient.language, text_only=recipient.text_only)
        if recipient.language != translation.get_language():
            with translation.override(recipient.language):
                return self.render(recipient, variables)
        language = translation.get_language()
        parts = self._static_parts.get(language)
        if parts is None:
            parts = self._static_parts[language] = self._bodies.parts()
        values = self._bodies.values(variables, text_only=recipient.text_only)
        html_parts, text_parts = parts
        text = join_parts(text_parts, values.__getitem__)
        html = "" if recipient.text_only else join_parts(html_parts, values.__getitem__)
        return RenderedMail(html=html, text=text)

    def build(self, recipient: Recipient) -> OutgoingMail:
        variables = self.variables(recipient)
        rendered = self.render(recipient, variables)
        headers = self.recipient_headers(recipient, variables)
        varying = (
            f"To: {formataddr((_clean(recipient.name), recipient.email), charset='utf-8')}\r\n"
            f"Date: {formatdate(usegmt=True)}\r\n"
            + "".join(f"{key}: {value}\r\n" for key, value in headers.items())
        ).encode()
        if recipient.text_only:
            body = self._text_only + _qp(rendered.text)
        else:
            body = self._alternative + _qp(rendered.text) + self._html_part + _qp(rendered.html) + self._end
        return OutgoingMail(
            recipient=recipient,
            raw=self._fixed + varying + body,
            html=rendered.html,
            text=rendered.text,
            subject=self.subject,
            from_header=self.from_header,
            headers={**headers, **self.common_headers},
        )


# --- Transports -------------------------------------------------------------------------

OnAccepted = Callable[[str], None]  # called with the ESP's message id ("" if none)


class Transport:
    """Hands one message at a time to a backend, calling ``on_accepted`` as early as is safe."""

    name = "base"

    def open(self) -> None:
        pass

    def close(self) -> None:
        pass

    def send(self, mail: OutgoingMail, on_accepted: OnAccepted) -> None:
        raise NotImplementedError


class MailboxTransport(Transport):
    """The local default: the captured mail and the delivery state commit together."""

    name = "mailbox"

    def send(self, mail: OutgoingMail, on_accepted: OnAccepted) -> None:
        from django.db import transaction

        from rundbrief.mailbox.backend import capture_raw

        with transaction.atomic():
            capture_raw(
                mail.raw,
                sender=settings.DEFAULT_FROM_EMAIL,
                recipients=[mail.recipient.email],
                subject=mail.subject,
                message_id=mail.recipient.message_id,
            )
            on_accepted("")


class ESPTransport(Transport):
    """Any anymail ESP, through one connection (one HTTP session) per batch.

    ``send`` is one API call per mail, its acceptance recorded right after it. ``send_batch``
    takes one message carrying merge_data/merge_headers for many recipients: used by the
    send loop when the ESP has inline merge fields and the campaign's template can be
    expressed with them (campaigns.batching); the loop records those acceptances before.
    """

    name = "esp"

    def __init__(self) -> None:
        self.connection = None

    def open(self) -> None:
        if self.connection is None:
            self.connection = get_connection(fail_silently=False)
            self.connection.open()

    def close(self) -> None:
        if self.connection is not None:
            self.connection.close()
            self.connection = None

    def send(self, mail: OutgoingMail, on_accepted: OnAccepted) -> None:
        self.open()
        message = EmailMultiAlternatives(
            subject=mail.subject,
            body=mail.text,
            from_email=mail.from_header,
            to=[formataddr((_clean(mail.recipient.name), mail.recipient.email))],
            headers=mail.headers,
            connection=self.connection,
        )
        if mail.html:
            message.attach_alternative(mail.html, "text/html")
        status = self._hand_over(message)
        if status is not None and status.status and status.status <= {"rejected", "invalid"}:
            raise PermanentSendError(f"rejected by the ESP: {', '.join(sorted(status.status))}")
        esp_id = getattr(status, "message_id", None)
        on_accepted("" if esp_id is None else str(esp_id))

    def send_batch(self, message: EmailMultiAlternatives) -> dict:
        """One API call for many recipients (merge_data/merge_headers set by the caller).

        Returns anymail's per-recipient statuses ({email: AnymailRecipientStatus}); when
        the ESP refused every recipient, those statuses too (not an exception), so each
        delivery gets its own reason.
        """
        from anymail.exceptions import (
            AnymailInvalidAddress,
            AnymailRecipientsRefused,
            AnymailSerializationError,
            AnymailUnsupportedFeature,
        )

        self.open()
        message.connection = self.connection
        try:
            self._hand_over(message, refused_raises=False)
        except AnymailRecipientsRefused:
            pass
        except TransientSendError as exc:
            # Raised while building the payload, before any request: nothing went out.
            preflight = (AnymailInvalidAddress, AnymailSerializationError, AnymailUnsupportedFeature)
            if isinstance(exc.__cause__, preflight):
                raise PermanentSendError(exc.reason) from exc
            raise
        status = getattr(message, "anymail_status", None)
        return dict(status.recipients) if status is not None else {}

    def _hand_over(self, message: EmailMultiAlternatives, *, refused_raises: bool = True):
        """Send through anymail, mapping its errors onto ours; returns message.anymail_status."""
        from anymail.exceptions import AnymailAPIError, AnymailError, AnymailRecipientsRefused

        try:
            message.send()
        except AnymailRecipientsRefused as exc:
            if not refused_raises:
                raise
            raise PermanentSendError(str(exc)) from exc
        except AnymailAPIError as exc:
            status = getattr(exc, "status_code", None)
            if status and 400 <= status < 500 and status not in (408, 429):
                raise PermanentSendError(str(exc)) from exc
            raise TransientSendError(str(exc), connection_lost=True) from exc
        except (AnymailError, OSError) as exc:
            raise TransientSendError(str(exc), connection_lost=True) from exc
        return getattr(message, "anymail_status", None)


def transport_for_settings() -> Transport:
    delivery = settings.EMAIL_DELIVERY
    if delivery == "smtp":
        from campaigns.smtp_transport import SMTPTransport  # which imports this module

        return SMTPTransport()
    if delivery == "esp":
        return ESPTransport()
    return MailboxTransport()
