"""Writes for campaigns: save, launch or schedule, pause, resume, cancel, test send, recovery.

Launching creates one Delivery row per recipient, page by page (keyset-paged audience,
bulk insert that ignores the unique (campaign, subscriber) conflict), and enqueues the
send tasks by batch of ids after each page commits.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import UploadedFile
from django.core.validators import validate_email
from django.db import connection, transaction
from django.utils import formats, timezone
from django.utils.translation import gettext as _

from campaigns import abtest, images, testmail
from campaigns.messages import Recipient, build_factory, contact_name
from campaigns.models import (
    ABTest,
    Campaign,
    CampaignImage,
    CampaignTemplate,
    CampaignVersion,
    Delivery,
    TestSend,
)
from campaigns.selectors import audience_pages, test_recipient
from campaigns.sending.ledger import fold_all_acceptances
from campaigns.sending.loop import finish_if_done
from campaigns.versions import (
    VersionRenderError,
    contents,
    default_content,
    is_language,
    language_name,
    problems_of,
    version_label,
)
from rundbrief.effects import Enqueue, after_commit
from rundbrief.events import emit
from rundbrief.mail.addresses import new_token
from rundbrief.mail.headers import new_message_id
from rundbrief.mail.refusals import SendError
from rundbrief.mail.transports import transport_for_settings
from subscribers.models import Segment, Topic

logger = logging.getLogger(__name__)
S = Delivery.Status
C = Campaign.Status
# A cancelled campaign can be edited and launched again: it goes to those it has not reached.
EDITABLE = (C.DRAFT, C.SCHEDULED, C.CANCELLED)
MAX_TEST_ADDRESSES = 10


class CampaignStateError(Exception):
    """The action does not fit the campaign's state (e.g. editing a campaign that is sending)."""


def save_campaign(
    *,
    campaign: Campaign | None = None,
    name: str,
    topics: Sequence[Topic],
    subject: str,
    preheader: str = "",
    from_name: str = "",
    mjml_body: str,
    text_body: str = "",
    contact: AbstractBaseUser | None = None,
    user: AbstractBaseUser | None = None,
    segment: Segment | None = None,
    default_language: str | None = None,
    versions: Mapping[str, Mapping[str, str]] | None = None,
) -> Campaign:
    """Create or update a draft. The contact defaults to the first topic's owner; a segment
    narrows the topics' audience.

    The content given is the version in ``default_language`` (unchanged, or the site's language
    for a new campaign). ``versions`` are all the other languages' versions ({language: {subject,
    preheader, mjml_body, text_body}}): those left out are removed; None leaves them as they are.
    """
    if campaign is not None and campaign.status not in EDITABLE:
        raise CampaignStateError(_("Only drafts, scheduled and cancelled campaigns can be edited."))
    default_language = default_language or (campaign.default_language if campaign else settings.LANGUAGE_CODE)
    _check_languages(default_language, versions, campaign)
    topics = list(topics)
    if contact is None and topics:
        contact = sorted(topics, key=lambda t: t.pk)[0].owner
    campaign = campaign or Campaign(created_by=user)
    campaign.name = name
    campaign.subject = subject
    campaign.preheader = preheader
    campaign.from_name = from_name
    campaign.mjml_body = mjml_body
    campaign.text_body = text_body
    campaign.contact = contact
    campaign.segment = segment
    campaign.default_language = default_language
    with transaction.atomic():
        campaign.save()
        campaign.topics.set(topics)
        if versions is not None:
            _store_versions(campaign, versions)
    return campaign


VERSION_FIELDS = ("subject", "preheader", "mjml_body", "text_body")


def _check_languages(
    default_language: str, versions: Mapping[str, Mapping[str, str]] | None, campaign: Campaign | None
) -> None:
    if not is_language(default_language):
        raise ValueError(_("Unknown language: %(language)s") % {"language": default_language})
    for language, fields in (versions or {}).items():
        if not is_language(language):
            raise ValueError(_("Unknown language: %(language)s") % {"language": language})
        if language == default_language:
            raise ValueError(
                _("The default version is in %(language)s already; a second one in it cannot be kept.")
                % {"language": language_name(language)}
            )
        if not (fields.get("subject") or "").strip() or not (fields.get("mjml_body") or "").strip():
            raise ValueError(
                _("%(version)s needs a subject and a body.") % {"version": version_label(language)}
            )
    if (
        versions is None
        and campaign is not None
        and campaign.default_language != default_language
        and campaign.versions.filter(language=default_language).exists()
    ):
        raise ValueError(
            _(
                "There is a %(language)s version already: make it the default with its own button, "
                "or remove it first."
            )
            % {"language": language_name(default_language)}
        )


