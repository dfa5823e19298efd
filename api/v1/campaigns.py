"""Campaigns: create from MJML, change a draft, preview, test send, schedule or start, pause,
resume, cancel, stats. The same services and checks as the editor (campaigns.services)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from django.http import HttpRequest
from django.utils.translation import gettext as _
from ninja import Field, Router, Schema, Status

from api import selectors
from api.models import Scope
from api.v1.common import NOT_FOUND, ApiError, Error, Key, bad_request, conflict, not_found, page, responses
from campaigns import selectors as campaign_selectors
from campaigns import services
from campaigns.forms import contact_choices
from campaigns.messages import contact_name
from campaigns.models import Campaign
from campaigns.rendering import CampaignRenderError, compile_campaign
from campaigns.versions import content_for
from subscribers.models import Topic
from subscribers.tokens import preferences_url, unsubscribe_url

router = Router(tags=["campaigns"])
READ = Key(Scope.CAMPAIGNS_READ)
WRITE = Key(Scope.CAMPAIGNS_WRITE)
CampaignStatus = Literal["draft", "scheduled", "sending", "paused", "sent", "cancelled"]


class VersionIO(Schema):
    """A campaign's content in a language other than its default one."""

    subject: str = Field(min_length=1, max_length=255)
    preheader: str = Field("", max_length=255)
    mjml_body: str = Field(min_length=1)
    text_body: str = ""


class CampaignOut(Schema):
    id: int
    name: str
    default_language: str
    versions: dict[str, VersionIO]
    subject: str
    preheader: str
    from_name: str
    topics: list[str]
    contact_id: int | None
    segment_id: int | None
    mjml_body: str
    text_body: str
    status: CampaignStatus
    scheduled_at: datetime | None
    started_at: datetime | None
    finished_at: datetime | None
    created_at: datetime


class CampaignPage(Schema):
    items: list[CampaignOut]
    next_after: int | None


class CampaignIn(Schema):
    name: str = Field(min_length=1, max_length=200)
    subject: str = Field(min_length=1, max_length=255)
    preheader: str = Field("", max_length=255)
    from_name: str = Field("", max_length=200)
    topics: list[str] = Field(min_length=1, description="Topic slugs.")
    contact_id: int | None = Field(
        None, description="Who answers replies (default: the first topic's owner)."
    )
    segment_id: int | None = Field(
        None, description="Narrow the topics' audience to this segment (/segments)."
    )
    mjml_body: str = Field(min_length=1)
    text_body: str = ""
    default_language: str | None = Field(
        None, description="The language of the content above (default: the site's language)."
    )
    versions: dict[str, VersionIO] | None = Field(
        None,
        description="The other languages' versions by language code; each subscriber gets the one in "
        "their language, else the default.",
    )


class CampaignPatch(Schema):
    name: str | None = Field(None, min_length=1, max_length=200)
    subject: str | None = Field(None, min_length=1, max_length=255)
    preheader: str | None = Field(None, max_length=255)
    from_name: str | None = Field(None, max_length=200)
    topics: list[str] | None = Field(None, min_length=1)
    contact_id: int | None = None
    segment_id: int | None = None
    mjml_body: str | None = Field(None, min_length=1)
    text_body: str | None = None
    default_language: str | None = None
    versions: dict[str, VersionIO] | None = Field(
        None, description="All the other languages' versions (those left out are removed); absent: unchanged."
    )


class PreviewIn(Schema):
    subscriber_id: int | None = Field(None, description="Render for this subscriber (default: a sample one).")


class PreviewOut(Schema):
    subject: str
    html: str
    text: str


class TestSendIn(Schema):
    addresses: list[str] = Field(min_length=1, max_length=services.MAX_TEST_ADDRESSES)


class TestSendOut(Schema):
    sent: list[str]
    errors: dict[str, str]


class ScheduleIn(Schema):
    at: datetime | None = Field(None, description="When to send; empty or past: now.")


class StatsOut(Schema):
    status: CampaignStatus
    audience: int
    queued: int
    sending: int = Field(description="Handed over to the mail server, not yet recorded as sent.")
    sent: int
    failed: int
    bounced: int
    complained: int
    soft_bounces: int
    unsubscribes: int
    replies: int
    repliers: int
    unconfirmed: int = Field(
        description="Sent mails handed over while a sending process was killed (maybe not taken)."
    )
    delivered: int
    reply_rate_percent: float
    progress_percent: int


def campaign_out(campaign: Campaign) -> dict:
    return {
        "id": campaign.pk,
        "name": campaign.name,
        "default_language": campaign.default_language,
        "versions": {
            version.language: {
                "subject": version.subject,
                "preheader": version.preheader,
                "mjml_body": version.mjml_body,
                "text_body": version.text_body,
            }
            for version in campaign.versions.all()
        },
        "subject": campaign.subject,
        "preheader": campaign.preheader,
        "from_name": campaign.from_name,
        "topics": sorted(topic.slug for topic in campaign.topics.all()),
        "contact_id": campaign.contact_id,
        "segment_id": campaign.segment_id,
        "mjml_body": campaign.mjml_body,
        "text_body": campaign.text_body,
        "status": campaign.status,
        "scheduled_at": campaign.scheduled_at,
        "started_at": campaign.started_at,
        "finished_at": campaign.finished_at,
        "created_at": campaign.created_at,
    }


