"""Topics, subscribers (create, read, update, search, unsubscribe, erase) and their consent history.

Creating a subscriber starts the double opt-in, like the signup page, unless the request
carries proof of a consent given before (date and source), which is recorded as such
(ConsentEvent "imported", its details naming the API key). Unlike `POST /api/subscribe`,
these operations need a key with the subscribers scopes, so they answer with what happened.
"""

from __future__ import annotations

import math
from datetime import date, datetime
from typing import Literal

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import validate_ipv46_address
from django.db import transaction
from django.http import HttpRequest
from django.utils import timezone
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
    not_found,
    page,
    responses,
)
from audience import services as audience_services
from rundbrief.events import emit
from subscribers import importing, services
from subscribers import selectors as subscriber_selectors
from subscribers.attributes import clean_value
from subscribers.models import ConsentEvent, Subscriber, Topic
from subscribers.validation import clean_email, clean_name

router = Router(tags=["subscribers"])
READ = Key(Scope.SUBSCRIBERS_READ)
WRITE = Key(Scope.SUBSCRIBERS_WRITE)

Language = Literal["de", "en"]
SubscriberStatus = Literal["pending", "confirmed", "unsubscribed"]


class TopicText(Schema):
    name: str
    description: str


class TopicOut(Schema):
    slug: str
    name: str
    description: str
    is_public: bool
    translations: dict[str, TopicText] = Field(
        default_factory=dict,
        description="Name and description per language of the site (an empty one falls back to "
        "another language's).",
    )


class TopicPage(Schema):
    items: list[TopicOut]
    next_after: int | None


class SubscriptionOut(Schema):
    topic: str
    status: Literal["pending", "active", "unsubscribed"]
    confirmed_at: datetime | None
    unsubscribed_at: datetime | None


class SubscriberOut(Schema):
    id: int
    email: str
    name: str
    language: str
    status: SubscriberStatus
    frequency: Literal["every", "week", "month"]
    frequency_limit: int
    paused_until: date | None
    format: Literal["html", "text"]
    created_at: datetime
    confirmed_at: datetime | None
    unsubscribed_at: datetime | None
    subscriptions: list[SubscriptionOut]
    attributes: dict = Field(
        description="Values of the attributes defined in the audience desk (/attributes)."
    )


class SubscriberPage(Schema):
    items: list[SubscriberOut]
    next_after: int | None


class PriorConsent(Schema):
    date: datetime = Field(description="When the person consented (not in the future).")
    source: str = Field(min_length=1, max_length=200, description="Where, e.g. “trade fair form 2025”.")


class SubscriberIn(Schema):
    email: str
    name: str = ""
    language: Language | None = None
    topics: list[str] = Field(description="Topic slugs (at least one).")
    consent_version: str | None = Field(
        None, description="The consent text version shown (default: current)."
    )
    prior_consent: PriorConsent | None = Field(
        None, description="Proof of a consent given before: the subscriber is confirmed without a mail."
    )
    signup_ip: str | None = Field(
        None, description="The person's IP address, if the calling system knows it."
    )
    signup_user_agent: str = ""
    attributes: dict[str, str | int | float | bool | None] = Field(
        default_factory=dict,
        description="Attribute values (/attributes), each checked by its type; stored for a subscriber "
        "this request creates (an existing one's values are changed with PATCH).",
    )


class CreatedOut(Schema):
    status: Literal["confirmation_sent", "confirmed", "unchanged"]
    subscriber: SubscriberOut


class SubscriberPatch(Schema):
    name: str | None = None
    language: Language | None = None
    frequency: Literal["every", "week", "month"] | None = None
    frequency_limit: int | None = Field(None, ge=1, le=100)
    paused_until: date | None = None
    format: Literal["html", "text"] | None = None
    topics: list[str] | None = Field(None, description="The topics wanted; new ones need confirmation.")
    attributes: dict[str, str | int | float | bool | None] | None = Field(
        None, description="Attribute values by key (null removes one); the others stay."
    )


class UpdatedOut(Schema):
    subscriber: SubscriberOut
    awaiting_confirmation: list[str]
    confirmation_mail: str


