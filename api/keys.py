"""API keys: making one (the only time its secret is seen), checking one, revoking one.

A key reads `rb_<prefix>_<secret>`: the prefix (8 characters) is stored in the clear to tell
keys apart in the list and to find the row; the whole key is compared by its SHA-256.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.contrib.auth.models import AbstractBaseUser
from django.utils import timezone

from api.models import ApiKey, ApiWrite, Scope

KEY_START = "rb_"
LAST_USE_PRECISION = timedelta(minutes=1)  # last use is written at most once a minute per key


@dataclass(frozen=True)
class NewKey:
    key: ApiKey
    secret: str  # the whole key, shown once


def _hash(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


def create_key(
    *,
    name: str,
    scopes: Sequence[str],
    created_by: AbstractBaseUser | None,
    expires_at: datetime | None = None,
    rate_limit_per_minute: int = 120,
) -> NewKey:
    unknown = sorted(set(scopes) - set(Scope.values))
    if unknown:
        raise ValueError(f"unknown scopes: {', '.join(unknown)}")
    if rate_limit_per_minute < 1:
        raise ValueError("the rate limit must be at least one request per minute")
    prefix = secrets.token_hex(4)
    raw = f"{KEY_START}{prefix}_{secrets.token_urlsafe(32)}"
    key = ApiKey.objects.create(
        name=name.strip(),
        prefix=prefix,
        secret_hash=_hash(raw),
        scopes=sorted(set(scopes)),
        created_by=created_by,
        expires_at=expires_at,
        rate_limit_per_minute=rate_limit_per_minute,
    )
    return NewKey(key=key, secret=raw)


def revoke_key(*, key: ApiKey) -> None:
    if key.revoked_at is None:
        ApiKey.objects.filter(pk=key.pk, revoked_at__isnull=True).update(revoked_at=timezone.now())
        key.refresh_from_db()


def usable_key(raw: str) -> ApiKey | None:
    """The key this secret belongs to, if it is neither revoked nor expired (else None)."""
    if not raw.startswith(KEY_START):
        return None
    prefix = raw[len(KEY_START) :].partition("_")[0]
    key = ApiKey.objects.filter(prefix=prefix).select_related("created_by").first()
    if key is None or not hmac.compare_digest(key.secret_hash, _hash(raw)):
        return None
    now = timezone.now()
    if key.revoked_at is not None or (key.expires_at is not None and key.expires_at <= now):
        return None
    if key.last_used_at is None or key.last_used_at < now - LAST_USE_PRECISION:
        ApiKey.objects.filter(pk=key.pk).update(last_used_at=now)
        key.last_used_at = now
    return key


def record_write(*, key: ApiKey, method: str, path: str, status_code: int, ip: str | None) -> ApiWrite:
    return ApiWrite.objects.create(
        key=key, method=method, path=path[:500], status_code=status_code, ip_address=ip or None
    )
