"""The typed values of the decision loop (replies.pipeline.chain).

A rule's ``check()`` always answers with a ``Verdict``: hit or miss, its reasons (codes,
replies.reasons) and, if it found something a later rule or the handler needs, a finding
(a small frozen dataclass such as the bounce reader's ``Report``). The loop records every verdict as a
``RuleHit``; the handler of the first hit answers with an ``Outcome``: what it did (reasons,
for the record) and what should happen after the commit (rundbrief.effects).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from replies.bounces import Report
from replies.matching import Match
from replies.parsing import ParsedMail
from replies.reasons import Reason, as_json
from replies.threads import PrefetchedConversations
from rundbrief.effects import Enqueue


@dataclass(frozen=True)
class UnmatchedUnsubscribe:
    """An unsubscribe request that matched no subscriber: a person must look at it."""


@dataclass(frozen=True)
class StaffAnswer:
    """A staff member's mail to one of our reply addresses (replies.pipeline.staff_answers)."""


Finding = Report | UnmatchedUnsubscribe | StaffAnswer
F = TypeVar("F", Report, UnmatchedUnsubscribe, StaffAnswer)


@dataclass(frozen=True)
class Verdict:
    hit: bool
    reasons: tuple[Reason, ...] = ()
    finding: Finding | None = None

    @classmethod
    def hit_because(cls, *reasons: Reason, finding: Finding | None = None) -> Verdict:
        return cls(hit=True, reasons=reasons, finding=finding)

    @classmethod
    def miss(cls, *reasons: Reason, finding: Finding | None = None) -> Verdict:
        return cls(hit=False, reasons=reasons, finding=finding)


@dataclass
class Context:
    """What the rules and handlers look at: the parsed mail, the envelope, the match, the findings."""

    mail: ParsedMail
    match: Match
    envelope_from: str = ""
    conversations: PrefetchedConversations | None = None  # looked up once per batch
    findings: list[Finding] = field(default_factory=list)  # left by earlier rules' verdicts
    # Stores a staff answer (replies.services.queue_staff_answer), handed in by the loop's caller:
    # the pipeline does not import the services, which import it.
    post_answer: Callable[..., Any] | None = None

    def finding(self, kind: type[F]) -> F | None:
        return next((f for f in self.findings if isinstance(f, kind)), None)


@dataclass
class RuleHit:
    """One line of the decision record (InboundMessage.rule_hits), as the inbox shows it."""

    rule: str
    hit: bool
    reasons: list[Reason]
    actions: list[Reason] | None = None  # what the handler did, on the line of the rule that fired

    def as_json(self) -> dict:
        line = {"rule": self.rule, "hit": self.hit, "reasons": as_json(self.reasons)}
        if self.actions is not None:
            line["actions"] = as_json(self.actions)
        return line


@dataclass
class Outcome:
    """A handler's answer: what it did, and the work to enqueue once the transaction commits."""

    actions: list[Reason] = field(default_factory=list)
    effects: list[Enqueue] = field(default_factory=list)
    kind: str = ""  # the kind to record when it is not the rule's (a refused staff answer)
    answer: Any = None  # the staff answer a mail became (replies.pipeline.staff_answers)
