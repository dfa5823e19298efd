"""Non-standard bounces (Exim, qmail, Postfix without a DSN, Exchange, Yahoo, GroupWise, ...)
read by flufl.bounce, GNU Mailman's bounce detectors.

``all_failures`` gives the temporary and permanent failures, as the first detector that found
anything sees them. The diagnostic near each address in the bounce's own text gives the status
code and reason (replies.bounces.vocabulary); a full mailbox or an expiry is temporary even
where a detector files it as permanent.
"""

from __future__ import annotations

import logging
import re
from email.message import Message

from flufl.bounce import all_failures

from replies.bounces.addresses import AddressFilter
from replies.bounces.report import Failure
from replies.bounces.vocabulary import ALWAYS_TEMPORARY, classify, parse_status, smtp_class

logger = logging.getLogger(__name__)

_WINDOW = 600


def _diagnostic_near(text: str, address: str) -> str:
    """The words after the address in the bounce's text (where MTAs put the reason), else the text."""
    at = text.lower().find(address.lower())
    if at < 0:
        return " ".join(text.split())[:_WINDOW]
    window = text[max(0, at - 80) : at + len(address) + _WINDOW]
    return " ".join(window.split())


def read_detectors(message: Message, text: str, addresses: AddressFilter) -> list[Failure]:
    try:
        temporary, permanent = all_failures(message)
    except Exception:  # noqa: BLE001 - a detector choking on odd mail must not cost us the message
        logger.warning("flufl.bounce could not read a message", exc_info=True)
        return []
    failures: dict[str, Failure] = {}
    for raw, verdict in [(a, False) for a in temporary] + [(a, True) for a in permanent]:
        value = raw.decode("ascii", "replace") if isinstance(raw, bytes) else str(raw)
        address = addresses.keep(value)
        if not address:
            continue
        diagnostic = _diagnostic_near(text, address)
        status = parse_status(diagnostic)
        reason = classify(status, diagnostic)
        if reason in ALWAYS_TEMPORARY:
            is_permanent = False
        elif status:
            is_permanent = status.startswith("5") if verdict else False
        else:
            klass = _smtp_class_in(diagnostic)
            is_permanent = verdict and klass != "4"
        known = failures.get(address)
        if known is None or (is_permanent and not known.permanent):
            failures[address] = Failure(
                address=address,
                permanent=is_permanent,
                reason=reason,
                status=status,
                action="failed" if verdict else "delayed",
                diagnostic=diagnostic[:1000],
                field="flufl.bounce",
            )
    return sorted(failures.values(), key=lambda f: f.address)


_SMTP_IN_TEXT = re.compile(r"(?<![\d.])([45])\d\d(?=[ -])")


def _smtp_class_in(text: str) -> str:
    match = _SMTP_IN_TEXT.search(text)
    return match.group(1) if match else smtp_class(text)