class UnsubscribeIn(Schema):
    topics: list[str] = Field(default_factory=list, description="Empty: from everything.")


class ConsentEventOut(Schema):
    kind: str
    source: str
    created_at: datetime
    ip_address: str | None
    user_agent: str
    topics: list[str]
    consent_text: str
    consent_text_version: str
    details: dict


def topic_out(topic: Topic) -> dict:
    return {
        "slug": topic.slug,
        "name": topic.name,
        "description": topic.description,
        "is_public": topic.is_public,
        "translations": {
            code: {"name": topic.name_in(code), "description": topic.description_in(code)}
            for code, _language in settings.LANGUAGES
        },
    }


def subscriber_out(subscriber: Subscriber) -> dict:
    return {
        "id": subscriber.pk,
        "email": subscriber.email,
        "name": subscriber.name,
        "language": subscriber.language,
        "status": subscriber.status,
        "frequency": subscriber.frequency,
        "frequency_limit": subscriber.frequency_limit,
        "paused_until": subscriber.paused_until,
        "format": subscriber.format,
        "created_at": subscriber.created_at,
        "confirmed_at": subscriber.confirmed_at,
        "unsubscribed_at": subscriber.unsubscribed_at,
        "subscriptions": [
            {
                "topic": s.topic.slug,
                "status": s.status,
                "confirmed_at": s.confirmed_at,
                "unsubscribed_at": s.unsubscribed_at,
            }
            for s in sorted(subscriber.subscriptions.all(), key=lambda s: s.topic.slug)
        ],
        "attributes": subscriber.attributes,
    }


def _subscriber_or_404(pk: int) -> Subscriber:
    subscriber = selectors.subscriber(pk)
    if subscriber is None:
        raise not_found()
    return subscriber


def _topics(slugs: list[str], field: str = "topics") -> list[Topic]:
    if not slugs:
        raise bad_request(field, "required", _("Please choose at least one topic."))
    wanted = list(dict.fromkeys(slugs))
    found = {topic.slug: topic for topic in selectors.live_topics().filter(slug__in=wanted)}
    unknown = [slug for slug in wanted if slug not in found]
    if unknown:
        raise bad_request(
            field, "unknown_topics", _("Unknown topics: %(slugs)s") % {"slugs": ", ".join(unknown)}
        )
    return [found[slug] for slug in wanted]


def _clean(field: str, clean, value):
    try:
        return clean(value)
    except ValidationError as exc:
        raise bad_request(field, exc.error_list[0].code or "invalid", exc.messages[0]) from exc


@router.get("/topics", response=responses({200: TopicPage}), auth=READ, summary="List topics")
def list_topics(request: HttpRequest, after: int | None = None, limit: int = 50):
    return page(selectors.topics(), after=after, limit=limit, out=topic_out)


@router.get("/topics/{slug}", response=responses({200: TopicOut}, NOT_FOUND), auth=READ, summary="One topic")
def get_topic(request: HttpRequest, slug: str):
    topic = selectors.topics().filter(slug=slug).first()
    if topic is None:
        raise not_found()
    return topic_out(topic)


@router.get(
    "/subscribers", response=responses({200: SubscriberPage}), auth=READ, summary="Search subscribers"
)
def list_subscribers(
    request: HttpRequest,
    email: str | None = None,
    q: str | None = None,
    status: SubscriberStatus | None = None,
    topic: str | None = None,
    after: int | None = None,
    limit: int = 50,
):
    rows = selectors.subscribers(email=email, q=q, status=status, topic=topic)
    return page(rows, after=after, limit=limit, out=subscriber_out)


