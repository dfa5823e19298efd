"""A/B test by replies: a sample gets variant A or B, after the wait the rest gets the variant more
people replied to. Nothing is tracked: no opens, no clicks, only human replies matched to a
delivery (campaigns.selectors.ab_counts).

The sample and its split are a hash of campaign and subscriber id (campaigns.sampling).

The decision is a conditional update of the test's row (decided_at still empty) inside a row
lock: a beat task that runs twice, or a click racing it, records one decision and queues the
rest once.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from campaigns.models import ABTest, Campaign, VariantB
from campaigns.rendering import CampaignRenderError
from campaigns.sampling import A, B, Sample
from campaigns.selectors import ABCounts, ab_counts
from campaigns.versions import Content, contents, is_language, problems_of
from rundbrief.effects import Enqueue, after_commit

MIN_SAMPLE_PERCENT, MAX_SAMPLE_PERCENT = 2, 100
MIN_WAIT_HOURS, MAX_WAIT_HOURS = 1, 720
# The fields variant B replaces, per kind (the others are the version's own).
KIND_FIELDS = {ABTest.Kind.SUBJECT: ("subject", "preheader"), ABTest.Kind.BODY: ("mjml_body", "text_body")}
# The field each kind must fill in; the other may stay empty (then: A's preheader, or a text
# version generated from the HTML, as for A).
REQUIRED_FIELD = {ABTest.Kind.SUBJECT: "subject", ABTest.Kind.BODY: "mjml_body"}
VARIANT_FIELDS = ("subject", "preheader", "mjml_body", "text_body")
C = Campaign.Status
logger = logging.getLogger(__name__)


class ABTestError(ValueError):
    """Settings or a variant B that cannot be kept or sent; the message says what to correct."""


def test_of(campaign: Campaign) -> ABTest | None:
    """The campaign's A/B test if it is switched on."""
    if not campaign.pk:
        return None
    return ABTest.objects.filter(campaign=campaign, enabled=True).first()


def sample_of(test: ABTest) -> Sample:
    return Sample.of(test.campaign_id, test.sample_percent)


def variant_content(
    test: ABTest, content: Content, *, variants: Mapping[str, VariantB] | None = None
) -> Content | None:
    """Variant B of one version (``content``): its B row's fields of the test's kind, the rest the
    version's own; None if that version has no B yet (the launch refuses that, check_variants)."""
    if variants is None:
        variants = {v.language: v for v in test.variants.all()}
    row = variants.get(content.language)
    if row is None or not getattr(row, REQUIRED_FIELD[test.kind]).strip():
        return None
    if test.kind == ABTest.Kind.SUBJECT:
        return replace(content, subject=row.subject, preheader=row.preheader or content.preheader)
    return replace(content, mjml_body=row.mjml_body, text_body=row.text_body)


def variant_contents(campaign: Campaign, test: ABTest) -> dict[str, Content | None]:
    """Variant B of every version the campaign has (None where it has none yet)."""
    variants = {v.language: v for v in test.variants.all()}
    return {
        language: variant_content(test, content, variants=variants)
        for language, content in contents(campaign).items()
    }


@dataclass(frozen=True)
class VariantProblem:
    language: str
    unknown: list[str]
    error: CampaignRenderError | None
    missing: bool = False


def check_variants(campaign: Campaign) -> VariantProblem | None:
    """The first version whose variant B is missing, uses unknown variables or cannot be rendered
    (checked as A is: services.check_versions); None when all can be sent or there is no test."""
    test = test_of(campaign)
    if test is None:
        return None
    for language, content in variant_contents(campaign, test).items():
        if content is None:
            return VariantProblem(language=language, unknown=[], error=None, missing=True)
        unknown, error = problems_of(content)
        if unknown or error is not None:
            return VariantProblem(language=language, unknown=unknown, error=error)
    return None


