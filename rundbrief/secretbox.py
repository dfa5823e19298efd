"""Secrets the application must read back (e.g. an IMAP password), encrypted at rest.

Fernet (AES-128-CBC + HMAC-SHA256, from `cryptography`) with a key derived from SECRET_KEY,
so a database dump or backup alone does not reveal them. The old keys in
SECRET_KEY_FALLBACKS still decrypt, so SECRET_KEY can be rotated; a value encrypted under a
key that is gone cannot be read and must be entered again (`SecretUnreadable`).
"""

from __future__ import annotations

import base64
import hashlib
from typing import TYPE_CHECKING

from django.conf import settings

if TYPE_CHECKING:
    from cryptography.fernet import Fernet, MultiFernet

_PURPOSE = b"rundbrief.secretbox.v1"


class SecretUnreadable(Exception):
    """The stored value was encrypted under a key that is no longer configured (or is damaged)."""


def _fernet(secret: str) -> Fernet:
    # Imported here, when a secret is read or written: every process loads the models that store
    # one, and cryptography would cost every worker process ~8 MB (issue 17).
    from cryptography.fernet import Fernet

    digest = hashlib.sha256(_PURPOSE + b"\0" + secret.encode()).digest()
    return Fernet(base64.urlsafe_b64encode(digest))


def _box() -> MultiFernet:
    from cryptography.fernet import MultiFernet  # imported when needed, as in _fernet

    keys = [settings.SECRET_KEY, *getattr(settings, "SECRET_KEY_FALLBACKS", [])]
    return MultiFernet([_fernet(key) for key in keys])


def encrypt(plain: str) -> str:
    return _box().encrypt(plain.encode()).decode("ascii")


def decrypt(token: str) -> str:
    from cryptography.fernet import InvalidToken  # imported when needed, as in _fernet

    try:
        return _box().decrypt(token.encode("ascii")).decode()
    except (InvalidToken, ValueError) as exc:
        raise SecretUnreadable(
            "The stored secret cannot be decrypted with SECRET_KEY (or SECRET_KEY_FALLBACKS)."
        ) from exc
