"""ESP notifications that arrive by mail as JSON: Amazon SES, directly or through an SNS e-mail
subscription ({"Type": "Notification", "Message": "<the SES event as JSON>"}).

SES decides temporary vs permanent itself (``bounceType``: Permanent, Transient,
Undetermined); its sub-types map onto our reason vocabulary.
"""

from __future__ import annotations

import json
import re

from replies.bounces.addresses import AddressFilter
from replies.bounces.report import BOUNCE, COMPLAINT, Failure
from replies.bounces.vocabulary import Reason, classify, parse_status

_SUBTYPES = {
    "noemail": Reason.USER_UNKNOWN,
    "suppressed": Reason.USER_UNKNOWN,
    "onaccountsuppressionlist": Reason.USER_UNKNOWN,
    "mailboxfull": Reason.MAILBOX_FULL,
    "messagetoolarge": Reason.MESSAGE_TOO_BIG,
    "contentrejected": Reason.SPAM_REJECTED,
    "attachmentrejected": Reason.BLOCKED_POLICY,
}
_JSON_START = re.compile(r"\{")


def _load(text: str) -> dict | None:
    start = _JSON_START.search(text or "")
    if not start:
        return None
    try:
        data, _ = json.JSONDecoder().raw_decode(text[start.start() :])
    except ValueError:
        return None
    if not isinstance(data, dict):
        return None
    if data.get("Type") == "Notification" and isinstance(data.get("Message"), str):
        try:
            inner = json.loads(data["Message"])
        except ValueError:
            return None
        return inner if isinstance(inner, dict) else None
    return data


def read_ses(text: str, addresses: AddressFilter) -> dict | None:
    """{kind, failures, permanent, message_ids, esp_message_ids, feedback_type} or None."""
    data = _load(text)
    if data is None:
        return None
    kind = str(data.get("notificationType") or data.get("eventType") or "")
    mail = data.get("mail") if isinstance(data.get("mail"), dict) else {}
    message_ids = []
    common = mail.get("commonHeaders") if isinstance(mail.get("commonHeaders"), dict) else {}
    if common.get("messageId"):
        message_ids.append(str(common["messageId"]))
    for header in mail.get("headers") or []:
        if isinstance(header, dict) and str(header.get("name", "")).lower() == "message-id":
            message_ids.append(str(header.get("value", "")))
    esp_ids = [str(mail["messageId"])] if mail.get("messageId") else []
    if kind == "Bounce" and isinstance(data.get("bounce"), dict):
        bounce = data["bounce"]
        bounce_type = str(bounce.get("bounceType") or "")
        sub_reason = _SUBTYPES.get(str(bounce.get("bounceSubType") or "").lower())
        failures = []
        for item in bounce.get("bouncedRecipients") or []:
            if not isinstance(item, dict):
                continue
            address = addresses.keep(str(item.get("emailAddress") or ""))
            if not address:
                continue
            diagnostic = str(item.get("diagnosticCode") or "")
            status = parse_status(str(item.get("status") or "")) or parse_status(diagnostic)
            reason = sub_reason or classify(status, diagnostic)
            permanent = bounce_type == "Permanent" and reason not in (
                Reason.MAILBOX_FULL,
                Reason.MESSAGE_TOO_BIG,
            )
            failures.append(
                Failure(
                    address=address,
                    permanent=permanent,
                    reason=reason,
                    status=status,
                    action=str(item.get("action") or "").lower(),
                    diagnostic=diagnostic[:1000],
                    field="bouncedRecipients",
                )
            )
        return {
            "kind": BOUNCE,
            "failures": failures,
            "permanent": bounce_type == "Permanent",
            "message_ids": message_ids,
            "esp_message_ids": esp_ids,
            "feedback_type": "",
        }
    if kind == "Complaint" and isinstance(data.get("complaint"), dict):
        complaint = data["complaint"]
        feedback_type = str(complaint.get("complaintFeedbackType") or "abuse")
        failures = []
        for item in complaint.get("complainedRecipients") or []:
            address = addresses.keep(str(item.get("emailAddress") or "")) if isinstance(item, dict) else ""
            if address:
                failures.append(
                    Failure(
                        address=address,
                        permanent=True,
                        reason=Reason.SPAM_REJECTED,
                        diagnostic=f"complaintFeedbackType: {feedback_type}",
                        field="complainedRecipients",
                    )
                )
        return {
            "kind": COMPLAINT,
            "failures": failures,
            "permanent": True,
            "message_ids": message_ids,
            "esp_message_ids": esp_ids,
            "feedback_type": feedback_type,
        }
    return None
