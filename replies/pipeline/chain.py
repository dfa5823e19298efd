"""The decision loop for one inbound mail, in the manner of Mailman's core/chains.py.

One loop owns the whole decision record (InboundMessage.kind, rule_hits, match_method):

  1. match     which delivery, answer or subscriber the mail belongs to (replies.matching),
               recorded as the record's first line ("matching")
  2. rules     the ordered table below, each (rule, kind, handler); every verdict (hit or
               miss, with its reasons as codes, see replies.reasons) is recorded
  3. handler   the first hit's handler acts and says what it did (recorded on that line)
               and what to enqueue after the commit (scheduled here, rundbrief.effects)

Bounces and complaints come first because many DSNs and feedback reports also carry
Auto-Submitted; HumanRule always hits.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from replies.matching import Prefetched, match_mail
from replies.models import InboundMessage
from replies.parsing import ParsedMail
from replies.pipeline import handlers
from replies.pipeline.auto_reply import AutoReplyRule
from replies.pipeline.bounce_rules import BounceRule, ComplaintRule
from replies.pipeline.context import Context, Outcome, RuleHit
from replies.pipeline.rules import HumanRule, Rule, UnsubscribeRule
from replies.pipeline.staff_answers import StaffAnswerRule, handle_staff_answer
from replies.threads import PrefetchedConversations
from rundbrief.effects import after_commit

Kind = InboundMessage.Kind


@dataclass(frozen=True)
class Link:
    rule: Rule
    kind: str
    handler: Callable[[InboundMessage, Context], Outcome]


CHAIN: list[Link] = [
    Link(BounceRule(), Kind.BOUNCE, handlers.handle_bounce),
    Link(ComplaintRule(), Kind.COMPLAINT, handlers.handle_complaint),
    # Before auto-replies and unsubscribes: a staff member's "stop" or out-of-office reply to a
    # notification must neither unsubscribe the subscriber nor land on their timeline.
    Link(StaffAnswerRule(), Kind.STAFF_ANSWER, handle_staff_answer),
    Link(AutoReplyRule(), Kind.AUTO_REPLY, handlers.handle_auto_reply),
    Link(UnsubscribeRule(), Kind.UNSUBSCRIBE, handlers.handle_unsubscribe),
    Link(HumanRule(), Kind.HUMAN, handlers.handle_human),
]


def classify(ctx: Context, chain: list[Link] = CHAIN) -> tuple[Link, list[RuleHit]]:
    """The first link whose rule hits, and the record of every rule checked until then."""
    hits: list[RuleHit] = []
    for link in chain:
        verdict = link.rule.check(ctx)
        hits.append(RuleHit(rule=link.rule.name, hit=verdict.hit, reasons=list(verdict.reasons)))
        if verdict.finding is not None:
            ctx.findings.append(verdict.finding)
        if verdict.hit:
            return link, hits
    raise RuntimeError("the chain must end with a rule that always hits")


def decide(
    inbound: InboundMessage,
    mail: ParsedMail,
    *,
    deliveries: Prefetched | None = None,
    conversations: PrefetchedConversations | None = None,
    post_answer: Callable[..., Any] | None = None,
) -> Outcome:
    """Match, recognise and handle one mail; writes its decision record on ``inbound`` (not saved).

    post_answer stores a staff answer (a staff member answering a notification by mail).
    """
    match = match_mail(mail, deliveries)
    ctx = Context(
        mail=mail,
        match=match,
        envelope_from=inbound.envelope_from,
        conversations=conversations,
        post_answer=post_answer,
    )
    record = [RuleHit(rule="matching", hit=match.matched, reasons=[match.reason] if match.reason else [])]
    link, hits = classify(ctx)
    outcome = link.handler(inbound, ctx)
    hits[-1].actions = outcome.actions
    record += hits
    inbound.kind = outcome.kind or link.kind
    inbound.match_method = match.method
    inbound.rule_hits = [line.as_json() for line in record]
    after_commit(*outcome.effects)
    return outcome