def save_ab_test(
    *,
    campaign: Campaign,
    enabled: bool,
    kind: str,
    sample_percent: int,
    wait_hours: int,
    variants: Mapping[str, Mapping[str, str]],
) -> ABTest:
    """Keep the test's settings and variant B per language ({language: {subject, preheader,
    mjml_body, text_body}}); languages left out are removed. Switched off, everything is kept."""
    if campaign.status not in (C.DRAFT, C.SCHEDULED, C.CANCELLED):
        raise ABTestError(_("Only drafts, scheduled and cancelled campaigns can be edited."))
    if kind not in ABTest.Kind.values:
        raise ABTestError(_("Choose what variant B changes: the subject line or the body."))
    if not MIN_SAMPLE_PERCENT <= sample_percent <= MAX_SAMPLE_PERCENT:
        raise ABTestError(
            _("The sample is between %(low)s and %(high)s percent of the audience.")
            % {"low": MIN_SAMPLE_PERCENT, "high": MAX_SAMPLE_PERCENT}
        )
    if not MIN_WAIT_HOURS <= wait_hours <= MAX_WAIT_HOURS:
        raise ABTestError(
            _("The wait before deciding is between %(low)s and %(high)s hours.")
            % {"low": MIN_WAIT_HOURS, "high": MAX_WAIT_HOURS}
        )
    for language in variants:
        if not is_language(language):
            raise ABTestError(_("Unknown language: %(language)s") % {"language": language})
    with transaction.atomic():
        test, _created = ABTest.objects.select_for_update().get_or_create(campaign=campaign)
        test.enabled = enabled
        test.kind = kind
        test.sample_percent = sample_percent
        test.wait_hours = wait_hours
        # A relaunch of a cancelled campaign that had not decided samples again.
        if test.decided_at is None:
            test.sample_queued_at = None
        test.save()
        test.variants.exclude(language__in=list(variants)).delete()
        for language, fields in variants.items():
            VariantB.objects.update_or_create(
                ab_test=test,
                language=language,
                defaults={name: (fields.get(name) or "") for name in VARIANT_FIELDS},
            )
        # The send workers' compiled factories follow the campaign's updated_at (messages.factory_for).
        Campaign.objects.filter(pk=campaign.pk).update(updated_at=timezone.now())
    return test


def copy_ab_test(*, source: Campaign, target: Campaign) -> ABTest | None:
    """A duplicate's A/B test: the settings and variant B, not the sample or the decision."""
    test = ABTest.objects.filter(campaign=source).first()
    if test is None:
        return None
    copy = ABTest.objects.create(
        campaign=target,
        enabled=test.enabled,
        kind=test.kind,
        sample_percent=test.sample_percent,
        wait_hours=test.wait_hours,
    )
    VariantB.objects.bulk_create(
        [
            VariantB(ab_test=copy, language=v.language, **{name: getattr(v, name) for name in VARIANT_FIELDS})
            for v in test.variants.all()
        ]
    )
    return copy


def due_at(test: ABTest, campaign: Campaign) -> datetime | None:
    """When the test is decided automatically: the wait after the launch."""
    if campaign.started_at is None:
        return None
    return campaign.started_at + timedelta(hours=test.wait_hours)


@dataclass(frozen=True)
class Decision:
    winner: str
    tie: bool
    counts: ABCounts


def judge(counts: ABCounts) -> Decision:
    """More people who replied wins; a tie goes to A (recorded as a tie)."""
    if counts.repliers_b > counts.repliers_a:
        return Decision(winner=B, tie=False, counts=counts)
    return Decision(winner=A, tie=counts.repliers_a == counts.repliers_b, counts=counts)


def decide(
    *, campaign: Campaign, user: AbstractBaseUser | None = None, now: datetime | None = None
) -> ABTest:
    """Record the decision with its counts and queue the rest of the audience with the winner.

    By hand (``user``) any time after the sample is queued, while the campaign sends or is paused
    (a paused campaign's rest is queued and goes out on resume); automatically (decide_due) after
    the wait. Recorded once: a second call returns the first decision unchanged.
    """
    now = now or timezone.now()
    with transaction.atomic():
        test = ABTest.objects.select_for_update().filter(campaign=campaign, enabled=True).first()
        if test is None:
            raise ABTestError(_("This campaign has no A/B test."))
        if test.decided_at is not None:
            return test
        status = Campaign.objects.filter(pk=campaign.pk).values_list("status", flat=True).first()
        if status not in (C.SENDING, C.PAUSED):
            raise ABTestError(_("Only an A/B test that is running can be decided."))
        if test.sample_queued_at is None:
            raise ABTestError(_("The sample is still being queued; decide once it is."))
        decision = judge(ab_counts(campaign))
        counts = decision.counts
        ABTest.objects.filter(pk=test.pk, decided_at__isnull=True).update(
            decided_at=now,
            decided_by=user,
            winner=decision.winner,
            tie=decision.tie,
            delivered_a=counts.delivered_a,
            delivered_b=counts.delivered_b,
            repliers_a=counts.repliers_a,
            repliers_b=counts.repliers_b,
        )
        # The rest of the audience: queue_deliveries now leaves the sample predicate out.
        after_commit(Enqueue("campaigns.tasks.queue_deliveries_task", (campaign.pk,)))
    test.refresh_from_db()
    return test


def decide_due(*, now: datetime | None = None) -> int:
    """Decide every running test whose wait has passed (run by beat every minute); paused ones wait."""
    now = now or timezone.now()
    decided = 0
    running = ABTest.objects.filter(
        enabled=True,
        decided_at__isnull=True,
        sample_queued_at__isnull=False,
        campaign__status=C.SENDING,
        campaign__started_at__isnull=False,
    ).select_related("campaign")
    for test in running:
        if due_at(test, test.campaign) > now:
            continue
        try:
            decide(campaign=test.campaign, now=now)
        except ABTestError as exc:  # paused or cancelled since the query: the next run sees it
            logger.info("A/B test of campaign %s not decided: %s", test.campaign_id, exc)
            continue
        decided += 1
    return decided
