"""Reading bounces and complaints: which recipients failed, why, and whether for good.

``read(mail)`` answers with a ``Report`` or None (not a bounce or complaint). In order:

  1. RFC 5965 ARF feedback reports (replies.bounces.arf): complaints
  2. RFC 3464 delivery status parts, strictly (replies.bounces.dsn)
  3. Amazon SES notifications by mail, JSON, also inside SNS (replies.bounces.esp)
  4. flufl.bounce's detectors, for non-standard formats (replies.bounces.detectors), then
     Exchange's plain-text report, which no detector knows (replies.bounces.exchange)
  5. a DSN without readable recipients, or a mail system's notice no detector could read
     (replies.bounces.recognise): a bounce without failures, which suppresses nothing

Addresses pass replies.bounces.addresses (valid, not ours, not the bounce's own sender or
recipients); the reason vocabulary and the temporary/permanent rule are in
replies.bounces.vocabulary. Who is suppressed is decided elsewhere (the bounce handler and
subscribers.services.bounces), only for the recipient of the delivery the bounce is about or a
known subscriber.
"""

from __future__ import annotations

from dataclasses import replace

from replies.bounces.addresses import AddressFilter
from replies.bounces.arf import read_arf
from replies.bounces.detectors import read_detectors
from replies.bounces.dsn import delivery_status_parts, read_dsn
from replies.bounces.esp import read_ses
from replies.bounces.exchange import read_exchange_text
from replies.bounces.parts import field_blocks, original_message_ids, original_text, own_text
from replies.bounces.recognise import BOUNCE_SUBJECTS, from_mail_system, looks_like_bounce, says_delay
from replies.bounces.report import BOUNCE, COMPLAINT, Failure, Report
from replies.bounces.vocabulary import Reason, classify, is_permanent, parse_status
from replies.parsing import ParsedMail, safe_header, safe_header_all
from rundbrief.mail.subjects import strip_prefixes

__all__ = ["BOUNCE", "COMPLAINT", "Failure", "Reason", "Report", "read"]


def _own_addresses(mail: ParsedMail, envelope_from: str) -> list[str]:
    """Where the bounce came from and went to: never the failed recipient."""
    found = list(mail.recipients) + [mail.from_address, envelope_from]
    for name in ("Return-Path", "Sender", "Errors-To", "Reply-To"):
        found += safe_header_all(mail.message, name)
    return found


def _summary(kind: str, evidence: str, failures: list[Failure], **extra) -> Report:
    """The report of these failures; ``permanent``/``reason``/``status``/``diagnostic`` in ``extra``
    only stand in when there is no failure to take them from."""
    keys = ("permanent", "reason", "status", "diagnostic")
    fallback = {key: extra.pop(key) for key in keys if key in extra}
    main = next((f for f in failures if f.permanent), failures[0] if failures else None)
    return Report(
        kind=kind,
        evidence=evidence,
        failures=tuple(failures),
        permanent=any(f.permanent for f in failures) if failures else fallback.get("permanent", False),
        reason=main.reason if main else fallback.get("reason", Reason.OTHER),
        status=main.status if main else fallback.get("status", ""),
        diagnostic=main.diagnostic if main else fallback.get("diagnostic", ""),
        **extra,
    )


def _without_recipients(mail: ParsedMail, text: str, evidence: str) -> Report:
    """A bounce nobody could read a recipient from: reason and permanence from the report's own fields."""
    action, status, diagnostic = "", "", ""
    for part in delivery_status_parts(mail.message):
        for block in field_blocks(part):
            action = action or str(block.get("Action") or "").strip().lower()
            status = status or parse_status(str(block.get("Status") or ""))
            diagnostic = diagnostic or " ".join(str(block.get("Diagnostic-Code") or "").split())
    diagnostic = diagnostic or " ".join(text.split())[:1000]
    status = status or parse_status(diagnostic)
    if not action and says_delay(mail.subject):
        action = "delayed"
    reason = classify(status, diagnostic)
    permanent = is_permanent(action=action, status=status, diagnostic="", reason=reason)
    return Report(
        kind=BOUNCE,
        evidence=evidence,
        permanent=permanent,
        reason=reason,
        status=status,
        diagnostic=diagnostic[:1000],
        message_ids=original_message_ids(mail.message),
    )


