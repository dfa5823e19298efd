"""The audience desk's definitions and imports: attributes, segments, CSV import jobs.

An import through the API is the audience desk's import (audience.imports): the file is checked
row by row first (all or nothing, the CSV import's rules: a row with `consent_date` and
`consent_source` is imported with that prior consent, any other row gets the double opt-in
mail, suppressed addresses are never re-added), then run by a worker; poll its state.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from django.http import HttpRequest
from django.utils.translation import gettext as _
from ninja import Field, Router, Schema, Status

from api import selectors
from api.models import Scope
from api.v1.common import NOT_FOUND, ApiError, Error, Key, bad_request, conflict, not_found, page, responses
from audience import imports
from subscribers.models import Attribute, ImportJob, Segment

router = Router(tags=["audience"])
READ = Key(Scope.SUBSCRIBERS_READ)
WRITE = Key(Scope.SUBSCRIBERS_WRITE)


class AttributeOut(Schema):
    key: str
    label_en: str
    label_de: str
    kind: Literal["text", "number", "date", "choice", "yes_no"]
    choices: list[str]
    is_public: bool


class SegmentOut(Schema):
    id: int
    name: str
    definition: dict
    created_at: datetime
    updated_at: datetime


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


def segment_out(segment: Segment) -> dict:
    return {
        "id": segment.pk,
        "name": segment.name,
        "definition": segment.definition,
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


@router.get("/imports", response=responses({200: ImportPage}), auth=READ, summary="CSV import jobs")
def list_imports(request: HttpRequest, after: int | None = None, limit: int = 50):
    return page(selectors.import_jobs(), after=after, limit=limit, out=import_out)


@router.get("/imports/{import_id}", response=responses({200: ImportOut}, NOT_FOUND), auth=READ)
def get_import(request: HttpRequest, import_id: int):
    job = selectors.import_jobs().filter(pk=import_id).first()
    if job is None:
        raise not_found()
    return import_out(job)


@router.post(
    "/imports",
    response=responses({202: ImportOut}, {409: Error}),
    auth=WRITE,
    summary="Import a CSV file (checked first; all rows or none)",
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
