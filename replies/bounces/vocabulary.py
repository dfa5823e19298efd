"""The reason vocabulary of a bounce, and how a reason and a status code decide temporary vs permanent.

A small set, as mature bounce classifiers keep one (Sisimai's reasons, the ESPs' bounce
sub-types), so the inbox, the subscriber's page and the campaign's failures can say *why* a
mail came back, in the reader's language:

  user_unknown      the mailbox does not exist (X.1.1, X.1.0, X.1.3, X.1.6, X.1.10, X.2.1)
  host_unknown      the domain does not exist or has no mail server (X.1.2, X.4.4)
  mailbox_full      over quota (X.2.2, X.3.1)                              always temporary
  message_too_big   over the receiver's size limit (X.2.3, X.3.4)          always temporary
  blocked_policy    refused by policy: reputation, DMARC, sender blocked (X.7.x)
  spam_rejected     refused as spam (X.7.1 with a spam diagnostic)
  expired           delivery given up after retrying (X.4.7)               always temporary
  network_system    network or system errors, too many connections (X.4.1-X.4.6, X.3.x, X.5.x)
                                                                           always temporary
  relaying_denied   the receiving server would not relay (X.7.1 "relay")    always temporary
  other             anything else

Permanent vs temporary comes from evidence only: ``Action: delayed`` or a 4.X.X status is
temporary; a 5.X.X status, ``Action: failed`` or a detector's "permanent" verdict is
permanent, except for the reasons marked "always temporary" above (a full mailbox or an expiry
is no proof the address is gone). No evidence at all is never read as permanent.

The diagnostic text patterns below are Rundbrief's own: no library we use maps free-text SMTP
diagnostics to reasons (flufl.bounce only finds addresses). They refine a missing or generic
status code (X.0.0) and tell spam and relaying apart within X.7.x.
"""

from __future__ import annotations

import re
from enum import StrEnum


class Reason(StrEnum):
    USER_UNKNOWN = "user_unknown"
    HOST_UNKNOWN = "host_unknown"
    MAILBOX_FULL = "mailbox_full"
    MESSAGE_TOO_BIG = "message_too_big"
    BLOCKED_POLICY = "blocked_policy"
    SPAM_REJECTED = "spam_rejected"
    EXPIRED = "expired"
    NETWORK_SYSTEM = "network_system"
    RELAYING_DENIED = "relaying_denied"
    OTHER = "other"


ALWAYS_TEMPORARY = frozenset(
    {
        Reason.MAILBOX_FULL,
        Reason.MESSAGE_TOO_BIG,
        Reason.EXPIRED,
        Reason.NETWORK_SYSTEM,
        Reason.RELAYING_DENIED,
    }
)

# With no status code and no Action, these reasons are themselves the evidence of a permanent failure.
PERMANENT_BY_NATURE = frozenset({Reason.USER_UNKNOWN, Reason.HOST_UNKNOWN})

_STATUS = re.compile(r"(?<![\d.])([245])\.(\d{1,3})\.(\d{1,3})(?![\d.])")
_SMTP_REPLY = re.compile(r"(?<![\d.\-])([45])(\d)(\d)(?:[ \-]|$)")

_BY_CODE: dict[tuple[str, str], Reason] = {
    ("1", "0"): Reason.USER_UNKNOWN,
    ("1", "1"): Reason.USER_UNKNOWN,
    ("1", "3"): Reason.USER_UNKNOWN,
    ("1", "6"): Reason.USER_UNKNOWN,
    ("1", "10"): Reason.USER_UNKNOWN,
    ("2", "1"): Reason.USER_UNKNOWN,
    ("1", "2"): Reason.HOST_UNKNOWN,
    ("4", "4"): Reason.HOST_UNKNOWN,
    ("2", "2"): Reason.MAILBOX_FULL,
    ("3", "1"): Reason.MAILBOX_FULL,
    ("2", "3"): Reason.MESSAGE_TOO_BIG,
    ("3", "4"): Reason.MESSAGE_TOO_BIG,
    ("4", "7"): Reason.EXPIRED,
}
_BY_SUBJECT: dict[str, Reason] = {
    "3": Reason.NETWORK_SYSTEM,
    "4": Reason.NETWORK_SYSTEM,
    "5": Reason.NETWORK_SYSTEM,
}