@router.post(
    "/subscribers",
    response=responses({201: CreatedOut, 202: CreatedOut}, {409: Error, 503: Error}),
    auth=WRITE,
    summary="Create a subscriber (double opt-in, or with proof of a prior consent)",
)
def create_subscriber(request: HttpRequest, payload: SubscriberIn):
    email = _clean("email", clean_email, payload.email)
    name = _clean("name", clean_name, payload.name)
    topics = _topics(payload.topics)
    values = {key: value for key, value in _clean_attributes(payload.attributes).items() if value is not None}
    language = payload.language
    consent_language = language or "de"
    try:
        if payload.consent_version is None:
            consent = subscriber_selectors.current_consent_text(consent_language)
        else:
            consent = subscriber_selectors.consent_text(
                version=payload.consent_version, language=consent_language
            )
            if consent is None:
                raise bad_request(
                    "consent_version",
                    "unknown_consent_version",
                    _("No consent text with this version exists in this language."),
                )
    except subscriber_selectors.NoConsentText as exc:
        raise ApiError(503, "unavailable", _("Signup is closed: no consent text is published.")) from exc
    if payload.prior_consent is not None:
        return _create_with_prior_consent(
            request, email, name, language, topics, payload.prior_consent, values
        )
    if payload.signup_ip is not None:
        _clean("signup_ip", _ip, payload.signup_ip)
    before = selectors.subscribers(email=email).first()
    services.request_subscription(
        email=email,
        topics=topics,
        name=name,
        language=language,
        source=ConsentEvent.Source.API,
        consent=consent,
        ip=payload.signup_ip,
        user_agent=payload.signup_user_agent,
        attributes=values,
    )
    subscriber = selectors.subscribers(email=email).first()
    pending = any(s.status == "pending" for s in subscriber.subscriptions.all())
    status = "confirmation_sent" if pending else "unchanged"
    return Status(
        201 if before is None else 202, {"status": status, "subscriber": subscriber_out(subscriber)}
    )


def _ip(value: str) -> str:
    validate_ipv46_address(value)
    return value


def _create_with_prior_consent(request, email, name, language, topics, proof: PriorConsent, values: dict):
    consent_date = proof.date if timezone.is_aware(proof.date) else timezone.make_aware(proof.date)
    if consent_date > timezone.now():
        raise bad_request("prior_consent.date", "in_the_future", _("The consent date lies in the future."))
    row = importing.Row(
        line=1,
        email=email,
        name=name,
        language=language,
        consent_date=consent_date,
        consent_source=proof.source,
    )
    before = selectors.subscribers(email=email).first()
    confirmed: list[str] = []
    for topic in topics:
        report = importing.import_rows(rows=[row], topic=topic, source=f"api key {request.api_key.prefix}")
        if report.suppressed:
            raise conflict(
                _("This address is on the suppression list (%(reason)s); only the person can sign up again.")
                % {"reason": selectors.suppression_reason(email)}
            )
        if report.confirmed:
            confirmed.append(topic.slug)
    subscriber = selectors.subscribers(email=email).first()
    if before is None and values:
        _save_attributes(request, subscriber, values)
        subscriber = selectors.subscribers(email=email).first()
    if confirmed:  # announced like a confirmation click (CSV imports in the audience desk are not)
        emit("subscriber.confirmed", subscriber_id=subscriber.pk, topics=confirmed, prior_consent=True)
    status = "confirmed" if confirmed else "unchanged"
    return Status(
        201 if before is None else 202, {"status": status, "subscriber": subscriber_out(subscriber)}
    )


@router.get(
    "/subscribers/{subscriber_id}",
    response=responses({200: SubscriberOut}, NOT_FOUND),
    auth=READ,
    summary="One subscriber",
)
def get_subscriber(request: HttpRequest, subscriber_id: int):
    return subscriber_out(_subscriber_or_404(subscriber_id))