def _store_versions(campaign: Campaign, versions: Mapping[str, Mapping[str, str]]) -> None:
    campaign.versions.exclude(language__in=list(versions)).delete()
    for language, fields in versions.items():
        CampaignVersion.objects.update_or_create(
            campaign=campaign,
            language=language,
            defaults={name: fields.get(name, "") or "" for name in VERSION_FIELDS},
        )


def make_default_version(*, campaign: Campaign, language: str) -> Campaign:
    """The ``language`` version becomes the default one; the default so far becomes a version in
    its language. Nothing is lost: the two swap places."""
    if campaign.status not in EDITABLE:
        raise CampaignStateError(_("Only drafts, scheduled and cancelled campaigns can be edited."))
    if language == campaign.default_language:
        return campaign
    with transaction.atomic():
        campaign = Campaign.objects.select_for_update().get(pk=campaign.pk)
        version = campaign.versions.filter(language=language).first()
        if version is None:
            raise ValueError(_("There is no %(language)s version.") % {"language": language_name(language)})
        old = default_content(campaign)
        for name in VERSION_FIELDS:
            setattr(campaign, name, getattr(version, name))
            setattr(version, name, getattr(old, name))
        version.language = old.language
        campaign.default_language = language
        version.save()
        campaign.save()
    return campaign


def contact_problem(campaign: Campaign) -> str | None:
    """Why the campaign cannot go out under a named person, or None.

    The footer of every mail says "Just reply to this mail: <name> will answer you personally",
    and replies are routed to that person: a campaign without one (older campaigns could be
    saved without) must get one before it is launched, tested or started on schedule.
    """
    if campaign.contact_id is None:
        return _(
            "This campaign has no contact person: the footer of every mail names the person who answers "
            "replies. Choose one in the editor; then the campaign can be tested and launched."
        )
    if not campaign.contact.is_active:
        return _(
            "The contact person %(name)s can no longer log in and would not see the replies. Choose another "
            "one in the editor; then the campaign can be tested and launched."
        ) % {"name": campaign.contact.get_username()}
    return None


def _validate_for_sending(campaign: Campaign) -> None:
    if campaign.status not in EDITABLE:
        raise CampaignStateError(_("This campaign has already been launched."))
    if not campaign.topics.exists():
        raise CampaignStateError(_("Choose at least one topic before launching."))
    if problem := contact_problem(campaign):
        raise CampaignStateError(problem)
    check_versions(campaign)
    check_variants(campaign)


def check_variants(campaign: Campaign) -> None:
    """An A/B test's variant B is checked like A (check_versions): every version needs one, without
    unknown variables and renderable; else the launch is refused, naming the version."""
    problem = abtest.check_variants(campaign)
    if problem is None:
        return
    label = _("Variant B of the %(language)s version") % {"language": language_name(problem.language)}
    if problem.missing:
        raise CampaignStateError(
            _("%(variant)s is missing: write it in the editor's A/B test section, or switch the test off.")
            % {"variant": label}
        )
    if problem.unknown:
        raise CampaignStateError(
            _("%(variant)s uses variables no mail has; correct them in the editor: %(problems)s")
            % {"variant": label, "problems": " ".join(problem.unknown)}
        )
    lines = [
        (_("Line %(line)s: %(message)s") % {"line": p.line, "message": p.message}) if p.line else p.message
        for p in problem.error.problems
    ]
    raise CampaignStateError(
        _("%(variant)s cannot be rendered: %(errors)s") % {"variant": label, "errors": "; ".join(lines)}
    )


def check_versions(campaign: Campaign) -> None:
    """Every version checked as a campaign in one language is: the first broken one refuses the
    launch, named when the campaign has several (CampaignStateError, or VersionRenderError with
    lines: a broken campaign never starts sending)."""
    versions = contents(campaign)
    several = len(versions) > 1
    for language, content in versions.items():
        unknown, error = problems_of(content)
        if unknown:
            problems = " ".join(unknown)
            if several:
                raise CampaignStateError(
                    _("%(version)s uses variables no mail has; correct them in the editor: %(problems)s")
                    % {"version": version_label(language), "problems": problems}
                )
            raise CampaignStateError(
                _("The campaign uses variables no mail has; correct them in the editor: %(problems)s")
                % {"problems": problems}
            )
        if error is not None:
            raise VersionRenderError(language if several else "", error.problems)


