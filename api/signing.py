"""Webhook signatures: HMAC-SHA256 over "<timestamp>.<body>", with a replay window.

Header sent with every delivery::

    Rundbrief-Signature: t=1764640000,v1=5257a869e7ecebeda32affa62cdca3fa51cad7e77a0e56ff536d0ce8e108d8bd

A receiver recomputes ``hmac_sha256(secret, f"{t}.".encode() + raw_body)``, compares it in
constant time with each ``v1`` (several while a secret is rotated), refuses a ``t`` further than
the tolerance from its clock, and remembers signatures it accepted until they are outside the
window (so the same request sent again is refused). ``verify`` does all but the remembering.
"""

from __future__ import annotations

import hashlib
import hmac
import time

HEADER = "Rundbrief-Signature"
DEFAULT_TOLERANCE_SECONDS = 300


class SignatureError(Exception):
    """The signature is missing, malformed, wrong, or outside the replay window."""


def sign(secret: str, body: bytes, *, timestamp: int | None = None) -> str:
    stamp = int(time.time()) if timestamp is None else timestamp
    digest = hmac.new(secret.encode(), f"{stamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={stamp},v1={digest}"


def verify(
    secret: str,
    header: str,
    body: bytes,
    *,
    tolerance: int = DEFAULT_TOLERANCE_SECONDS,
    now: float | None = None,
) -> int:
    """The signed timestamp if the header is a valid signature of body made within tolerance."""
    parts: dict[str, list[str]] = {}
    for item in header.split(","):
        name, sep, value = item.strip().partition("=")
        if sep:
            parts.setdefault(name, []).append(value)
    try:
        stamp = int(parts["t"][0])
    except (KeyError, ValueError) as exc:
        raise SignatureError("no timestamp") from exc
    expected = hmac.new(secret.encode(), f"{stamp}.".encode() + body, hashlib.sha256).hexdigest()
    if not any(hmac.compare_digest(expected, candidate) for candidate in parts.get("v1", [])):
        raise SignatureError("signature does not match")
    if abs((time.time() if now is None else now) - stamp) > tolerance:
        raise SignatureError("timestamp outside the replay window")
    return stamp