@router.patch(
    "/subscribers/{subscriber_id}",
    response=responses({200: UpdatedOut}, NOT_FOUND),
    auth=WRITE,
    summary="Change preferences (new topics need the subscriber's confirmation)",
)
def update_subscriber(request: HttpRequest, subscriber_id: int, payload: SubscriberPatch):
    subscriber = _subscriber_or_404(subscriber_id)
    # Everything is checked before anything is written: a bad field changes nothing.
    values = _clean_attributes(payload.attributes) if payload.attributes else {}
    if subscriber.status == Subscriber.Status.UNSUBSCRIBED and payload.topics:
        raise conflict(_("This subscriber has unsubscribed from everything; only they can sign up again."))
    current = [s.topic for s in subscriber.subscriptions.all() if s.status != "unsubscribed"]
    topics = current if payload.topics is None else (_topics(payload.topics) if payload.topics else [])
    name = subscriber.name if payload.name is None else _clean("name", clean_name, payload.name)
    with transaction.atomic():
        if values:
            _save_attributes(request, subscriber, values)
            subscriber = _subscriber_or_404(subscriber_id)
        saved = services.update_preferences(
            subscriber=subscriber,
            topics=topics,
            frequency=payload.frequency or subscriber.frequency,
            frequency_limit=payload.frequency_limit or subscriber.frequency_limit,
            paused_until=payload.paused_until
            if "paused_until" in payload.model_fields_set
            else subscriber.paused_until,
            format=payload.format or subscriber.format,
            name=name,
            language=payload.language or subscriber.language,
        )
    return {
        "subscriber": subscriber_out(_subscriber_or_404(subscriber_id)),
        "awaiting_confirmation": saved.awaiting,
        "confirmation_mail": saved.confirmation_mail,
    }


def _clean_attributes(raw: dict) -> dict:
    """Values by key, each checked by its attribute's type (subscribers.attributes.clean_value)."""
    defined = {attribute.key: attribute for attribute in selectors.attributes().filter(key__in=list(raw))}
    values = {}
    for key, value in raw.items():
        if key not in defined:
            raise bad_request(f"attributes.{key}", "unknown_attribute", _("No attribute has this key."))
        if isinstance(value, float) and not math.isfinite(value):
            raise bad_request(f"attributes.{key}", "invalid", _("Enter a number."))
        values[key] = _clean(f"attributes.{key}", lambda v, a=defined[key]: clean_value(a, v), value)
    return values


def _save_attributes(request: HttpRequest, subscriber: Subscriber, values: dict) -> None:
    """Through the audience desk's service, recorded with the key's owner."""
    audience_services.update_subscriber(
        subscriber=subscriber,
        user=request.api_key.created_by,
        name=subscriber.name,
        language=subscriber.language,
        attributes=values,
    )


@router.post(
    "/subscribers/{subscriber_id}/unsubscribe",
    response=responses({200: SubscriberOut}, NOT_FOUND),
    auth=WRITE,
    summary="Unsubscribe from some topics, or from everything",
)
def unsubscribe_subscriber(request: HttpRequest, subscriber_id: int, payload: UnsubscribeIn):
    subscriber = _subscriber_or_404(subscriber_id)
    slugs = [topic.slug for topic in _topics(payload.topics)] if payload.topics else []
    services.unsubscribe(
        subscriber=subscriber,
        topic_slugs=slugs,
        source=ConsentEvent.Source.API,
        details={"api_key": request.api_key.prefix},
    )
    return subscriber_out(_subscriber_or_404(subscriber_id))


@router.delete(
    "/subscribers/{subscriber_id}",
    response=responses({204: None}, NOT_FOUND),
    auth=WRITE,
    summary="Erase a subscriber and every personal datum (only the address hash stays, suppressed)",
)
def erase_subscriber(request: HttpRequest, subscriber_id: int):
    services.erase(subscriber=_subscriber_or_404(subscriber_id), source=ConsentEvent.Source.API)
    return Status(204, None)


@router.get(
    "/subscribers/{subscriber_id}/consent-history",
    response=responses({200: list[ConsentEventOut]}, NOT_FOUND),
    auth=READ,
    summary="The consent proof of one subscriber (read-only)",
)
def consent_history(request: HttpRequest, subscriber_id: int):
    subscriber = _subscriber_or_404(subscriber_id)
    return [
        {
            "kind": event.kind,
            "source": event.source,
            "created_at": event.created_at,
            "ip_address": event.ip_address,
            "user_agent": event.user_agent,
            "topics": event.topics,
            "consent_text": event.consent_text,
            "consent_text_version": event.consent_text_version,
            "details": event.details,
        }
        for event in subscriber_selectors.consent_history(subscriber)
    ]
