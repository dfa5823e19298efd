"""Our token addresses: <tag>+<token>@REPLY_DOMAIN, one random token per mail.

Today one kind: ``REPLY`` (reply+<token>@REPLY_DOMAIN), the Reply-To of every campaign mail
and staff answer, so an answer finds its delivery or conversation without any guessing. A
VERP return path is the same shape with another tag (``TokenAddress("bounces")``): a DSN
sent to it names its delivery by the token alone.

The token is random (not derived from ids), so it cannot be guessed, and lowercase hex,
because some MTAs fold the case of local parts.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from functools import cached_property

from django.conf import settings

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
