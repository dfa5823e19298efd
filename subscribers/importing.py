"""CSV import: validate every row first, then import all of them in one transaction.

Columns: email (required), name, language, consent_date, consent_source. A row with a prior
consent (date and source) becomes a confirmed subscriber with ConsentEvent(imported); any
other row gets the double opt-in mail. Suppressed addresses are never re-added, only
reported.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, time

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime

from subscribers import mailboxes, selectors, services
from subscribers.models import (
    ConsentEvent,
    Subscriber,
    Subscription,
    Suppression,
    Topic,
    email_hash,
)
from subscribers.validation import clean_email, clean_name

COLUMNS = ("email", "name", "language", "consent_date", "consent_source")
CHUNK = 1000

Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class Row:
    line: int
    email: str
    name: str
    language: str | None
    consent_date: datetime | None
    consent_source: str


@dataclass(frozen=True)
class RowError:
    line: int
    message: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.message}"


class ImportInvalid(Exception):
    """The file has bad rows (or no usable header); nothing was imported."""

    def __init__(self, errors: list[RowError]):
        self.errors = errors
        super().__init__(f"{len(errors)} bad row(s)")


@dataclass
class ImportReport:
    confirmed: int = 0  # imported with prior consent
    requested: int = 0  # opt-in mail requested
    unchanged: int = 0  # already confirmed for the topic
    suppressed: list[Row] = field(default_factory=list)  # never re-added


def _parse_consent_date(raw: str) -> datetime:
    value = parse_datetime(raw)
    if value is None:
        day = parse_date(raw)
        if day is None:
            raise ValueError
        value = datetime.combine(day, time.min)
    if timezone.is_naive(value):
        value = timezone.make_aware(value)
    if value > timezone.now():
        raise ValueError("in the future")
    return value


def parse(text: str) -> list[Row]:
    """Every row checked; raises ImportInvalid listing all bad rows by line number."""
    try:
        dialect = csv.Sniffer().sniff(text[:4096].splitlines()[0] if text.strip() else ",", delimiters=",;\t")
    except csv.Error:
        dialect = csv.excel
    reader = csv.DictReader(io.StringIO(text), dialect=dialect)
    header = [name.strip().lower() for name in (reader.fieldnames or [])]
    if "email" not in header:
        raise ImportInvalid(
            [RowError(1, f"the header must name an 'email' column (columns: {', '.join(COLUMNS)})")]
        )
    unknown = [name for name in header if name not in COLUMNS]
    if unknown:
        raise ImportInvalid(
            [RowError(1, f"unknown column(s) {', '.join(unknown)}; allowed: {', '.join(COLUMNS)}")]
        )
    reader.fieldnames = header
    languages = {code for code, _name in settings.LANGUAGES}

    rows: list[Row] = []
    errors: list[RowError] = []
    first_line: dict[str, int] = {}
    for record in reader:
        line = reader.line_num
        if None in record:
            errors.append(RowError(line, "more fields than columns in the header"))
            continue
        values = {key: (value or "").strip() for key, value in record.items()}
        if not any(values.values()):
            continue  # blank line
        problems = []
        try:
            email = clean_email(values.get("email", ""))
        except ValidationError as exc:
            problems.append(f"{exc.messages[0]} ({values.get('email', '')!r})")
            email = ""
        if email and email in first_line:
            problems.append(f"the same address as line {first_line[email]}")
        name = values.get("name", "")
        try:
            name = clean_name(name)
        except ValidationError as exc:
            problems.append(exc.messages[0])
        language = values.get("language", "").lower() or None
        if language and language not in languages:
            problems.append(f"language must be one of {', '.join(sorted(languages))}, not {language!r}")
        consent_date = None
        raw_date, source = values.get("consent_date", ""), values.get("consent_source", "")
        if raw_date:
            try:
                consent_date = _parse_consent_date(raw_date)
            except ValueError:
                problems.append(f"consent_date {raw_date!r} is not a past date (YYYY-MM-DD or ISO date-time)")
        if bool(raw_date) != bool(source):
            problems.append("a prior consent needs both consent_date and consent_source")
        if problems:
            errors.append(RowError(line, "; ".join(problems)))
            continue
        first_line[email] = line
        rows.append(Row(line, email, name, language, consent_date, source))
    if errors:
        raise ImportInvalid(errors)
    return rows


def _chunks(items: list[Row]) -> Iterable[list[Row]]:
    for start in range(0, len(items), CHUNK):
        yield items[start : start + CHUNK]


def import_rows(
    *, rows: list[Row], topic: Topic, source: str, progress: Progress | None = None
) -> ImportReport:
    """All or nothing: one transaction; mails are queued only once it commits."""
    report = ImportReport()
    total, done = len(rows), 0
    consent = selectors.current_consent_text(settings.LANGUAGE_CODE[:2])
    with transaction.atomic():
        for chunk in _chunks(rows):
            suppressed = set(
                Suppression.objects.filter(
                    email_hash__in=[email_hash(row.email) for row in chunk]
                ).values_list("email_hash", flat=True)
            )
            allowed = [row for row in chunk if email_hash(row.email) not in suppressed]
            report.suppressed += [row for row in chunk if email_hash(row.email) in suppressed]
            _import_with_consent([row for row in allowed if row.consent_date], topic, source, report)
            receiving = _already_receiving([row.email for row in allowed if row.consent_date is None], topic)
            for row in allowed:
                if row.consent_date is None and row.email in receiving:
                    report.unchanged += 1
                elif row.consent_date is None:
                    services.request_subscription(
                        email=row.email,
                        topics=[topic],
                        name=row.name,
                        language=row.language,
                        source=ConsentEvent.Source.IMPORT,
                        consent=selectors.current_consent_text(row.language) if row.language else consent,
                    )
                    report.requested += 1
            done += len(chunk)
            if progress:
                progress(done, total)
    return report


def _already_receiving(emails: list[str], topic: Topic) -> set[str]:
    return set(
        Subscription.objects.filter(
            subscriber__email__in=emails,
            subscriber__status=Subscriber.Status.CONFIRMED,
            topic=topic,
            status=Subscription.Status.ACTIVE,
        ).values_list("subscriber__email", flat=True)
    )


def _import_with_consent(rows: list[Row], topic: Topic, source: str, report: ImportReport) -> None:
    """Confirmed subscribers for rows with a prior consent; bulk inserts for the new addresses."""
    if not rows:
        return
    now = timezone.now()
    existing = {s.email: s for s in Subscriber.objects.filter(email__in=[row.email for row in rows])}
    new_rows = [row for row in rows if row.email not in existing]
    created = Subscriber.objects.bulk_create(
        [
            Subscriber(
                email=row.email,
                email_hash=email_hash(row.email),
                mailbox_hash=mailboxes.mailbox_hash(row.email),
                name=row.name,
                language=row.language or Subscriber._meta.get_field("language").default,
                status=Subscriber.Status.CONFIRMED,
                confirmed_at=row.consent_date,
            )
            for row in new_rows
        ]
    )
    subscriber_for = {subscriber.email: subscriber for subscriber in created}
    Subscription.objects.bulk_create(
        [
            Subscription(
                subscriber=subscriber_for[row.email],
                topic=topic,
                status=Subscription.Status.ACTIVE,
                confirmed_at=row.consent_date,
            )
            for row in new_rows
        ]
    )
    imported = list(new_rows)
    for row in rows:
        subscriber = existing.get(row.email)
        if subscriber is None:
            continue
        subscription, _created = Subscription.objects.get_or_create(subscriber=subscriber, topic=topic)
        if (
            subscription.status == Subscription.Status.ACTIVE
            and subscriber.status == Subscriber.Status.CONFIRMED
        ):
            report.unchanged += 1
            continue
        subscription.status = Subscription.Status.ACTIVE
        subscription.confirmed_at = row.consent_date
        subscription.unsubscribed_at = None
        subscription.save(update_fields=["status", "confirmed_at", "unsubscribed_at"])
        if subscriber.status != Subscriber.Status.CONFIRMED:
            subscriber.status = Subscriber.Status.CONFIRMED
            subscriber.confirmed_at = row.consent_date
            subscriber.save(update_fields=["status", "confirmed_at", "updated_at"])
        subscriber_for[row.email] = subscriber
        imported.append(row)
    ConsentEvent.objects.bulk_create(
        [
            ConsentEvent(
                subscriber=subscriber_for[row.email],
                email_hash=email_hash(row.email),
                kind=ConsentEvent.Kind.IMPORTED,
                source=ConsentEvent.Source.IMPORT,
                topics=[topic.slug],
                details={
                    "consent_date": row.consent_date.isoformat(),
                    "consent_source": row.consent_source,
                    "import_source": source,
                    "imported_at": now.isoformat(),
                    "line": row.line,
                },
            )
            for row in imported
        ]
    )
    report.confirmed += len(imported)