def _campaign_or_404(pk: int) -> Campaign:
    campaign = selectors.campaign(pk)
    if campaign is None:
        raise not_found()
    return campaign


def _render_errors(exc: CampaignRenderError, *, prefix: str = "") -> ApiError:
    fields: dict[str, dict] = {}
    for problem in exc.problems:
        name = prefix + ("text_body" if problem.part == "text" else "mjml_body")
        line = _("Line %(line)s: ") % {"line": problem.line} if problem.line else ""
        fields.setdefault(name, {"code": "render_error", "message": f"{line}{problem.message}"})
    return ApiError(400, "invalid", _("The request has errors; see “fields”."), fields)


def _topics(slugs: list[str]) -> list[Topic]:
    wanted = list(dict.fromkeys(slugs))
    found = {
        topic.slug: topic for topic in selectors.live_topics().filter(slug__in=wanted).select_related("owner")
    }
    unknown = [slug for slug in wanted if slug not in found]
    if unknown:
        raise bad_request(
            "topics", "unknown_topics", _("Unknown topics: %(slugs)s") % {"slugs": ", ".join(unknown)}
        )
    return [found[slug] for slug in wanted]


def _contact(contact_id: int | None, topics: list[Topic]):
    if contact_id is not None:
        contact = contact_choices().filter(pk=contact_id).first()
        if contact is None:
            raise bad_request(
                "contact_id", "unknown_contact", _("No staff member with this id can answer replies.")
            )
        return contact
    first = sorted(topics, key=lambda topic: topic.pk)[0]
    if first.owner_id is None:
        raise bad_request(
            "contact_id",
            "required",
            _(
                "Choose the contact person: the footer of every mail names who answers replies, "
                "and the first topic has no owner to stand in."
            ),
        )
    return first.owner


def _save(request: HttpRequest, campaign: Campaign | None, values: dict, contact_id: int | None) -> Campaign:
    topics = _topics(values["topics"])
    contact = _contact(contact_id, topics)
    segment = None
    if values.get("segment_id") is not None:
        segment = selectors.segments().filter(pk=values["segment_id"]).first()
        if segment is None:
            raise bad_request("segment_id", "not_found", _("No segment with this id."))
    versions = values.get("versions")
    for language, version in [(None, values), *(versions or {}).items()]:
        try:
            compile_campaign(mjml_body=version["mjml_body"], text_body=version["text_body"])
        except CampaignRenderError as exc:
            raise _render_errors(exc, prefix=f"versions.{language}." if language else "") from exc
    try:
        return services.save_campaign(
            campaign=campaign,
            name=values["name"],
            topics=topics,
            subject=values["subject"],
            preheader=values["preheader"],
            from_name=values["from_name"],
            mjml_body=values["mjml_body"],
            text_body=values["text_body"],
            contact=contact,
            user=request.api_key.created_by,
            segment=segment,
            default_language=values.get("default_language"),
            versions=versions,
        )
    except services.CampaignStateError as exc:
        raise conflict(str(exc)) from exc
    except ValueError as exc:  # an unknown language, a version twice, one without subject or body
        raise bad_request("versions", "invalid", str(exc)) from exc


@router.get("/campaigns", response=responses({200: CampaignPage}), auth=READ, summary="List campaigns")
def list_campaigns(
    request: HttpRequest, status: CampaignStatus | None = None, after: int | None = None, limit: int = 50
):
    return page(selectors.campaigns(status=status), after=after, limit=limit, out=campaign_out)


@router.post(
    "/campaigns",
    response=responses({201: CampaignOut}),
    auth=WRITE,
    summary="Create a draft from MJML (checked like the editor: structure, template, footer)",
)
def create_campaign(request: HttpRequest, payload: CampaignIn):
    values = payload.model_dump()
    campaign = _save(request, None, values, payload.contact_id)
    return Status(201, campaign_out(_campaign_or_404(campaign.pk)))


@router.get("/campaigns/{campaign_id}", response=responses({200: CampaignOut}, NOT_FOUND), auth=READ)
def get_campaign(request: HttpRequest, campaign_id: int):
    return campaign_out(_campaign_or_404(campaign_id))