def read(mail: ParsedMail, *, envelope_from: str = "") -> Report | None:
    report = _read(mail, envelope_from)
    if report is None:
        return None
    return replace(report, original=original_text(mail.message))


def _read(mail: ParsedMail, envelope_from: str) -> Report | None:
    message = mail.message
    addresses = AddressFilter(_own_addresses(mail, envelope_from))
    message_ids = original_message_ids(message)

    is_arf, feedback_type, complaints = read_arf(message, addresses)
    if is_arf:
        return Report(
            kind=COMPLAINT,
            evidence="arf",
            failures=tuple(complaints),
            permanent=True,
            reason=Reason.SPAM_REJECTED,
            message_ids=message_ids,
            feedback_type=feedback_type,
        )

    has_dsn, failures = read_dsn(message, addresses)
    if failures:
        return _summary(BOUNCE, "rfc3464", failures, message_ids=message_ids)

    if "notificationType" in mail.text or "eventType" in mail.text:  # also inside SNS's escaped JSON
        ses = read_ses(mail.text, addresses)
        if ses is not None:
            return _summary(
                ses["kind"],
                "amazon_ses",
                ses["failures"],
                permanent=ses["permanent"],
                message_ids=tuple(dict.fromkeys([*message_ids, *ses["message_ids"]])),
                esp_message_ids=tuple(ses["esp_message_ids"]),
                feedback_type=ses["feedback_type"],
            )

    automatic = has_dsn or _is_automatic(mail, envelope_from)
    if automatic:
        text = own_text(message)  # only for automatic mail: a person's big mail is not decoded twice
        failures = read_detectors(message, text, addresses)
        if failures:
            return _summary(BOUNCE, "flufl.bounce", failures, message_ids=message_ids)
        failures = read_exchange_text(text, addresses)
        if failures:
            return _summary(BOUNCE, "exchange_ndr", failures, message_ids=message_ids)
    if (
        has_dsn
        or message.get_content_type() == "multipart/report"
        and _report_type(mail) == "delivery-status"
    ):
        return _without_recipients(mail, own_text(message), "rfc3464")
    if looks_like_bounce(
        subject=mail.subject,
        from_address=mail.from_address,
        from_name=mail.from_name,
        envelope_from=envelope_from,
    ):
        return _without_recipients(mail, own_text(message), "bounce_headers")
    return None


def _report_type(mail: ParsedMail) -> str:
    try:
        return str(mail.message.get_param("report-type") or "").lower()
    except Exception:  # noqa: BLE001
        return ""


def _is_automatic(mail: ParsedMail, envelope_from: str) -> bool:
    """Worth running the detectors on: sent by a mail system, with a bounce subject, or automatic.

    flufl.bounce's detectors were written for mail to a bounce address; on a person's reply a
    loose pattern could take a quoted address for a failure, so they only see mail that is
    automatic by its sender, subject or headers (a person forwarding a bounce to us, "Fwd:
    Undeliverable: ...", from their own address, stays a human mail).
    """
    if from_mail_system(mail.from_address, mail.from_name, envelope_from):
        return True
    if looks_like_bounce(
        subject=mail.subject,
        from_address=mail.from_address,
        from_name=mail.from_name,
        envelope_from=envelope_from,
    ):
        return True
    subject = mail.subject or ""
    if BOUNCE_SUBJECTS.search(subject) and strip_prefixes(subject) == subject.strip():
        return True  # a bounce subject, not a person's "Re:"/"Fwd:" of one
    for header in ("Auto-Submitted", "X-Autogenerated", "X-Failed-Recipients"):
        value = safe_header(mail.message, header).lower()
        if value and value != "no":
            return True
    return False
