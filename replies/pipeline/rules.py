"""Small named recognition rules, in the manner of GNU Mailman's rules: a `name` and `check()`.

`check()` always answers with a Verdict (replies.pipeline.context): hit or miss, with its
reasons (codes and parameters, see replies.reasons, rendered in the reader's language when
shown) and, where it found something the handler needs, a typed finding. The chain
(chain.py) decides the order and records every verdict on the message, so the inbox can
show why a mail was treated the way it was.
"""

from __future__ import annotations

import re

from replies.parsing import ParsedMail
from replies.pipeline.context import Bounce, Context, UnmatchedUnsubscribe, Verdict
from replies.reasons import reason
from rundbrief.mail.subjects import strip_prefixes


class Rule:
    name: str = ""
    description: str = ""

    def check(self, ctx: Context) -> Verdict:  # pragma: no cover - interface
        raise NotImplementedError


# --- Bounces and delivery status notifications ----------------------------------------

BOUNCE_SENDERS = re.compile(r"^(mailer-daemon|postmaster|mail-daemon|maildelivery|bounce[s]?)@", re.I)
BOUNCE_SUBJECTS = re.compile(
    r"(undeliver(ed|able)|returned mail|mail delivery (failed|failure|subsystem)|delivery status notification"
    r"|delivery (has )?failed|failure notice|unzustellbar|nicht zustellbar|unzustellbare nachricht"
    r"|fehler bei der (e-?mail-)?zustellung|zustellung fehlgeschlagen|non[- ]?delivery)",
    re.I,
)
SOFT_BOUNCE = re.compile(r"(delayed|delay|warning|will (be )?retr|verzögert|temporar)", re.I)
_ADDRESS_IN_TEXT = re.compile(r"<?([A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+)>?")
# Where a non-standard bounce starts quoting the original: addresses after this are not the failed ones.
_ORIGINAL_STARTS = re.compile(
    r"^(-+ ?(this is a copy|below this line|original message|the original message|weitergeleitete)"
    r"|.*original message (headers )?follows|return-path:|received: |content-type: message/rfc822)",
    re.I | re.M,
)


def dsn_recipients(mail: ParsedMail) -> tuple[list[str], list[str]]:
    """(failed, delayed) recipients from the machine-readable part of a multipart/report DSN."""
    failed: list[str] = []
    delayed: list[str] = []
    for part in mail.message.walk():
        if part.get_content_type() != "message/delivery-status":
            continue
        blocks = part.get_payload()
        if not isinstance(blocks, list):
            blocks = []
        for block in blocks:
            try:
                recipient = str(block.get("Final-Recipient") or block.get("Original-Recipient") or "")
                action = str(block.get("Action") or "").strip().lower()
                status = str(block.get("Status") or "").strip()
            except Exception:  # noqa: BLE001 - a malformed block is skipped, the others still count
                continue
            address = recipient.split(";", 1)[-1].strip().strip("<>").lower()
            if "@" not in address:
                continue
            if action == "failed" or status.startswith("5"):
                failed.append(address)
            elif action in ("delayed", "relayed", "delivered", "expanded") or status.startswith("4"):
                delayed.append(address)
    return failed, delayed


def addresses_in_bounce_text(mail: ParsedMail) -> list[str]:
    """Failed recipients named in a human-readable bounce (Exim, qmail, Exchange, ...)."""
    text = mail.text
    cut = _ORIGINAL_STARTS.search(text)
    if cut:
        text = text[: cut.start()]
    ignore = {mail.from_address}
    found: list[str] = []
    for address in _ADDRESS_IN_TEXT.findall(text):
        address = address.lower().rstrip(".")
        if address in ignore or address in found or BOUNCE_SENDERS.match(address):
            continue
        found.append(address)
    return found


