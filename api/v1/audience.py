"""The audience desk's definitions and imports: attributes, segments, CSV import jobs.

Attributes (typed fields on subscribers) and segments (saved filters) are read with
`audience:read` and made, changed and deleted with `audience:write`, through the audience desk's
services and with its form's rules; a segment's members are subscribers, so listing them also
needs `subscribers:read`. Attribute values are set on the subscriber
(`PATCH /subscribers/{id}` with `attributes`, `subscribers:write`), checked by the attribute's type.

An import through the API is the audience desk's import (audience.imports): the file is checked
row by row first (all or nothing, the CSV import's rules: a row with `consent_date` and
`consent_source` is imported with that prior consent, any other row gets the double opt-in
mail, suppressed addresses are never re-added), then run by a worker; poll its state.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Literal

from django.http import HttpRequest
from django.utils.translation import gettext as _
from ninja import Field, Router, Schema, Status

from api import selectors
from api.models import Scope
from api.v1.common import (
    NOT_FOUND,
    ApiError,
    Error,
    Key,
    bad_request,
    conflict,
    field_error,
    not_found,
    page,
    responses,
)
from api.v1.subscribers import SubscriberPage, subscriber_out
from audience import filters, imports
from audience import selectors as audience_selectors
from audience import services as audience_services
from audience.forms import AttributeForm
from subscribers.models import Attribute, ImportJob, Segment

router = Router(tags=["audience"])
READ = Key(Scope.AUDIENCE_READ)
WRITE = Key(Scope.AUDIENCE_WRITE)
MEMBERS = Key(Scope.AUDIENCE_READ, Scope.SUBSCRIBERS_READ)
IMPORT_READ = Key(Scope.SUBSCRIBERS_READ)
IMPORT_WRITE = Key(Scope.SUBSCRIBERS_WRITE)

AttributeKind = Literal["text", "number", "date", "choice", "yes_no"]
SuppressionFilter = Literal[
    "", "any", "none", "unsubscribed", "erased", "hard_bounce", "soft_bounces", "complaint", "manual"
]
MAX_CHOICE = 200


class AttributeOut(Schema):
    key: str
    label_en: str
    label_de: str
    kind: AttributeKind
    choices: list[str]
    is_public: bool


class AttributeIn(Schema):
    key: str = Field(description="Letters, digits, “-” and “_” (at most 50); cannot be changed later.")
    label_en: str
    label_de: str
    kind: AttributeKind = Field(description="Cannot be changed later (stored values are typed).")
    choices: list[str] = Field(default_factory=list, description="Only for the kind choice: at least one.")
    is_public: bool = Field(False, description="May be asked for on the signup page and in the API.")


class AttributePatch(Schema):
    label_en: str | None = None
    label_de: str | None = None
    choices: list[str] | None = Field(None, description="Only for the kind choice: the whole new list.")
    is_public: bool | None = None


class AttributeDeleted(Schema):
    key: str
    values_removed: int = Field(description="How many subscribers had a value for it (deleted with it).")


class Condition(Schema):
    """A condition on one attribute: `value` equals (text, choice, yes/no as "yes"/"no", number,
    date); `minimum`/`maximum` bound numbers and dates (YYYY-MM-DD), both inclusive."""

    key: str
    value: str = Field("", max_length=500)
    minimum: str = Field("", max_length=40)
    maximum: str = Field("", max_length=40)


class SegmentFilter(Schema):
    """The audience list's filters; every one given narrows the set (empty: every subscriber)."""

    q: str = Field("", max_length=200, description="Part of the address or name.")
    status: Literal["", "pending", "confirmed", "unsubscribed"] = ""
    topic: str | None = Field(None, description="A topic slug.")
    topic_status: Literal["pending", "active", "unsubscribed"] = Field(
        "active", description="The state in `topic`."
    )
    language: Literal["", "de", "en"] = ""
    source: Literal["", "form", "api", "import"] = Field("", description="How they signed up.")
    consent_from: date | None = Field(None, description="Confirmed on or after this day.")
    consent_to: date | None = Field(None, description="Confirmed on or before this day.")
    suppression: SuppressionFilter = Field("", description="On the suppression list: any, none, or a reason.")
    attributes: list[Condition] = Field(default_factory=list, max_length=50)
    consent_older_than_days: int | None = Field(None, ge=0, le=36500)
    consent_newer_than_days: int | None = Field(None, ge=0, le=36500)
    received_last: int | None = Field(None, ge=1, le=100, description="Received one of the last N campaigns.")
    not_received_last: int | None = Field(None, ge=1, le=100, description="Received none of the last N.")
    replied_last: int | None = Field(None, ge=1, le=100, description="Replied to one of the last N.")
    received_campaign: int | None = Field(
        None, ge=1, le=2**63 - 1, description="Received this campaign (id)."
    )