def check_launch(*, campaign: Campaign, at: datetime | None = None, now: datetime | None = None) -> None:
    """Everything a launch (now, or at ``at``) would refuse, raised before asking "send to N people?".

    A "Send at" time that has passed is refused, never taken as "now": the marketer meant a
    time, and mail that went out at once cannot be called back.
    """
    _validate_for_sending(campaign)
    now = now or timezone.now()
    if at is not None and at <= now:
        raise CampaignStateError(
            _(
                "The time to send at (%(at)s) has passed. Choose a time in the future, "
                "or leave it empty to send now."
            )
            % {"at": formats.date_format(timezone.localtime(at), "DATETIME_FORMAT")}
        )


def launch_campaign(*, campaign: Campaign, at: datetime | None = None) -> Campaign:
    """Launch now, or schedule for ``at`` (picked up by the periodic task, never a long ETA)."""
    now = timezone.now()
    check_launch(campaign=campaign, at=at, now=now)
    if at is not None:
        Campaign.objects.filter(pk=campaign.pk, status__in=EDITABLE).update(
            status=C.SCHEDULED, scheduled_at=at, finished_at=None, updated_at=now
        )
    else:
        _start(campaign.pk)
    campaign.refresh_from_db()
    return campaign


def _start(campaign_id: int) -> bool:
    """draft/scheduled/cancelled → sending, exactly once even if the beat task and a click race.

    A relaunched cancelled campaign queues its audience afresh: those it reached before have a
    delivery already and are left out (selectors.audience_pages)."""
    campaign = Campaign.objects.select_related("contact").get(pk=campaign_id)
    started = Campaign.objects.filter(pk=campaign_id, status__in=EDITABLE).update(
        status=C.SENDING,
        started_at=timezone.now(),
        finished_at=None,
        queued_all_at=None,
        sent_content=content_snapshot(campaign),
    )
    if started:
        _enqueue_queue_deliveries(campaign_id)
        emit("campaign.started", campaign_id=campaign_id)
    return bool(started)


def content_snapshot(campaign: Campaign) -> dict:
    """The content a launch sends, kept with the campaign for its stats page ("content as sent")."""
    versions = contents(campaign)
    test = abtest.test_of(campaign)
    variant_b = abtest.variant_contents(campaign, test) if test is not None else {}
    return {
        # An A/B test's variant B of each version, as it went out (its kind's fields applied).
        "variant_b": {language: content.fields() for language, content in variant_b.items() if content},
        "subject": campaign.subject,
        "preheader": campaign.preheader,
        "from_name": campaign.from_name,
        "mjml_body": campaign.mjml_body,
        "text_body": campaign.text_body,
        "contact_name": contact_name(campaign),
        "default_language": campaign.default_language,
        "versions": {
            language: content.fields()
            for language, content in versions.items()
            if language != campaign.default_language
        },
    }


def _enqueue_queue_deliveries(campaign_id: int) -> None:
    after_commit(Enqueue("campaigns.tasks.queue_deliveries_task", (campaign_id,)))


def _enqueue_sends(campaign_id: int, delivery_ids: list[int]) -> None:
    after_commit(Enqueue("campaigns.tasks.send_deliveries_task", (campaign_id, delivery_ids)))


def start_due_campaigns(*, now: datetime | None = None) -> int:
    """Start every scheduled campaign whose time has come (run by beat every 30 s)."""
    now = now or timezone.now()
    due = Campaign.objects.filter(status=C.SCHEDULED, scheduled_at__lte=now).select_related("contact")
    started = 0
    for campaign in due:
        if problem := contact_problem(campaign):
            # Stays scheduled; its page says why, and it starts once a contact person is set.
            logger.warning("Scheduled campaign %s not started: %s", campaign.pk, problem)
            continue
        started += _start(campaign.pk)
    return started


