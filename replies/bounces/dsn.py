"""A strict reader of RFC 3464 delivery status notifications.

Every ``message/delivery-status`` part of the bounce itself is read, whatever the outer
Content-Type says (many MTAs omit ``report-type=delivery-status`` or send multipart/mixed),
but never one inside the returned original (a double bounce carries the earlier report).
Per recipient block: ``Original-Recipient`` is preferred to ``Final-Recipient`` (the former is
the address we sent to, the latter may be a forwarding target), ``Action`` and ``Status``
(RFC 3463) decide temporary vs permanent, ``Diagnostic-Code`` is kept as said.
"""

from __future__ import annotations

from email.message import Message

from replies.bounces.addresses import AddressFilter
from replies.bounces.parts import field_blocks, own_parts
from replies.bounces.report import Failure
from replies.bounces.vocabulary import classify, is_permanent, parse_status

_NOT_FAILURES = {"delivered", "relayed", "expanded"}


def _field(block: Message, name: str) -> str:
    try:
        value = block.get(name)
    except Exception:  # noqa: BLE001 - a malformed field is as good as a missing one
        return ""
    return " ".join(str(value or "").split())


def delivery_status_parts(message: Message) -> list[Message]:
    return [
        part
        for part in own_parts(message)
        if part.get_content_type() in ("message/delivery-status", "message/global-delivery-status")
    ]


def read_dsn(message: Message, addresses: AddressFilter) -> tuple[bool, list[Failure]]:
    """(found a delivery-status part, the failed or delayed recipients in it)."""
    parts = delivery_status_parts(message)
    failures: list[Failure] = []
    for part in parts:
        for block in field_blocks(part):
            original, final = _field(block, "Original-Recipient"), _field(block, "Final-Recipient")
            if not original and not final:
                continue
            action = _field(block, "Action").lower()
            action = {"failure": "failed", "delay": "delayed"}.get(action, action)
            if action in _NOT_FAILURES:
                continue
            diagnostic = _field(block, "Diagnostic-Code")
            status = parse_status(_field(block, "Status"))
            if status.startswith("2"):
                continue  # a success notice for this recipient
            if not status:
                status = parse_status(diagnostic)
            address, source = addresses.keep(original), "Original-Recipient"
            if not address:
                address, source = addresses.keep(final), "Final-Recipient"
            if not address:
                continue
            reason = classify(status, diagnostic)
            failures.append(
                Failure(
                    address=address,
                    permanent=is_permanent(
                        action=action, status=status, diagnostic=diagnostic, reason=reason
                    ),
                    reason=reason,
                    status=status,
                    action=action,
                    diagnostic=diagnostic[:1000],
                    field=source,
                )
            )
    return bool(parts), _dedupe(failures)


def _dedupe(failures: list[Failure]) -> list[Failure]:
    """One failure per address; a permanent one wins over a temporary one for the same address."""
    by_address: dict[str, Failure] = {}
    for failure in failures:
        known = by_address.get(failure.address)
        if known is None or (failure.permanent and not known.permanent):
            by_address[failure.address] = failure
    return list(by_address.values())