class SegmentIn(Schema):
    name: str = Field(max_length=200)
    definition: SegmentFilter = Field(default_factory=SegmentFilter)


class SegmentPatch(Schema):
    name: str | None = Field(None, max_length=200)
    definition: SegmentFilter | None = None


class SegmentOut(Schema):
    id: int
    name: str
    definition: SegmentFilter
    created_at: datetime
    updated_at: datetime


class SegmentCount(Schema):
    count: int
    exact: bool = Field(
        description="False: counting exactly would have taken too long; `count` is the database's estimate."
    )


class SegmentPage(Schema):
    items: list[SegmentOut]
    next_after: int | None


class ImportIn(Schema):
    topic: str = Field(description="The topic slug the rows subscribe to.")
    source: str = Field(min_length=1, max_length=200, description="Where the addresses come from.")
    csv: str = Field(min_length=1, description="UTF-8 CSV with a header line (columns: see mapping).")
    mapping: dict[str, str] | None = Field(
        None,
        description="Header column -> email, name, language, consent_date, consent_source or '' (ignore); "
        "default: guessed from the header.",
    )


class ImportOut(Schema):
    id: int
    topic: str
    source: str
    status: Literal["draft", "waiting", "running", "done", "failed"]
    columns: list[str]
    mapping: dict[str, str]
    total: int
    done: int
    report: dict
    created_at: datetime
    finished_at: datetime | None


class ImportPage(Schema):
    items: list[ImportOut]
    next_after: int | None


def attribute_out(attribute: Attribute) -> dict:
    return {
        "key": attribute.key,
        "label_en": attribute.label_en,
        "label_de": attribute.label_de,
        "kind": attribute.kind,
        "choices": [str(choice) for choice in attribute.choices],
        "is_public": attribute.is_public,
    }


def definition_out(definition: dict) -> dict:
    """A stored filter as the API shows it: the topic by its slug."""
    data = filters.AudienceFilter.from_json(definition).as_json()
    if data.get("topic") is not None:
        data["topic"] = selectors.topics().filter(pk=data["topic"]).values_list("slug", flat=True).first()
    data["topic_status"] = data.get("topic_status") or "active"
    return data


def segment_out(segment: Segment) -> dict:
    return {
        "id": segment.pk,
        "name": segment.name,
        "definition": definition_out(segment.definition),
        "created_at": segment.created_at,
        "updated_at": segment.updated_at,
    }


def import_out(job: ImportJob) -> dict:
    return {
        "id": job.pk,
        "topic": job.topic.slug,
        "source": job.source,
        "status": job.status,
        "columns": job.columns,
        "mapping": job.mapping,
        "total": job.total,
        "done": imports.progress(job),
        "report": job.report,
        "created_at": job.created_at,
        "finished_at": job.finished_at,
    }


@router.get(
    "/attributes", response=responses({200: list[AttributeOut]}), auth=READ, summary="Subscriber fields"
)
def list_attributes(request: HttpRequest):
    return [attribute_out(attribute) for attribute in selectors.attributes()]


@router.get("/segments", response=responses({200: SegmentPage}), auth=READ, summary="Saved audience filters")
def list_segments(request: HttpRequest, after: int | None = None, limit: int = 50):
    return page(selectors.segments(), after=after, limit=limit, out=segment_out)


@router.get("/imports", response=responses({200: ImportPage}), auth=IMPORT_READ, summary="CSV import jobs")
def list_imports(request: HttpRequest, after: int | None = None, limit: int = 50):
    return page(selectors.import_jobs(), after=after, limit=limit, out=import_out)


@router.get("/imports/{import_id}", response=responses({200: ImportOut}, NOT_FOUND), auth=IMPORT_READ)
def get_import(request: HttpRequest, import_id: int):
    job = selectors.import_jobs().filter(pk=import_id).first()
    if job is None:
        raise not_found()
    return import_out(job)