def queue_deliveries(*, campaign_id: int) -> int:
    """Create the Delivery rows page by page and enqueue their send batches; safe to re-run."""
    campaign = Campaign.objects.filter(pk=campaign_id).first()
    if campaign is None or campaign.status not in (C.SENDING, C.PAUSED):
        return 0
    created = 0
    # An A/B test queues its sample first (each with its variant), the rest once it is decided
    # (campaigns.abtest.decide), with the winner.
    test = abtest.test_of(campaign)
    sample = abtest.sample_of(test) if test is not None and test.decided_at is None else None
    winner = test.winner if test is not None and sample is None else ""
    for page in audience_pages(campaign, page_size=settings.SEND_BATCH_SIZE, sample=sample):
        subscriber_ids = [subscriber_id for subscriber_id, _hash in page]
        with transaction.atomic():
            variants = [sample.variant(pk) if sample is not None else winner for pk in subscriber_ids]
            ids = _create_deliveries(campaign_id, subscriber_ids, variants)
            created += len(ids)
            if _campaign_status(campaign_id) == C.SENDING:
                _enqueue_sends(campaign_id, ids)
        if _campaign_status(campaign_id) == C.CANCELLED:
            return created
    if sample is not None:
        # Not "all queued": the campaign keeps sending until the rest is queued after the decision.
        ABTest.objects.filter(pk=test.pk, sample_queued_at__isnull=True).update(
            sample_queued_at=timezone.now()
        )
        return created
    Campaign.objects.filter(pk=campaign_id).update(queued_all_at=timezone.now())
    finish_if_done(campaign_id)
    return created


# One statement per page (PostgreSQL): the rows from arrays, the ids of the rows it made
# returned. The unique (campaign, subscriber) decides, not this process (ON CONFLICT).
_INSERT_DELIVERIES = f"""
    INSERT INTO {Delivery._meta.db_table} (campaign_id, subscriber_id, status, reply_token, message_id,
        esp_message_id, attempts, error, soft_bounces, created_at, updated_at, variant)
    SELECT %s, v.subscriber_id, 'queued', v.reply_token, v.message_id, '', 0, '', 0, %s, %s, v.variant
    FROM unnest(%s::bigint[], %s::text[], %s::text[], %s::text[])
        AS v(subscriber_id, reply_token, message_id, variant)
    ON CONFLICT DO NOTHING
    RETURNING id
"""


def _create_deliveries(campaign_id: int, subscriber_ids: list[int], variants: list[str]) -> list[int]:
    """The page's Delivery rows (each with its A/B test variant, "" without a test); the ids of
    those this call created (queued, to enqueue)."""
    tokens = [new_token() for _ in subscriber_ids]
    message_ids = [new_message_id() for _ in subscriber_ids]
    if connection.vendor == "postgresql":
        now = timezone.now()
        with connection.cursor() as cursor:
            cursor.execute(
                _INSERT_DELIVERIES, [campaign_id, now, now, subscriber_ids, tokens, message_ids, variants]
            )
            return sorted(row[0] for row in cursor.fetchall())
    Delivery.objects.bulk_create(
        [
            Delivery(
                campaign_id=campaign_id,
                subscriber_id=pk,
                reply_token=token,
                message_id=message_id,
                variant=variant,
            )
            for pk, token, message_id, variant in zip(
                subscriber_ids, tokens, message_ids, variants, strict=True
            )
        ],
        ignore_conflicts=True,
    )
    return list(
        Delivery.objects.filter(campaign_id=campaign_id, subscriber_id__in=subscriber_ids, status=S.QUEUED)
        .order_by("pk")
        .values_list("pk", flat=True)
    )


def _campaign_status(campaign_id: int) -> str | None:
    return Campaign.objects.filter(pk=campaign_id).values_list("status", flat=True).first()


def _enqueue_queued(campaign_id: int, *, older_than: datetime | None = None) -> int:
    """Enqueue the campaign's queued rows in batches, keyset-paged by id."""
    rows = Delivery.objects.filter(campaign_id=campaign_id, status=S.QUEUED)
    if older_than is not None:
        rows = rows.filter(updated_at__lt=older_than)
    last_id, total = 0, 0
    while True:
        ids = list(
            rows.filter(pk__gt=last_id)
            .order_by("pk")
            .values_list("pk", flat=True)[: settings.SEND_BATCH_SIZE]
        )
        if not ids:
            return total
        with transaction.atomic():
            # Touch them so the next recovery run does not enqueue them again while they wait.
            Delivery.objects.filter(pk__in=ids).update(updated_at=timezone.now())
            _enqueue_sends(campaign_id, ids)
        total += len(ids)
        last_id = ids[-1]


