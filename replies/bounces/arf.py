"""RFC 5965 Abuse Reporting Format (feedback loops): a spam complaint about one of our mails.

Recognised by its ``message/feedback-report`` part (with or without
``report-type=feedback-report`` on the outer Content-Type). The complaining recipient is the
report's ``Original-Rcpt-To``, else the ``To`` of the returned original; many providers redact
both, and then only the returned original's Message-ID or reply token names the delivery.
"""

from __future__ import annotations

from email.message import Message

from replies.bounces.addresses import AddressFilter
from replies.bounces.parts import field_blocks, originals, own_parts
from replies.bounces.report import Failure
from replies.bounces.vocabulary import Reason
from replies.parsing import addresses as header_addresses
from replies.parsing import safe_header_all


def feedback_parts(message: Message) -> list[Message]:
    return [part for part in own_parts(message) if part.get_content_type() == "message/feedback-report"]


def read_arf(message: Message, addresses: AddressFilter) -> tuple[bool, str, list[Failure]]:
    """(is an ARF report, its Feedback-Type, the complaining recipients)."""
    parts = feedback_parts(message)
    if not parts:
        return False, "", []
    feedback_type = ""
    candidates: list[str] = []
    for part in parts:
        for block in field_blocks(part):
            feedback_type = feedback_type or str(block.get("Feedback-Type") or "").strip().lower()
            candidates += [str(v) for v in block.get_all("Original-Rcpt-To") or []]
            candidates += [str(v) for v in block.get_all("Removal-Recipient") or []]
    if not candidates:
        for original in originals(message):
            candidates += header_addresses(safe_header_all(original, "To"))
    failures = []
    for candidate in candidates:
        address = addresses.keep(candidate)
        if address and address not in [f.address for f in failures]:
            failures.append(
                Failure(
                    address=address,
                    permanent=True,
                    reason=Reason.SPAM_REJECTED,
                    diagnostic=f"Feedback-Type: {feedback_type or 'abuse'}",
                    field="Original-Rcpt-To",
                )
            )
    return True, feedback_type or "abuse", failures
