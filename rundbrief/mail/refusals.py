"""One vocabulary for a mail that was not taken, one way to read a refusal, one backoff rule.

Campaign sends and staff answers both speak it: a transport (or ``classify``) turns what
smtplib, anymail or the socket raised into a ``TransientSendError`` (try again later) or a
``PermanentSendError`` (never again), whose ``reason`` is the server's or ESP's own words,
stored and shown as they are (like a bounce). ``retry_delay`` is the wait before the next try.

- SMTP (RFC 5321): 5xx is permanent; 4xx and lost or refused connections are temporary.
- ESPs (anymail): rejected recipients, an HTTP 4xx other than 408/429, and errors anymail
  raises while building the request (nothing was sent: an invalid address, an unsupported
  feature) are permanent; no answer, 408, 429 and 5xx are temporary.
- Anything else (a bug, a bad setting) is permanent: the mail shows as failed with the
  reason instead of being tried forever.
"""

from __future__ import annotations

import smtplib
from collections.abc import Iterable

from anymail.exceptions import (
    AnymailAPIError,
    AnymailError,
    AnymailInvalidAddress,
    AnymailRecipientsRefused,
    AnymailSerializationError,
    AnymailUnsupportedFeature,
)
from django.conf import settings


class SendError(Exception):
    """A mail was not handed over; ``reason`` is shown to the marketer or the staff member."""

    def __init__(self, reason: str, *, connection_lost: bool = False):
        self.reason = reason
        self.connection_lost = connection_lost  # the backend, not this recipient, is the problem
        super().__init__(reason)


class TransientSendError(SendError):
    """Try again later (4xx, connection trouble, ESP throttling)."""


class PermanentSendError(SendError):
    """Never try again (5xx: unknown user, rejected content)."""


# anymail's normalised per-recipient statuses that mean this recipient's mail was not taken
# ("failed": the ESP could not send it). The same set for one-by-one and batch sends.
REFUSED_STATUSES = frozenset({"rejected", "invalid", "failed"})

# Raised by anymail while it builds the request: nothing reached the ESP, and a retry builds the same.
_ANYMAIL_PREFLIGHT = (AnymailInvalidAddress, AnymailSerializationError, AnymailUnsupportedFeature)


def smtp_reason(code: int, message: bytes | str) -> str:
    """An SMTP reply as the server gave it ("550 5.1.1 No such user"), stored and shown as is."""
    text = message.decode(errors="replace") if isinstance(message, bytes) else str(message)
    return f"{code} {text}".strip()


def smtp_refusal(code: int, message: bytes | str) -> SendError:
    """An SMTP reply that refused the mail: 5xx permanent, anything else temporary."""
    reason = smtp_reason(code, message)
    return PermanentSendError(reason) if 500 <= code < 600 else TransientSendError(reason)


def esp_status_is_permanent(status: int | None) -> bool:
    """An ESP's HTTP 4xx refuses the mail itself; 408, 429, 5xx and no answer are worth a retry."""
    return bool(status) and 400 <= status < 500 and status not in (408, 429)


def refused_by_esp(statuses: Iterable[str]) -> bool:
    """An ESP's per-recipient statuses for one mail: True if it was not taken at all."""
    statuses = set(statuses)
    return bool(statuses) and statuses <= REFUSED_STATUSES


def _text(exc: BaseException) -> str:
    """The exception's own words (some anymail errors cannot describe themselves without a response)."""
    try:
        text = str(exc).strip()
    except Exception:  # noqa: BLE001 - e.g. AnymailAPIError with a status code but no response
        text = " ".join(str(arg) for arg in exc.args).strip()
    return text or type(exc).__name__


def classify(exc: BaseException) -> SendError:
    """What smtplib, anymail, the socket (or anything else) raised, as a refusal with its reason."""
    if isinstance(exc, SendError):
        return exc
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        refusals = [smtp_refusal(code, message) for code, message in exc.recipients.values()]
        reason = "; ".join(
            f"{address}: {smtp_reason(code, message)}" for address, (code, message) in exc.recipients.items()
        )
        temporary = bool(refusals) and all(isinstance(r, TransientSendError) for r in refusals)
        return (TransientSendError if temporary else PermanentSendError)(reason or _text(exc))
    if isinstance(exc, smtplib.SMTPResponseException):
        return smtp_refusal(exc.smtp_code, exc.smtp_error)
    if isinstance(exc, AnymailRecipientsRefused):
        return PermanentSendError(_text(exc))
    if isinstance(exc, AnymailAPIError):
        if esp_status_is_permanent(getattr(exc, "status_code", None)):
            return PermanentSendError(_text(exc))
        return TransientSendError(_text(exc), connection_lost=True)
    if isinstance(exc, _ANYMAIL_PREFLIGHT):
        return PermanentSendError(_text(exc))
    if isinstance(exc, AnymailError | OSError):  # smtplib's other errors are OSErrors too
        return TransientSendError(_text(exc), connection_lost=True)
    return PermanentSendError(_text(exc))


def retry_delay(attempts: int) -> int:
    """Seconds before the next try after ``attempts`` tries: doubling from SEND_RETRY_BASE_SECONDS,
    at most SEND_RETRY_MAX_SECONDS. After SEND_MAX_ATTEMPTS tries the mail is failed instead."""
    return min(settings.SEND_RETRY_MAX_SECONDS, settings.SEND_RETRY_BASE_SECONDS * 2 ** max(0, attempts - 1))


def may_retry(attempts: int) -> bool:
    """A temporary refusal after this many tries is tried again (else the mail is failed)."""
    return attempts < settings.SEND_MAX_ATTEMPTS