def pause_campaign(*, campaign: Campaign) -> None:
    """Stops after the current chunk of each running batch; queued rows stay queued."""
    if not Campaign.objects.filter(pk=campaign.pk, status=C.SENDING).update(status=C.PAUSED):
        raise CampaignStateError(_("Only a campaign that is sending can be paused."))


def resume_campaign(*, campaign: Campaign) -> None:
    if not Campaign.objects.filter(pk=campaign.pk, status=C.PAUSED).update(status=C.SENDING):
        raise CampaignStateError(_("Only a paused campaign can be resumed."))
    campaign.refresh_from_db()
    if campaign.queued_all_at is None:
        _enqueue_queue_deliveries(campaign.pk)
    else:
        _enqueue_queued(campaign.pk)


def cancel_campaign(*, campaign: Campaign) -> None:
    """Stop for good; the deliveries not yet handed over are removed (nothing was sent to them)."""
    with transaction.atomic():
        cancelled = Campaign.objects.filter(
            pk=campaign.pk, status__in=[C.SCHEDULED, C.SENDING, C.PAUSED]
        ).update(status=C.CANCELLED, finished_at=timezone.now())
        if not cancelled:
            raise CampaignStateError(_("Only a scheduled, sending or paused campaign can be cancelled."))
        # Not the rows a running chunk holds (still "queued" while it sends them, campaigns.sending.loop):
        # they are being handed over right now, and their fold keeps them.
        idle = Delivery.objects.filter(campaign=campaign, status=S.QUEUED).select_for_update(skip_locked=True)
        Delivery.objects.filter(pk__in=idle.values("pk")).delete()


def duplicate_campaign(*, campaign: Campaign, user: AbstractBaseUser | None = None) -> Campaign:
    """A new draft with the same content, topics and contact person; any status can be copied."""
    copy = Campaign(
        name=(_("%(name)s (copy)") % {"name": campaign.name})[: Campaign._meta.get_field("name").max_length],
        subject=campaign.subject,
        preheader=campaign.preheader,
        from_name=campaign.from_name,
        mjml_body=campaign.mjml_body,
        text_body=campaign.text_body,
        contact=campaign.contact,
        segment=campaign.segment,
        default_language=campaign.default_language,
        created_by=user,
    )
    with transaction.atomic():
        copy.save()
        copy.topics.set(campaign.topics.all())
        CampaignVersion.objects.bulk_create(
            [
                CampaignVersion(
                    campaign=copy,
                    language=v.language,
                    **{name: getattr(v, name) for name in VERSION_FIELDS},
                )
                for v in campaign.versions.all()
            ]
        )
        abtest.copy_ab_test(source=campaign, target=copy)
    return copy


def save_as_template(
    *, campaign: Campaign, name: str, user: AbstractBaseUser | None = None
) -> CampaignTemplate:
    """The campaign's content (not its topics, contact or schedule) kept for new campaigns."""
    name = name.strip() or campaign.name
    return CampaignTemplate.objects.create(
        name=name[: CampaignTemplate._meta.get_field("name").max_length],
        subject=campaign.subject,
        preheader=campaign.preheader,
        from_name=campaign.from_name,
        mjml_body=campaign.mjml_body,
        text_body=campaign.text_body,
        default_language=campaign.default_language,
        versions={
            language: content.fields()
            for language, content in contents(campaign).items()
            if language != campaign.default_language
        },
        created_by=user,
    )


class ImageRefused(ValueError):
    """Not an image the media library takes (kind or size); the message says which."""