class BounceRule(Rule):
    name = "bounce"
    description = "Delivery status notifications and the non-standard bounces real MTAs send."

    def check(self, ctx: Context) -> Verdict:
        mail = ctx.mail
        is_report = mail.content_type == "multipart/report" and (
            (mail.message.get_param("report-type") or "").lower() == "delivery-status"
        )
        if is_report:
            failed, delayed = dsn_recipients(mail)
            found = Bounce(failed=tuple(failed), delayed=tuple(delayed), hard=bool(failed))
            why = reason("dsn_failed", failed=", ".join(failed)) if failed else reason("dsn_delayed")
            return Verdict.hit_because(why, finding=found)
        sender = mail.from_address or ctx.envelope_from
        null_sender = ctx.envelope_from.strip() in ("<>",) and bool(mail.subject)
        why = None
        if BOUNCE_SENDERS.match(sender or "") and BOUNCE_SUBJECTS.search(mail.subject):
            why = reason("bounce_sender_subject", sender=sender)
        elif BOUNCE_SUBJECTS.search(mail.subject) and (null_sender or BOUNCE_SENDERS.match(sender or "")):
            why = reason("bounce_null_sender")
        elif BOUNCE_SENDERS.match(sender or "") and re.search(
            r"(could not be delivered|delivery to the following recipient|permanent error|"
            r"I'm afraid I wasn't able to deliver|konnte nicht zugestellt)",
            mail.text,
            re.I,
        ):
            why = reason("bounce_sender_text", sender=sender)
        if not why:
            return Verdict.miss()
        soft = bool(SOFT_BOUNCE.search(mail.subject))
        found = Bounce(failed=() if soft else tuple(addresses_in_bounce_text(mail)), hard=not soft)
        if soft:
            return Verdict.hit_because(why, reason("delay_warning"), finding=found)
        return Verdict.hit_because(why, finding=found)


# --- Auto-replies and out-of-office: replies/pipeline/auto_reply.py ------------------------


# --- Unsubscribe by reply ---------------------------------------------------------------

UNSUBSCRIBE_PHRASES = {
    "abmelden",
    "bitte abmelden",
    "abmelden bitte",
    "austragen",
    "bitte austragen",
    "bitte aus dem verteiler austragen",
    "bitte aus dem verteiler nehmen",
    "abbestellen",
    "newsletter abbestellen",
    "newsletter abmelden",
    "bitte newsletter abbestellen",
    "ich möchte mich abmelden",
    "kündigen",
    "stop",
    "stopp",
    "unsubscribe",
    "please unsubscribe",
    "unsubscribe me",
    "please unsubscribe me",
    "unsubscribe please",
    "remove me",
    "please remove me",
    "remove",
    "opt out",
    "opt-out",
    "cancel",
}
_NOISE = re.compile(r"[\s!.,;:()\-–—'\"?]+")
_GREETING = re.compile(
    r"^(hallo|hi|hello|guten tag|liebe[rs]? team|dear team|danke|thanks|vielen dank|mfg|gruß|grüße"
    r"|viele grüße|best regards|regards|thank you)\b.*$",
    re.I,
)


def only_says_unsubscribe(text: str) -> bool:
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    meaningful = [line for line in lines if not _GREETING.match(line)]
    if not meaningful or len(meaningful) > 2:
        return False
    phrase = _NOISE.sub(" ", " ".join(meaningful)).strip().lower()
    return phrase in UNSUBSCRIBE_PHRASES


class UnsubscribeRule(Rule):
    name = "unsubscribe_by_reply"
    description = 'A reply that only says "abmelden", "unsubscribe", "stop" and the like.'

    def check(self, ctx: Context) -> Verdict:
        body = ctx.mail.stripped_text
        subject = strip_prefixes(ctx.mail.subject)
        if only_says_unsubscribe(body):
            said = body.strip().splitlines()[0][:60] if body.strip() else ""
        elif not body.strip() and only_says_unsubscribe(subject):
            said = subject.strip()
        else:
            return Verdict.miss()
        if ctx.match.subscriber is None:
            return Verdict.miss(finding=UnmatchedUnsubscribe())  # nobody to unsubscribe: a person must look
        return Verdict.hit_because(reason("says_unsubscribe", text=said))


class HumanRule(Rule):
    name = "human"
    description = "Everything else is a human reply."

    def check(self, ctx: Context) -> Verdict:
        if ctx.finding(UnmatchedUnsubscribe):
            return Verdict.hit_because(reason("unsubscribe_unmatched"))
        return Verdict.hit_because(reason("human"))
