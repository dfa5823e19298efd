"""The ordered table of recognition rules, in the manner of Mailman's built-in chain.

Each row is (rule, kind, handler). Rules are checked in order; every answer (hit or
miss, with its reasons as codes, see replies.reasons) is recorded on the InboundMessage;
the first hit's handler acts and records what it did (codes too).
Bounces come first because many DSNs also carry Auto-Submitted; HumanRule always hits.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from replies.models import InboundMessage
from replies.pipeline import handlers
from replies.pipeline.rules import AutoReplyRule, BounceRule, Context, HumanRule, Rule, UnsubscribeRule
from replies.reasons import Reason

Kind = InboundMessage.Kind


@dataclass(frozen=True)
class Link:
    rule: Rule
    kind: str
    handler: Callable[[InboundMessage, Context], list[Reason]]


CHAIN: list[Link] = [
    Link(BounceRule(), Kind.BOUNCE, handlers.handle_bounce),
    Link(AutoReplyRule(), Kind.AUTO_REPLY, handlers.handle_auto_reply),
    Link(UnsubscribeRule(), Kind.UNSUBSCRIBE, handlers.handle_unsubscribe),
    Link(HumanRule(), Kind.HUMAN, handlers.handle_human),
]


def classify(ctx: Context, chain: list[Link] = CHAIN) -> tuple[Link, list[dict]]:
    """The first link whose rule hits, and the record of every rule checked until then."""
    hits: list[dict] = []
    for link in chain:
        found = link.rule.check(ctx)
        reasons = [] if found is None else found if isinstance(found, list) else [found]
        hits.append({"rule": link.rule.name, "hit": found is not None, "reasons": reasons})
        if found is not None:
            return link, hits
    raise RuntimeError("the chain must end with a rule that always hits")


def run(inbound: InboundMessage, ctx: Context) -> None:
    link, hits = classify(ctx)
    actions = link.handler(inbound, ctx)
    hits[-1]["actions"] = actions
    inbound.kind = link.kind
    inbound.rule_hits = hits