# Order matters: the first pattern that matches names the reason.
_TEXT: list[tuple[Reason, re.Pattern[str]]] = [
    (
        Reason.MAILBOX_FULL,
        re.compile(
            r"mailbox (is )?full|over ?quota|quota exceeded|exceeded (the |his |her )?(storage|quota)"
            r"|mailbox (size|space) (limit )?(exceeded|not enough)"
            r"|box space not enough|insufficient (disk )?space"
            r"|mailbox has exceeded|postfach (ist )?voll|speicherplatz|exceeding (their |the )?quota"
            r"|not (have )?enough (storage )?space|mail ?folder is full|too much mail stored",
            re.I,
        ),
    ),
    (
        Reason.USER_UNKNOWN,
        re.compile(
            r"user(name)? (is )?(unknown|not found|doesn'?t exist|does not exist)"
            r"|unknown (user|recipient|local|mailbox)"
            r"|no such (user|mailbox|recipient|address|account)|(mailbox|recipient|address|account)"
            r" (is )?(unavailable|not found|unknown|does not exist|doesn'?t exist|disabled|inactive|invalid)"
            r"|invalid (recipient|mailbox|address)|not a valid (user|mailbox|recipient)|user not listed"
            r"|recipient rejected|no mailbox|unrouteable address|address rejected|unbekannt|gibt es nicht"
            r"|existiert nicht|account (has been )?(disabled|suspended|closed"
            r"|deactivated)|no longer (active|valid)"
            r"|(does not|doesn'?t) have an? [\w.-]* ?account|not a valid user",
            re.I,
        ),
    ),
    (
        Reason.HOST_UNKNOWN,
        re.compile(
            r"host (or domain name )?(not found|unknown)|unknown host"
            r"|domain (not found|does not exist|unknown)"
            r"|no (mx|mail exchanger|such domain)|name or service not known|unrouteable (mail )?domain"
            r"|dns (lookup )?(error|failure)|nxdomain|no route to host",
            re.I,
        ),
    ),
    (
        Reason.MESSAGE_TOO_BIG,
        re.compile(
            r"message (is )?too (big|large)|size (limit )?exceed|exceeds? (the )?(maximum )?(message )?size",
            re.I,
        ),
    ),
    (
        Reason.RELAYING_DENIED,
        re.compile(
            r"relay(ing)? (access )?(denied|not (permitted|allowed))|not permitted to relay|unable to relay",
            re.I,
        ),
    ),
    (
        Reason.SPAM_REJECTED,
        re.compile(r"\bspam\b|unsolicited|junk mail|bulk mail|content (rejected|filter)|virus", re.I),
    ),
    (
        Reason.BLOCKED_POLICY,
        re.compile(
            r"blocked|blacklist|blocklist|denylist|\brbl\b|spamhaus|reputation|policy|dmarc|\bspf\b|dkim"
            r"|not (allowed|authorized|permitted)|access denied|(?<!connection )refused|rejected for policy",
            re.I,
        ),
    ),
    (
        Reason.EXPIRED,
        re.compile(
            r"retry time(out)? (not reached|exceeded)|could not be delivered (with)?in|delivery time expired"
            r"|(maximum|max) (delivery )?(attempts|time)|expired|gave up|giving up|too long in queue"
            r"|message timed out|queue(d)? too long",
            re.I,
        ),
    ),
    (
        Reason.NETWORK_SYSTEM,
        re.compile(
            r"too many (connections|concurrent|recipients|messages)|connection (timed out"
            r"|refused|reset|lost|dropped)|connection was dropped"
            r"|could not (initiate|establish) (an )?smtp (conversation|connection)"
            r"|timed? ?out|temporar(y|ily)|try again later|system (error|failure|not accepting)|resources"
            r"|service (unavailable|not available)|local error|network|loop(s)? (back|detected)|mail loop",
            re.I,
        ),
    ),
]


def parse_status(value: str) -> str:
    """An RFC 3463 status code ("5.1.1") found in a field or a diagnostic, or ""."""
    match = _STATUS.search(value or "")
    if match:
        return ".".join(match.groups())
    # Some MTAs write the digits without dots ("511", "5110", "447").
    compact = re.fullmatch(r"\s*([245])(\d)(\d{1,2})\s*(\(.*)?", value or "")
    if compact:
        return ".".join(compact.groups()[:3])
    return ""


def smtp_class(text: str) -> str:
    """The class ("4" or "5") of an SMTP reply code opening a diagnostic ("smtp; 452 ..."), or ""."""
    match = _SMTP_REPLY.search((text or "").split(";", 1)[-1].strip()[:6])
    return match.group(1) if match else ""


def reason_from_text(text: str) -> Reason | None:
    for reason, pattern in _TEXT:
        if pattern.search(text or ""):
            return reason
    return None


def classify(status: str, diagnostic: str = "") -> Reason:
    """The reason from the status code where it is specific, else from the diagnostic text."""
    parts = status.split(".") if status else []
    if len(parts) == 3:
        _klass, subject, detail = parts
        if subject == "7":
            text_reason = reason_from_text(diagnostic)
            if text_reason in (Reason.SPAM_REJECTED, Reason.RELAYING_DENIED, Reason.USER_UNKNOWN):
                return text_reason
            return Reason.BLOCKED_POLICY
        specific = _BY_CODE.get((subject, detail))
        if specific is not None:
            return specific
        text_reason = reason_from_text(diagnostic)
        if text_reason is not None:
            return text_reason
        return _BY_SUBJECT.get(subject, Reason.OTHER)
    return reason_from_text(diagnostic) or Reason.OTHER


def is_permanent(
    *, action: str, status: str, diagnostic: str, reason: Reason, verdict: bool | None = None
) -> bool:
    """Permanent only on evidence: a 5.X.X status, Action: failed, or a detector's verdict."""
    if reason in ALWAYS_TEMPORARY:
        return False
    if action == "delayed":
        return False
    if status:
        return status.startswith("5")
    klass = smtp_class(diagnostic)
    if klass:
        return klass == "5"
    if action == "failed":
        return True
    return bool(verdict) or reason in PERMANENT_BY_NATURE
