"""Per-recipient reply addresses: reply+<token>@REPLY_DOMAIN.

The token is random (not derived from ids), so it cannot be guessed, and lowercase hex,
because some MTAs fold the case of local parts.
"""

from __future__ import annotations

import re
import secrets

from django.conf import settings

TOKEN_BYTES = 16
_ADDRESS = re.compile(r"^reply\+(?P<token>[0-9a-f]{32})@(?P<domain>.+)$", re.IGNORECASE)


def new_reply_token() -> str:
    return secrets.token_hex(TOKEN_BYTES)


def reply_address(token: str) -> str:
    return f"reply+{token}@{settings.REPLY_DOMAIN}"


def token_from_address(address: str) -> str | None:
    """The token of one of our reply addresses, or None for any other address."""
    match = _ADDRESS.match(address.strip().strip("<>"))
    if not match or match["domain"].lower() != settings.REPLY_DOMAIN.lower():
        return None
    return match["token"].lower()