@router.patch(
    "/campaigns/{campaign_id}",
    response=responses({200: CampaignOut}, NOT_FOUND, {409: Error}),
    auth=WRITE,
    summary="Change a draft or scheduled campaign",
)
def update_campaign(request: HttpRequest, campaign_id: int, payload: CampaignPatch):
    campaign = _campaign_or_404(campaign_id)
    current = campaign_out(campaign)
    changes = payload.model_dump(exclude_unset=True)
    values = {name: changes[name] if changes.get(name) is not None else current[name] for name in current}
    values["segment_id"] = changes.get("segment_id", campaign.segment_id)  # null: no segment
    values["versions"] = changes.get("versions")  # absent (or null): the versions stay as they are
    contact_id = changes.get("contact_id", campaign.contact_id)
    _save(request, campaign, values, contact_id)
    return campaign_out(_campaign_or_404(campaign_id))


@router.post(
    "/campaigns/{campaign_id}/preview",
    response=responses({200: PreviewOut}, NOT_FOUND),
    auth=READ,
    summary="Render the campaign as a subscriber (or a sample one) would get it",
)
def preview_campaign(request: HttpRequest, campaign_id: int, payload: PreviewIn):
    campaign = _campaign_or_404(campaign_id)
    subscriber = None
    if payload.subscriber_id is not None:
        subscriber = selectors.subscriber(payload.subscriber_id)
        if subscriber is None:
            raise bad_request("subscriber_id", "not_found", _("No subscriber with this id."))
    language = subscriber.language if subscriber else request.LANGUAGE_CODE
    content = content_for(campaign, language)  # the reader's version, else the default one
    try:
        compiled = compile_campaign(
            **content.fields(),
            contact_name=contact_name(campaign),
            campaign_name=campaign.name,
        )
    except CampaignRenderError as exc:
        raise _render_errors(exc) from exc
    slugs = sorted(topic.slug for topic in campaign.topics.all())
    subscriber_id = subscriber.pk if subscriber else 0
    try:
        rendered = compiled.render(
            {
                "subscriber": {
                    "name": subscriber.name if subscriber else _("Alex Sample"),
                    "email": subscriber.email if subscriber else "alex@example.org",
                },
                "preferences_url": preferences_url(subscriber_id),
                "unsubscribe_url": unsubscribe_url(subscriber_id, slugs),
            },
            language=language,
        )
    except Exception as exc:  # a template filter failing on this subscriber's data: a 400, never a 500
        raise bad_request("mjml_body", "render_error", str(exc)) from exc
    return {"subject": rendered.subject, "html": rendered.html, "text": rendered.text}


@router.post(
    "/campaigns/{campaign_id}/test-send",
    response=responses({200: TestSendOut}, NOT_FOUND),
    auth=WRITE,
    summary="Send the campaign, marked [TEST], to up to 10 addresses",
)
def test_send_campaign(request: HttpRequest, campaign_id: int, payload: TestSendIn):
    campaign = _campaign_or_404(campaign_id)
    try:
        result = services.send_test(campaign=campaign, addresses=payload.addresses)
    except CampaignRenderError as exc:
        raise _render_errors(exc) from exc
    except ValueError as exc:
        raise bad_request("addresses", "invalid", str(exc)) from exc
    return {"sent": result.sent, "errors": result.errors}


def _state_change(action, campaign_id: int) -> dict:
    campaign = _campaign_or_404(campaign_id)
    try:
        action(campaign=campaign)
    except services.CampaignStateError as exc:
        raise conflict(str(exc)) from exc
    except CampaignRenderError as exc:
        raise _render_errors(exc) from exc
    return campaign_out(_campaign_or_404(campaign_id))


@router.post(
    "/campaigns/{campaign_id}/schedule",
    response=responses({200: CampaignOut}, NOT_FOUND, {409: Error}),
    auth=WRITE,
    summary="Send now, or schedule for a time",
)
def schedule_campaign(request: HttpRequest, campaign_id: int, payload: ScheduleIn):
    return _state_change(
        lambda campaign: services.launch_campaign(campaign=campaign, at=payload.at), campaign_id
    )


@router.post(
    "/campaigns/{campaign_id}/pause",
    response=responses({200: CampaignOut}, NOT_FOUND, {409: Error}),
    auth=WRITE,
)
def pause_campaign(request: HttpRequest, campaign_id: int):
    return _state_change(services.pause_campaign, campaign_id)


@router.post(
    "/campaigns/{campaign_id}/resume",
    response=responses({200: CampaignOut}, NOT_FOUND, {409: Error}),
    auth=WRITE,
)
def resume_campaign(request: HttpRequest, campaign_id: int):
    return _state_change(services.resume_campaign, campaign_id)


@router.post(
    "/campaigns/{campaign_id}/cancel",
    response=responses({200: CampaignOut}, NOT_FOUND, {409: Error}),
    auth=WRITE,
)
def cancel_campaign(request: HttpRequest, campaign_id: int):
    return _state_change(services.cancel_campaign, campaign_id)


@router.get("/campaigns/{campaign_id}/stats", response=responses({200: StatsOut}, NOT_FOUND), auth=READ)
def campaign_stats(request: HttpRequest, campaign_id: int):
    campaign = _campaign_or_404(campaign_id)
    return {"status": campaign.status, **campaign_selectors.campaign_stats(campaign).as_dict()}
