"""Our token addresses: <tag>+<token>@REPLY_DOMAIN, one random token per mail.

Two kinds: ``REPLY`` (reply+<token>@REPLY_DOMAIN), the Reply-To of every campaign mail and
staff answer, so an answer finds its delivery or conversation without any guessing; and the
VERP return path, ``verp()`` (<BOUNCE_ADDRESS_PREFIX>+<token>@REPLY_DOMAIN, prefix "bounces"
by default), the envelope sender of every mail we send: a DSN sent to it names its delivery by
the token alone. Both carry the same stored token of the mail (the delivery's, the answer's,
the system mail's), so one look-up serves both.

The token is random (not derived from ids), so it cannot be guessed, and lowercase hex,
because some MTAs fold the case of local parts.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from functools import cached_property, lru_cache

from django.conf import settings
from django.core.mail import EmailMessage

TOKEN_BYTES = 16
_TOKEN = rf"[0-9a-f]{{{TOKEN_BYTES * 2}}}"


def new_token() -> str:
    """A fresh token for one mail (stored with its delivery or answer before it is sent)."""
    return secrets.token_hex(TOKEN_BYTES)


@dataclass(frozen=True)
class TokenAddress:
    """One kind of token address, told apart by the tag before the "+"."""

    tag: str

    def address(self, token: str) -> str:
        return f"{self.tag}+{token}@{settings.REPLY_DOMAIN}"

    def token_of(self, address: str) -> str | None:
        """The token of one of our addresses of this kind, or None for any other address."""
        match = self._exact.match(address.strip().strip("<>"))
        if not match or match["domain"].lower() != settings.REPLY_DOMAIN.lower():
            return None
        return match["token"].lower()

    def tokens_in_text(self, text: str) -> set[str]:
        """Tokens of our addresses of this kind quoted anywhere in a text (a returned original)."""
        return {token for address in self._in_text.findall(text) if (token := self.token_of(address))}

    @cached_property
    def _exact(self) -> re.Pattern[str]:
        return re.compile(rf"^{re.escape(self.tag)}\+(?P<token>{_TOKEN})@(?P<domain>.+)$", re.IGNORECASE)

    @cached_property
    def _in_text(self) -> re.Pattern[str]:
        return re.compile(rf"{re.escape(self.tag)}\+{_TOKEN}@[A-Za-z0-9.-]+", re.IGNORECASE)


REPLY = TokenAddress("reply")


@lru_cache(maxsize=8)
def _verp(prefix: str) -> TokenAddress:
    return TokenAddress(prefix)


def verp() -> TokenAddress:
    """The VERP return path address kind (its tag is a setting, so it is looked up each time)."""
    return _verp(settings.BOUNCE_ADDRESS_PREFIX)


def return_path(token: str) -> str:
    """The envelope sender (MAIL FROM, Return-Path) of the mail with this token."""
    return verp().address(token)


def set_return_path(message: EmailMessage, token: str) -> None:
    """VERP for a Django message: its envelope sender becomes our return path, its From stays.

    Django's SMTP backend (and the local mailbox) take the envelope sender from ``from_email``
    and the From header from ``extra_headers["From"]`` when there is one. An ESP keeps its own
    return path (its bounce domain; bounces come back as tracking webhooks), so with an ESP
    nothing changes.
    """
    if settings.EMAIL_DELIVERY == "esp":
        return
    message.extra_headers.setdefault("From", message.from_email)
    message.from_email = return_path(token)
