"""Masking quotes for the dialogue report: names, addresses, phone numbers, mail addresses and links
become placeholders, so a marketer reads what subscribers say, not who they are."""

from __future__ import annotations

import re
from collections.abc import Iterable

MASK = "▒▒▒"
_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
_URL = re.compile(r"https?://\S+|www\.\S+", re.IGNORECASE)
_PHONE = re.compile(r"(?<![\w])(?:\+|00)?\d[\d ()/.-]{5,}\d")
_STREET = re.compile(
    r"\b[\wäöüÄÖÜß.-]+(?:straße|strasse|str\.|weg|allee|platz|gasse|ring|damm|ufer|street|road|avenue|lane)"
    r"\s*\d+\s*[a-z]?\b",
    re.IGNORECASE,
)
_POSTCODE_TOWN = re.compile(r"\b\d{5}\s+[A-ZÄÖÜ][\wäöüß-]+")
# A name after a greeting or a sign-off: "Viele Grüße, Karla", "Best, Ben Sample".
_SIGN_OFF = re.compile(
    r"(?P<lead>\b(?:grüße|gruß|gruss|grüsse|dank|danke|cheers|regards|best|thanks|ich bin|my name is|"
    r"ich heiße|hallo|hello|hi|liebe|lieber|dear)\b[ ,!.\n]*)"
    r"(?P<name>[A-ZÄÖÜ][\wäöüß-]+(?:\s+[A-ZÄÖÜ][\wäöüß-]+)?)",
    re.IGNORECASE,
)


def mask(text: str, *, names: Iterable[str] = ()) -> str:
    """The text with personal details replaced by MASK (known names first, then patterns)."""
    for pattern in (_EMAIL, _URL, _STREET, _POSTCODE_TOWN, _PHONE):
        text = pattern.sub(MASK, text)
    for name in sorted({n for full in names for n in full.split() if len(n) > 1}, key=len, reverse=True):
        text = re.sub(rf"\b{re.escape(name)}\b", MASK, text, flags=re.IGNORECASE)
    return _SIGN_OFF.sub(lambda m: m["lead"] + (MASK if m["name"][0].isupper() else m["name"]), text)
