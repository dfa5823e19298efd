"""Filters over subscribers: the audience list's filters, and what a segment saves.

One ``AudienceFilter`` describes a set of subscribers; ``subscribers_matching`` turns it into a
queryset computed in the database (never a list in memory), which the list pages with a keyset,
counts, exports, and which narrows a campaign's audience (campaigns.selectors). A segment stores
``AudienceFilter.as_json()``; values are typed again when it is read (``from_json``).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from datetime import date, datetime, time, timedelta
from decimal import Decimal, InvalidOperation

from django.db import connection
from django.db.models import DecimalField, Exists, OuterRef, Q, QuerySet
from django.db.models.fields.json import KeyTextTransform
from django.db.models.functions import Cast
from django.utils import timezone
from django.utils.translation import gettext as _

from campaigns.models import Campaign, Delivery
from subscribers.models import Attribute, ConsentEvent, Subscriber, Subscription, Suppression, Topic

# "bounced or suppressed": any reason, none, or one reason.
SUPPRESSION_ANY = "any"
SUPPRESSION_NONE = "none"
# Deliveries that reached the subscriber's server (a bounce or complaint was sent first).
RECEIVED = (Delivery.Status.SENT, Delivery.Status.BOUNCED, Delivery.Status.COMPLAINED)


@dataclass(frozen=True)
class AttributeCondition:
    """``value`` for text, choice and yes/no (equal); ``minimum``/``maximum`` for numbers and dates."""

    key: str
    value: str = ""
    minimum: str = ""
    maximum: str = ""


@dataclass(frozen=True)
class AudienceFilter:
    q: str = ""
    status: str = ""
    topic: int | None = None
    topic_status: str = Subscription.Status.ACTIVE
    language: str = ""
    source: str = ""
    consent_from: date | None = None
    consent_to: date | None = None
    suppression: str = ""
    attributes: tuple[AttributeCondition, ...] = field(default_factory=tuple)
    # Mostly for segments (the list offers them too):
    consent_older_than_days: int | None = None
    consent_newer_than_days: int | None = None
    received_last: int | None = None  # received at least one of the last N campaigns
    not_received_last: int | None = None  # received none of the last N campaigns
    replied_last: int | None = None  # replied to at least one of the last N campaigns
    received_campaign: int | None = None

    def as_json(self) -> dict:
        data = {}
        for item in fields(self):
            value = getattr(self, item.name)
            if item.name == "attributes":
                value = [asdict(condition) for condition in value]
            elif isinstance(value, date):
                value = value.isoformat()
            data[item.name] = value
        return data

    @classmethod
    def from_json(cls, data: dict) -> AudienceFilter:
        known = {item.name for item in fields(cls)}
        values = {key: value for key, value in data.items() if key in known}
        for key in ("consent_from", "consent_to"):
            if values.get(key):
                values[key] = date.fromisoformat(values[key])
        values["attributes"] = tuple(AttributeCondition(**c) for c in values.get("attributes") or ())
        return cls(**values)

    @property
    def is_empty(self) -> bool:
        return self == AudienceFilter()


def problems(spec: AudienceFilter) -> dict[str, str]:
    """What in a filter given from outside the list's form (the API) cannot be used, by field.

    The form offers only what exists; a filter sent as JSON may name a topic, campaign or
    attribute that does not, or give an attribute a value its type cannot hold. Paths name the
    attribute by key: ``attributes.plan.value``.
    """
    found: dict[str, str] = {}
    if spec.topic is not None and not Topic.objects.filter(pk=spec.topic).exists():
        found["topic"] = _("No topic with this slug.")
    if spec.received_campaign is not None and not (
        Campaign.objects.filter(pk=spec.received_campaign, started_at__isnull=False).exists()
    ):
        found["received_campaign"] = _("No campaign with this id has gone out.")
    if spec.consent_from and spec.consent_to and spec.consent_from > spec.consent_to:
        found["consent_to"] = _("The end lies before the start.")
    definitions = {a.key: a for a in Attribute.objects.filter(key__in=[c.key for c in spec.attributes])}
    seen: set[str] = set()
    for condition in spec.attributes:
        path = f"attributes.{condition.key}"
        definition = definitions.get(condition.key)
        if definition is None:
            found[path] = _("No attribute has this key.")
            continue
        if condition.key in seen:
            found[path] = _("Give each attribute once.")
            continue
        seen.add(condition.key)
        if not (condition.value or condition.minimum or condition.maximum):
            found[path] = _("Give a value, or a lower or upper bound.")
        found.update(_condition_problems(condition, definition, path))
    return found


def _condition_problems(condition: AttributeCondition, definition: Attribute, path: str) -> dict[str, str]:
    found: dict[str, str] = {}
    kind = definition.kind
    ranged = kind in (Attribute.Kind.NUMBER, Attribute.Kind.DATE)
    if not ranged:
        for part in ("minimum", "maximum"):
            if getattr(condition, part):
                found[f"{path}.{part}"] = _("Only numbers and dates have bounds.")
    parts = ("value", "minimum", "maximum") if ranged else ("value",)
    for part in parts:
        raw = getattr(condition, part)
        if not raw:
            continue
        if kind == Attribute.Kind.NUMBER and not _comparable(_number(raw)):
            found[f"{path}.{part}"] = _("Enter a number.")
        elif kind == Attribute.Kind.DATE and not _is_iso_date(raw):
            found[f"{path}.{part}"] = _("Enter a date as YYYY-MM-DD.")
        elif kind == Attribute.Kind.CHOICE and raw not in definition.choices:
            found[f"{path}.{part}"] = _("Choose one of: %(choices)s") % {
                "choices": ", ".join(definition.choices)
            }
        elif kind == Attribute.Kind.YES_NO and raw not in ("yes", "no"):
            found[f"{path}.{part}"] = _("Choose yes or no.")
    return found


def _comparable(number: Decimal | None) -> bool:
    """A number the database can compare with the stored values (numeric(30, 10), see below)."""
    return number is not None and number.is_finite() and abs(number) < Decimal(10) ** 20


def _is_iso_date(raw: str) -> bool:
    try:
        date.fromisoformat(raw)
    except ValueError:
        return False
    return len(raw) == 10


def _day_start(day: date) -> datetime:
    return timezone.make_aware(datetime.combine(day, time.min))


def _last_campaigns(count: int) -> QuerySet[Campaign]:
    """The last ``count`` campaigns that went out ("the last three issues")."""
    return (
        Campaign.objects.filter(started_at__isnull=False).order_by("-started_at", "-id").values("pk")[:count]
    )


def _received(campaigns) -> Exists:
    return Exists(
        Delivery.objects.filter(subscriber=OuterRef("pk"), campaign__in=campaigns, status__in=RECEIVED)
    )


def _number(raw: str) -> Decimal | None:
    try:
        return Decimal(raw)
    except (InvalidOperation, ValueError):
        return None


def _equals(qs: QuerySet[Subscriber], key: str, value: object) -> QuerySet[Subscriber]:
    """On PostgreSQL JSON containment (served by the GIN index); SQLite has no containment."""
    if connection.vendor == "postgresql":
        return qs.filter(attributes__contains={key: value})
    return qs.filter(**{f"attributes__{key}": value})


def _filter_attribute(
    qs: QuerySet[Subscriber], condition: AttributeCondition, definition: Attribute
) -> QuerySet[Subscriber]:
    """Equality uses JSON containment (the GIN index); ranges compare typed values."""
    key, kind = definition.key, definition.kind
    if condition.value:
        if kind == Attribute.Kind.YES_NO:
            qs = _equals(qs, key, condition.value in ("yes", "true", "1"))
        elif kind == Attribute.Kind.NUMBER:
            number = _number(condition.value)
            if number is not None:
                qs = _equals(qs, key, int(number) if number % 1 == 0 else float(number))
        else:
            qs = _equals(qs, key, condition.value)
    if kind == Attribute.Kind.NUMBER and (condition.minimum or condition.maximum):
        alias = f"attribute_{key.replace('-', '_')}"
        qs = qs.alias(
            **{
                alias: Cast(
                    KeyTextTransform(key, "attributes"), DecimalField(max_digits=30, decimal_places=10)
                )
            }
        )
        for bound, lookup in ((condition.minimum, "gte"), (condition.maximum, "lte")):
            number = _number(bound)
            if number is not None:
                qs = qs.filter(**{f"{alias}__{lookup}": number})
    elif kind == Attribute.Kind.DATE:
        # Dates are stored as ISO text, which compares like the dates.
        alias = f"attribute_{key.replace('-', '_')}"
        qs = qs.alias(**{alias: KeyTextTransform(key, "attributes")})
        for bound, lookup in ((condition.minimum, "gte"), (condition.maximum, "lte")):
            if bound:
                qs = qs.filter(**{f"{alias}__{lookup}": bound})
    return qs


def subscribers_matching(spec: AudienceFilter) -> QuerySet[Subscriber]:
    qs = Subscriber.objects.all()
    if spec.q:
        q = spec.q.strip()
        qs = qs.filter(Q(email__icontains=q) | Q(name__icontains=q))
    if spec.status:
        qs = qs.filter(status=spec.status)
    if spec.topic:
        qs = qs.filter(
            Exists(
                Subscription.objects.filter(
                    subscriber=OuterRef("pk"), topic_id=spec.topic, status=spec.topic_status
                )
            )
        )
    if spec.language:
        qs = qs.filter(language=spec.language)
    if spec.source:
        qs = qs.filter(
            Exists(
                ConsentEvent.objects.filter(
                    subscriber=OuterRef("pk"),
                    source=spec.source,
                    kind__in=[ConsentEvent.Kind.REQUESTED, ConsentEvent.Kind.IMPORTED],
                )
            )
        )
    if spec.consent_from:
        qs = qs.filter(confirmed_at__gte=_day_start(spec.consent_from))
    if spec.consent_to:
        qs = qs.filter(confirmed_at__lt=_day_start(spec.consent_to + timedelta(days=1)))
    now = timezone.now()
    if spec.consent_older_than_days is not None:
        qs = qs.filter(confirmed_at__lte=now - timedelta(days=spec.consent_older_than_days))
    if spec.consent_newer_than_days is not None:
        qs = qs.filter(confirmed_at__gte=now - timedelta(days=spec.consent_newer_than_days))
    if spec.suppression:
        suppressions = Suppression.objects.filter(email_hash=OuterRef("email_hash"))
        if spec.suppression == SUPPRESSION_NONE:
            qs = qs.filter(~Exists(suppressions))
        elif spec.suppression == SUPPRESSION_ANY:
            qs = qs.filter(Exists(suppressions))
        else:
            qs = qs.filter(Exists(suppressions.filter(reason=spec.suppression)))
    if spec.attributes:
        definitions = {a.key: a for a in Attribute.objects.filter(key__in=[c.key for c in spec.attributes])}
        for condition in spec.attributes:
            if condition.key in definitions:  # a deleted field no longer narrows anything
                qs = _filter_attribute(qs, condition, definitions[condition.key])
    if spec.received_last:
        qs = qs.filter(_received(_last_campaigns(spec.received_last)))
    if spec.not_received_last:
        qs = qs.filter(~_received(_last_campaigns(spec.not_received_last)))
    if spec.received_campaign:
        qs = qs.filter(_received([spec.received_campaign]))
    if spec.replied_last:
        # A conversation is a subscriber's replies to one campaign (replies.models.Conversation),
        # reached through its relation name so that no replies module is imported here.
        qs = qs.filter(
            Exists(
                Subscriber.objects.filter(
                    pk=OuterRef("pk"), conversations__campaign__in=_last_campaigns(spec.replied_last)
                )
            )
        )
    return qs