@router.post(
    "/imports",
    response=responses({202: ImportOut}, {409: Error}),
    summary="Import a CSV file (checked first; all rows or none)",
    auth=IMPORT_WRITE,
)
def create_import(request: HttpRequest, payload: ImportIn):
    topic = selectors.live_topics().filter(slug=payload.topic).first()
    if topic is None:
        raise bad_request(
            "topic", "unknown_topics", _("Unknown topics: %(slugs)s") % {"slugs": payload.topic}
        )
    owner = request.api_key.created_by
    if owner is None:
        raise conflict(_("The manager who made this API key can no longer log in; make a new key."))
    try:
        job = imports.start_draft(
            data=payload.csv.encode(), filename="api.csv", topic=topic, source=payload.source, user=owner
        )
    except imports.UnreadableFile as exc:
        raise bad_request(
            "csv", "unreadable", _("Not a CSV file with a header line (%(why)s).") % {"why": exc}
        ) from exc
    if payload.mapping is not None:
        unknown = sorted(set(payload.mapping) - set(job.columns))
        if unknown:
            raise bad_request(
                "mapping",
                "unknown_columns",
                _("Not in the header: %(names)s") % {"names": ", ".join(unknown)},
            )
        job = imports.save_mapping(job=job, mapping=payload.mapping)
    checked = imports.check(job)  # the UI's dry run: a file with bad rows is refused whole
    if checked.errors:
        raise ApiError(
            400,
            "invalid",
            _("The file has errors; nothing was imported."),
            {"csv": {"code": "bad_rows", "message": "; ".join(str(error) for error in checked.errors[:20])}},
        )
    try:
        job = imports.launch(job=job)
    except imports.NotStartable as exc:
        raise conflict(_("This import was started already.")) from exc
    return Status(202, import_out(selectors.import_jobs().get(pk=job.pk)))


# Attributes.


def _form_errors(form, names: dict[str, str] | None = None) -> ApiError:
    """A form's errors as a 400 naming each field (``names`` renames form fields to the API's)."""
    names = names or {}
    fields: dict[str, dict] = {}
    for name, errors in form.errors.as_data().items():
        first = errors[0]
        fields.update(field_error(names.get(name, name), first.code or "invalid", first.messages[0]))
    return ApiError(400, "invalid", _("The request has errors; see “fields”."), fields)


def _choices(raw: list[str]) -> list[str]:
    cleaned = [choice.strip() for choice in raw]
    for choice in cleaned:
        if not choice or "\n" in choice or "\r" in choice or len(choice) > MAX_CHOICE:
            raise bad_request(
                "choices",
                "invalid",
                _("Each choice is one line of 1 to %(most)d characters.") % {"most": MAX_CHOICE},
            )
    return list(dict.fromkeys(cleaned))


def _attribute_or_404(key: str) -> Attribute:
    attribute = selectors.attributes().filter(key=key).first()
    if attribute is None:
        raise not_found()
    return attribute


def _save_attribute(attribute: Attribute | None, data: dict) -> Attribute:
    """Checked by the audience desk's own form (key format, uniqueness, labels, choices)."""
    if data["choices"] and data["kind"] != Attribute.Kind.CHOICE:
        raise bad_request("choices", "not_allowed", _("Only attributes of the type Choice have choices."))
    form = AttributeForm(
        {
            "key": data["key"],
            "label_en": data["label_en"],
            "label_de": data["label_de"],
            "kind": data["kind"],
            "is_public": data["is_public"],
            "choices_text": "\n".join(data["choices"]),
        },
        instance=attribute,
    )
    if not form.is_valid():
        raise _form_errors(form, {"choices_text": "choices"})
    cleaned = form.cleaned_data
    return audience_services.save_attribute(
        attribute=attribute,
        key=attribute.key if attribute else cleaned["key"],
        label_en=cleaned["label_en"],
        label_de=cleaned["label_de"],
        kind=attribute.kind if attribute else cleaned["kind"],
        choices=cleaned["choices"],
        is_public=cleaned["is_public"],
    )


@router.post(
    "/attributes", response=responses({201: AttributeOut}), auth=WRITE, summary="Define a subscriber field"
)
def create_attribute(request: HttpRequest, payload: AttributeIn):
    data = payload.model_dump()
    data["choices"] = _choices(payload.choices)
    return Status(201, attribute_out(_save_attribute(None, data)))


@router.get(
    "/attributes/{key}", response=responses({200: AttributeOut}, NOT_FOUND), auth=READ, summary="One field"
)
def get_attribute(request: HttpRequest, key: str):
    return attribute_out(_attribute_or_404(key))


@router.patch(
    "/attributes/{key}",
    response=responses({200: AttributeOut}, NOT_FOUND),
    auth=WRITE,
    summary="Change a field's labels, choices or visibility (key and kind stay)",
)
def update_attribute(request: HttpRequest, key: str, payload: AttributePatch):
    attribute = _attribute_or_404(key)
    if payload.choices is not None:
        choices = _choices(payload.choices)
    else:
        choices = list(attribute.choices) if attribute.kind == Attribute.Kind.CHOICE else []
    data = {
        "key": attribute.key,
        "kind": attribute.kind,
        "label_en": attribute.label_en if payload.label_en is None else payload.label_en,
        "label_de": attribute.label_de if payload.label_de is None else payload.label_de,
        "is_public": attribute.is_public if payload.is_public is None else payload.is_public,
        "choices": choices,
    }
    return attribute_out(_save_attribute(attribute, data))


