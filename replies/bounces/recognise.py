"""Rundbrief's own rule, for the one case no library covers: a bounce that no reader could get a
recipient from (a DSN without recipient blocks, a mail system's free-text notice naming only a
local part, "Exceeded maximum delivery attempts" ...). Recognised by who sent it (a mail
system account or the null sender) together with a bounce subject, so it is filed as a bounce,
not as a human conversation, and suppresses nothing.
"""

from __future__ import annotations

import re

BOUNCE_SENDERS = re.compile(
    r"^(mailer-daemon|mail-daemon|maildaemon|postmaster|mail\.delivery\.system|mdaemon|maildelivery"
    r"|mail-delivery|bounces?|double-bounce|nobody|ndr|mailadmin|mail_delivery_system)([@+]|$)",
    re.I,
)
BOUNCE_NAMES = re.compile(
    r"mail delivery (system|subsystem)|mailer.daemon|postmaster|delivery (system|service)", re.I
)
BOUNCE_SUBJECTS = re.compile(
    r"(undeliver(ed|able)|returned mail|return(ing)? message to sender"
    r"|mail delivery (failed|failure|subsystem)"
    r"|delivery status notification|delivery (has )?failed|delivery failure|delivery report|failure notice"
    r"|mail (could )?not (be )?delivered|message (could )?not (be )?delivered|not delivered|delivery problem"
    r"|mail error|unzustellbar|nicht zustellbar|unzustellbare nachricht|fehler bei der (e-?mail-)?zustellung"
    r"|zustellung fehlgeschlagen|non[- ]?delivery|\bndn\b|delivery notification"
    r"|mail system error|warning: could not"
    r"|delayed mail|delivery (delayed|delay|warning)|nondeliverable"
    r"|can't deliver|cannot deliver|could not send)",
    re.I,
)
DELAY_SUBJECTS = re.compile(r"(delayed|delay|warning|will (be )?retr|verzögert|still trying)", re.I)


def from_mail_system(from_address: str, from_name: str, envelope_from: str) -> bool:
    if envelope_from.strip() == "<>":
        return True
    local = (from_address or "").split("@", 1)[0]
    return bool(BOUNCE_SENDERS.match(local or "")) or (
        not from_address and bool(BOUNCE_NAMES.search(from_name))
    )


def looks_like_bounce(*, subject: str, from_address: str, from_name: str, envelope_from: str) -> bool:
    return bool(BOUNCE_SUBJECTS.search(subject or "")) and (
        from_mail_system(from_address, from_name, envelope_from)
        or bool(BOUNCE_NAMES.search(from_name or ""))
        or not from_address
    )


def says_delay(subject: str) -> bool:
    return bool(DELAY_SUBJECTS.search(subject or ""))