def upload_image(*, upload: UploadedFile, user: AbstractBaseUser | None = None) -> CampaignImage:
    """Store an uploaded image under a random name; its kind is read from its first bytes."""
    if upload.size > images.MAX_IMAGE_BYTES:
        raise ImageRefused(
            _("The image is larger than %(size)s MB.") % {"size": images.MAX_IMAGE_BYTES // (1024 * 1024)}
        )
    head = upload.read(16)
    upload.seek(0)
    kind = images.sniff(head)
    if kind is None:
        raise ImageRefused(_("Only PNG, JPEG, GIF and WebP images can be uploaded."))
    content_type, extension = kind
    image = CampaignImage(
        name=(upload.name or "image")[:255], content_type=content_type, size=upload.size, uploaded_by=user
    )
    image.file.save(f"{secrets.token_hex(12)}.{extension}", upload, save=False)
    image.save()
    return image


def recover_stalled_sends(*, older_than: timedelta | None = None) -> int:
    """Re-enqueue work a dead worker left behind (run by beat; also by hand after a crash).

    Acceptances a dead worker recorded are folded in first (those mails went out); rows
    still stuck in "sending" were never handed over (an SMTP hand-over is recorded before
    the final "."), so they go back to queued.
    """
    older_than = (
        older_than if older_than is not None else timedelta(seconds=settings.SEND_STUCK_AFTER_SECONDS)
    )
    cutoff = timezone.now() - older_than
    total = 0
    # First what a dead worker had handed over but not yet folded in: those were sent.
    fold_all_acceptances()
    for campaign_id in list(Campaign.objects.filter(status=C.SENDING).values_list("pk", flat=True)):
        Delivery.objects.filter(campaign_id=campaign_id, status=S.SENDING, updated_at__lt=cutoff).update(
            status=S.QUEUED, updated_at=cutoff - timedelta(seconds=1)
        )
        total += _enqueue_queued(campaign_id, older_than=cutoff)
        if (
            Campaign.objects.filter(pk=campaign_id, queued_all_at__isnull=True, started_at__lt=cutoff)
            # An A/B test waiting for its decision has queued all it may (its sample).
            .exclude(
                ab_test__enabled=True,
                ab_test__decided_at__isnull=True,
                ab_test__sample_queued_at__isnull=False,
            )
            .exists()
        ):
            _enqueue_queue_deliveries(campaign_id)  # the launch itself died half-way
    return total


@dataclass(frozen=True)
class TestSendResult:
    sent: list[str]
    errors: dict[str, str]


def send_test(
    *,
    campaign: Campaign,
    addresses: Sequence[str],
    as_subscriber: str = "",
    language: str | None = None,
    user: AbstractBaseUser | None = None,
    variant: str = "",
) -> TestSendResult:
    """Send the campaign, marked "[TEST]", to a few given addresses, now (no Delivery rows).

    Rendered exactly as the preview shows it: as the subscriber with the address ``as_subscriber``
    (their name, language and format), else as the sample subscriber in ``language``; with the
    footer links of a test (campaigns.testmail); ``variant`` "b" sends an A/B test's variant B.
    Each mail's reply token is stored (TestSend), so an answer reaches ``user``, who sent it.
    """
    addresses = [a.strip() for a in addresses if a.strip()]
    if not addresses:
        raise ValueError(_("Give at least one address."))
    if len(addresses) > MAX_TEST_ADDRESSES:
        raise ValueError(_("At most %(n)d addresses per test send.") % {"n": MAX_TEST_ADDRESSES})
    for address in addresses:
        try:
            validate_email(address)
        except ValidationError as exc:
            raise ValueError(_("Not an email address: %(address)s") % {"address": address}) from exc
    if problem := contact_problem(campaign):
        raise ValueError(problem)
    shown = test_recipient(as_subscriber, language=language or settings.LANGUAGE_CODE)
    factory = build_factory(campaign, subject_prefix="[TEST] ", links=testmail.links(campaign.pk))
    transport = transport_for_settings()
    sent, errors = [], {}
    try:
        for address in addresses:
            recipient = Recipient(
                delivery_id=0,
                message_id=new_message_id(),
                reply_token=new_token(),
                subscriber_id=shown.subscriber_id,
                email=shown.email,
                name=shown.name,
                language=shown.language,
                text_only=shown.text_only,
                address=address,
                variant=variant,  # an A/B test's "b": variant B of the version
            )
            # Stored before the hand-over, like a delivery: a reply may come back at once.
            TestSend.objects.create(
                campaign=campaign,
                sent_by=user,
                address=address,
                rendered_as=shown.email if shown.found else "",
                reply_token=recipient.reply_token,
                message_id=recipient.message_id,
            )
            mail = factory.build(recipient)
            try:
                transport.send(mail, lambda _esp_id: None)
            except SendError as exc:
                errors[address] = exc.reason
            else:
                sent.append(address)
    finally:
        transport.close()
    logger.info("Test send of campaign %s to %d addresses", campaign.pk, len(sent))
    return TestSendResult(sent=sent, errors=errors)
