"""Small named recognition rules, in the manner of GNU Mailman's rules: a `name` and `check()`.

`check()` always answers with a Verdict (replies.pipeline.context): hit or miss, with its
reasons (codes and parameters, see replies.reasons, rendered in the reader's language when
shown) and, where it found something the handler needs, a typed finding. The chain
(chain.py) decides the order and records every verdict on the message, so the inbox can
show why a mail was treated the way it was.

Bounces and complaints (replies.pipeline.bounce_rules) and auto-replies (replies.pipeline.auto_reply)
have their own modules.
"""

from __future__ import annotations

import re

from replies.pipeline.context import Context, UnmatchedUnsubscribe, Verdict
from replies.reasons import reason
from rundbrief.mail.subjects import strip_prefixes


class Rule:
    name: str = ""
    description: str = ""

    def check(self, ctx: Context) -> Verdict:  # pragma: no cover - interface
        raise NotImplementedError


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