@router.delete(
    "/attributes/{key}",
    response=responses({200: AttributeDeleted}, NOT_FOUND),
    auth=WRITE,
    summary="Delete a field and every value stored for it",
)
def delete_attribute(request: HttpRequest, key: str):
    attribute = _attribute_or_404(key)
    removed = audience_services.delete_attribute(attribute=attribute)
    return {"key": key, "values_removed": removed}


# Segments.


def _segment_or_404(segment_id: int) -> Segment:
    segment = selectors.segments().filter(pk=segment_id).first()
    if segment is None:
        raise not_found()
    return segment


def _filter_in(given: SegmentFilter) -> filters.AudienceFilter:
    """The API's filter as the audience desk's, checked there (topics, campaigns, attribute values)."""
    data = given.model_dump()
    topic_id = None
    if given.topic:
        topic_id = selectors.topics().filter(slug=given.topic).values_list("pk", flat=True).first()
        if topic_id is None:
            raise bad_request("definition.topic", "not_found", _("No topic with this slug."))
    data["topic"] = topic_id
    for name in ("consent_from", "consent_to"):
        data[name] = data[name].isoformat() if data[name] else None
    spec = filters.AudienceFilter.from_json(data)
    problems = filters.problems(spec)
    if problems:
        raise ApiError(
            400,
            "invalid",
            _("The request has errors; see “fields”."),
            {
                f"definition.{name}": {"code": "invalid", "message": str(message)}
                for name, message in problems.items()
            },
        )
    return spec


def _name(raw: str) -> str:
    name = raw.strip()
    if not name:
        raise bad_request("name", "required", _("Give the segment a name."))
    return name


@router.post("/segments", response=responses({201: SegmentOut}), auth=WRITE, summary="Save a filter")
def create_segment(request: HttpRequest, payload: SegmentIn):
    name = _name(payload.name)
    spec = _filter_in(payload.definition)
    segment = audience_services.save_segment(
        segment=None, name=name, definition=spec.as_json(), user=request.api_key.created_by
    )
    return Status(201, segment_out(segment))


@router.get(
    "/segments/{segment_id}",
    response=responses({200: SegmentOut}, NOT_FOUND),
    auth=READ,
    summary="One segment",
)
def get_segment(request: HttpRequest, segment_id: int):
    return segment_out(_segment_or_404(segment_id))


@router.patch(
    "/segments/{segment_id}",
    response=responses({200: SegmentOut}, NOT_FOUND),
    auth=WRITE,
    summary="Rename a segment or replace its filter",
)
def update_segment(request: HttpRequest, segment_id: int, payload: SegmentPatch):
    segment = _segment_or_404(segment_id)
    name = _name(payload.name) if payload.name is not None else segment.name
    definition = (
        _filter_in(payload.definition).as_json() if payload.definition is not None else segment.definition
    )
    saved = audience_services.save_segment(
        segment=segment, name=name, definition=definition, user=request.api_key.created_by
    )
    return segment_out(saved)


@router.delete(
    "/segments/{segment_id}",
    response=responses({204: None}, NOT_FOUND, {409: Error}),
    auth=WRITE,
    summary="Delete a segment (not while a campaign is narrowed by it)",
)
def delete_segment(request: HttpRequest, segment_id: int):
    try:
        audience_services.delete_segment(segment=_segment_or_404(segment_id))
    except audience_services.SegmentInUse as exc:
        raise conflict(_("A campaign is narrowed by this segment; it cannot be deleted.")) from exc
    return Status(204, None)


def _matching(segment: Segment):
    return filters.subscribers_matching(filters.AudienceFilter.from_json(segment.definition))


@router.get(
    "/segments/{segment_id}/count",
    response=responses({200: SegmentCount}, NOT_FOUND),
    auth=READ,
    summary="How many subscribers the segment holds now",
)
def count_segment(request: HttpRequest, segment_id: int):
    total = audience_selectors.count(_matching(_segment_or_404(segment_id)))
    return {"count": total.value, "exact": total.exact}


@router.get(
    "/segments/{segment_id}/members",
    response=responses({200: SubscriberPage}, NOT_FOUND),
    auth=MEMBERS,
    summary="The segment's subscribers now, in pages by id",
)
def segment_members(request: HttpRequest, segment_id: int, after: int | None = None, limit: int = 50):
    members = _matching(_segment_or_404(segment_id)).prefetch_related("subscriptions__topic")
    return page(members, after=after, limit=limit, out=subscriber_out)
