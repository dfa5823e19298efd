"""Recognising bounces and complaints: the bounce reader (replies.bounces) behind two rules.

BounceRule reads the mail once (RFC 3464, flufl.bounce, ARF, SES notifications; see
replies.bounces); a complaint it leaves as a finding for ComplaintRule, which comes next.
Neither rule decides who is suppressed: the handlers do, only for the recipient of the
delivery the bounce is about or a known subscriber (replies.pipeline.handlers).
"""

from __future__ import annotations

from replies.bounces import BOUNCE, COMPLAINT, Report, read
from replies.pipeline.context import Context, Verdict
from replies.pipeline.rules import Rule
from replies.reasons import Reason, reason


def _failure_reasons(report: Report) -> list[Reason]:
    return [
        reason(
            "bounce_failure_permanent" if failure.permanent else "bounce_failure_temporary",
            address=failure.address,
            reason=failure.reason,
            status=failure.status or "-",
            field=failure.field,
        )
        for failure in report.failures
    ]


class BounceRule(Rule):
    name = "bounce"
    description = "Delivery status notifications (RFC 3464), non-standard bounces (flufl.bounce), SES."

    def check(self, ctx: Context) -> Verdict:
        report = read(ctx.mail, envelope_from=ctx.envelope_from)
        if report is None:
            return Verdict.miss()
        if report.kind == COMPLAINT:
            return Verdict.miss(finding=report)
        assert report.kind == BOUNCE
        if not report.failures:
            why = reason(
                "bounce_no_recipient",
                evidence=report.evidence,
                reason=report.reason,
                status=report.status or "-",
            )
            return Verdict.hit_because(why, finding=report)
        return Verdict.hit_because(
            reason("bounce_read", evidence=report.evidence), *_failure_reasons(report), finding=report
        )


class ComplaintRule(Rule):
    name = "complaint"
    description = "Spam complaints: ARF feedback reports (RFC 5965) and ESP complaint notifications by mail."

    def check(self, ctx: Context) -> Verdict:
        report = ctx.finding(Report)
        if report is None or report.kind != COMPLAINT:
            return Verdict.miss()
        addresses = ", ".join(report.addresses) or "-"
        return Verdict.hit_because(
            reason(
                "complaint_read",
                evidence=report.evidence,
                feedback_type=report.feedback_type,
                addresses=addresses,
            )
        )
