"""The one rule for reply and forward prefixes in subjects ("Re:", "AW:", "Fwd:", "WG:" ...).

Used wherever a subject is compared or answered: threading by subject, the automatic-subject
and unsubscribe checks, the subject of a staff answer, and the local mailbox's "reply as the
subscriber".
"""

from __future__ import annotations

import re

# Reply prefixes of common mail programs and languages: Re, AW (Antwort), Antw, SV/VS
# (Nordic), Réf, Rif. Forward prefixes: Fwd/Fw, WG (Weitergeleitet), TR (transférer), Wtr, Enc.
REPLY_PREFIXES = ("re", "aw", "antw", "sv", "vs", "r[ée]f", "rif")
FORWARD_PREFIXES = ("fwd?", "wg", "tr", "wtr", "enc")
# An optional counter ("Re[2]:", "Re(2):", "Re^2:"), then the colon.
_COUNTER = r"\s*(?:\[\d+\]|\(\d+\)|\^\d+)?\s*:\s*"
_ANY_PREFIX = re.compile(rf"^\s*(?:{'|'.join(REPLY_PREFIXES + FORWARD_PREFIXES)}){_COUNTER}", re.I)
_REPLY_PREFIX = re.compile(rf"^\s*(?:{'|'.join(REPLY_PREFIXES)}){_COUNTER}", re.I)


def strip_prefixes(subject: str) -> str:
    """The subject without its leading reply/forward prefixes, however many ("Re: AW: Fwd: x" -> "x")."""
    text = subject
    while True:
        stripped = _ANY_PREFIX.sub("", text, count=1)
        if stripped == text:
            return text.strip()
        text = stripped


def normalise_subject(subject: str) -> str:
    """For comparing: prefixes stripped, case-folded, whitespace collapsed."""
    return strip_prefixes(" ".join(subject.split())).casefold().strip()


def reply_subject(subject: str) -> str:
    """The subject of an answer: as it is if it already starts with a reply prefix, else "Re: " before it."""
    subject = subject.strip()
    return subject if _REPLY_PREFIX.match(subject) else f"Re: {subject}"
