"""Subscriber import: every row checked first, then imported set-based, all or nothing.

Columns: email (required), name, language, consent_date, consent_source, and the key of any
defined attribute (subscribers.attributes: the value is checked with ``clean_value``). A row
with a prior consent (date and source) becomes a confirmed subscriber with
ConsentEvent(imported); any other row gets the double opt-in. Suppressed addresses are never
re-added, only reported. Name, language and attribute values are set for the subscribers an
import creates; existing subscribers keep theirs (as with a signup).

Used by the CLI (import_subscribers), the audience desk (audience.imports) and the API's
prior-consent signup: one code path. The work is set-based (issue 13: 100,000 rows in < 30 s):
rows are parsed and checked in Python, then written per chunk of CHUNK rows in a few
statements: the new addresses are COPYed into a temporary staging table and inserted into
subscribers, subscriptions and the consent proof by one INSERT ... SELECT ... ON CONFLICT
statement; the few addresses we know already are decided in Python and written in bulk. The
whole import is one transaction, so a failure anywhere leaves no row behind.

The opt-in mails of new addresses are queued, not sent row by row: their subscriber rows get
``confirmation_due_at = now`` and, once the import commits, the send-due-confirmations task
(the one the throttle uses) is queued once per DUE_BATCH of them; it sends through the usual
per-mailbox throttle. Known addresses without a prior consent go through
services.request_subscription one by one (its throttle and proof rules, unchanged).

Row errors are stored as codes with parameters (RowError.problems) and rendered in the
reader's language (``describe``): the marketer sees them in German or English.
"""

from __future__ import annotations

import csv
import io
import json
import math
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, time

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.db.models.functions import Lower
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from subscribers import attributes as attribute_values
from subscribers import mailboxes, queue, selectors, services
from subscribers.models import (
    Attribute,
    ConsentEvent,
    ConsentText,
    Subscriber,
    Subscription,
    Suppression,
    Topic,
    email_hash,
    normalise_email,
)
from subscribers.services import optin
from subscribers.validation import MAX_EMAIL_LENGTH, MAX_NAME_LENGTH, clean_email, clean_name

COLUMNS = ("email", "name", "language", "consent_date", "consent_source")
CHUNK = 5000
# What the proof of a queued opt-in says about its mail: sent by the send-due task when the
# import has committed (within the per-mailbox throttle).
QUEUED = "queued"

Progress = Callable[[int, int], None]

# The reasons a row is refused, by code; parameters are filled in when it is shown.
MESSAGES = {
    "header_no_email": _("the header must name an 'email' column (columns: %(columns)s)"),
    "header_unknown": _("unknown column(s) %(unknown)s; allowed: %(allowed)s"),
    "header_twice": _("the column %(column)s appears twice in the header"),
    "too_many_fields": _("more fields than columns in the header"),
    "email_missing": _("no email address"),
    "email_too_long": _("the email address is longer than %(limit)s characters"),
    "email_invalid": _("“%(value)s” is not a valid email address: %(reason)s"),
    "duplicate": _("the same address as line %(first)s"),
    "name_too_long": _("the name has %(length)s characters; at most %(limit)s are allowed"),
    "name_control": _("the name contains line breaks or other control characters"),
    "language": _("language must be one of %(allowed)s, not “%(value)s”"),
    "consent_date": _("consent_date “%(value)s” is not a past date (YYYY-MM-DD or ISO date-time)"),
    "consent_incomplete": _("a prior consent needs both consent_date and consent_source"),
    "attr_number": _("%(field)s: “%(value)s” is not a number"),
    "attr_date": _("%(field)s: “%(value)s” is not a date (YYYY-MM-DD)"),
    "attr_yes_no": _("%(field)s: “%(value)s” is not yes or no"),
    "attr_choice": _("%(field)s: “%(value)s” is not one of %(choices)s"),
    "attr_text": _("%(field)s: longer than %(limit)s characters"),
}
# A bad value is shown cut to this many characters (a whole line of garbage helps nobody).
SHOWN_VALUE = 80
# The common case of an address, checked without email_validator's per-address work: an ASCII
# dot-atom local part (RFC 5322 atext) at an ASCII domain that email_validator accepted once
# in this file. Anything else gets the full clean_email (tests/subscribers: the same verdict).
_DOT_ATOM = re.compile(r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*\Z")
MAX_LOCAL_PART = 64
MAX_ADDRESS = 254


@dataclass(frozen=True)
class Row:
    line: int
    email: str
    name: str
    language: str | None
    consent_date: datetime | None
    consent_source: str
    attributes: dict = field(default_factory=dict)  # typed values by attribute key


@dataclass(frozen=True)
class Problem:
    code: str
    params: dict = field(default_factory=dict)

    @property
    def message(self) -> str:
        """In the active language."""
        template = MESSAGES.get(self.code)
        if template is None:
            return self.code
        try:
            return str(template) % self.params if self.params else str(template)
        except (KeyError, TypeError, ValueError):
            return str(template)


@dataclass(frozen=True)
class RowError:
    line: int
    problems: tuple[Problem, ...]

    @property
    def message(self) -> str:
        return "; ".join(problem.message for problem in self.problems)

    def __str__(self) -> str:
        return gettext("line %(line)s: %(message)s") % {"line": self.line, "message": self.message}

    def as_dict(self) -> dict:
        """For storage (ImportJob.report): codes and parameters, rendered when shown."""
        return {
            "line": self.line,
            "problems": [{"code": problem.code, "params": problem.params} for problem in self.problems],
        }

    @classmethod
    def from_dict(cls, data: dict) -> RowError:
        return cls(
            int(data.get("line", 0)),
            tuple(Problem(item["code"], item.get("params") or {}) for item in data.get("problems", [])),
        )


def describe(data: dict) -> str:
    """A stored row error (RowError.as_dict) as a sentence in the active language."""
    if "message" in data and "problems" not in data:
        return str(data["message"])  # stored before the errors had codes
    return RowError.from_dict(data).message


def _error(line: int, code: str, **params) -> RowError:
    return RowError(line, (Problem(code, params),))


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


def _shown(value: str) -> str:
    return value if len(value) <= SHOWN_VALUE else value[: SHOWN_VALUE - 1] + "…"


def dialect(text: str):
    try:
        return csv.Sniffer().sniff(text[:4096].splitlines()[0] if text.strip() else ",", delimiters=",;\t")
    except (csv.Error, IndexError):
        return csv.excel


def attributes_by_key() -> dict[str, Attribute]:
    return {attribute.key: attribute for attribute in Attribute.objects.all()}


def _attribute_problem(attribute: Attribute, raw: str) -> Problem:
    params = {"field": attribute.key, "value": _shown(raw)}
    if attribute.kind == Attribute.Kind.NUMBER:
        return Problem("attr_number", params)
    if attribute.kind == Attribute.Kind.DATE:
        return Problem("attr_date", params)
    if attribute.kind == Attribute.Kind.YES_NO:
        return Problem("attr_yes_no", params)
    if attribute.kind == Attribute.Kind.CHOICE:
        return Problem("attr_choice", params | {"choices": ", ".join(attribute.choices)})
    return Problem("attr_text", {"field": attribute.key, "limit": attribute_values.MAX_TEXT})


class Parser:
    """Reads a CSV file row by row: yields a Row for every good row, a RowError for every bad one.

    ``mapping`` (file column -> import column or attribute key, "" = ignored) is the audience
    desk's; without it the header must name the import's columns (the CLI). A bad header
    raises ImportInvalid at once.
    """

    def __init__(
        self,
        text: str,
        *,
        mapping: dict[str, str] | None = None,
        attributes: dict[str, Attribute] | None = None,
    ):
        self.attributes = attributes_by_key() if attributes is None else attributes
        self._reader = csv.reader(io.StringIO(text), dialect=dialect(text))
        header = next(self._reader, None)
        if header is None:
            raise ImportInvalid([_error(1, "header_no_email", columns=", ".join(self.allowed))])
        header = [name.strip() for name in header]
        if mapping is None:
            targets = [name.lower() for name in header]
            keys = {key.lower(): key for key in self.attributes}
            targets = [keys.get(name, name) if name not in COLUMNS else name for name in targets]
            if "email" not in targets:
                raise ImportInvalid([_error(1, "header_no_email", columns=", ".join(self.allowed))])
            unknown = [name for name in targets if name not in COLUMNS and name not in self.attributes]
            if unknown:
                raise ImportInvalid(
                    [_error(1, "header_unknown", unknown=", ".join(unknown), allowed=", ".join(self.allowed))]
                )
        else:
            targets = [mapping.get(name, "") for name in header]
            targets = [name if name in COLUMNS or name in self.attributes else "" for name in targets]
            if "email" not in targets:
                raise ImportInvalid([_error(1, "header_no_email", columns=", ".join(self.allowed))])
        chosen = [name for name in targets if name]
        twice = sorted({name for name in chosen if chosen.count(name) > 1})
        if twice:
            raise ImportInvalid([_error(1, "header_twice", column=twice[0])])
        self.width = len(header)
        self.columns = [(index, name) for index, name in enumerate(targets) if name]
        self.languages = sorted(code for code, _name in settings.LANGUAGES)
        self.first_line: dict[str, int] = {}
        self._domains: dict[str, bool] = {}  # domain -> accepted by email_validator
        self._dates: dict[str, datetime | None] = {}  # consent_date text -> value (None: bad)

    def clean_email(self, raw: str) -> str:
        """clean_email's verdict; the common case without its per-address cost (see _DOT_ATOM)."""
        local, at, domain = raw.rpartition("@")
        if (
            at
            and len(raw) <= MAX_ADDRESS
            and 0 < len(local) <= MAX_LOCAL_PART
            and domain.isascii()
            and _DOT_ATOM.match(local)
        ):
            domain = domain.lower()
            accepted = self._domains.get(domain)
            if accepted is None:
                try:
                    clean_email(f"a@{domain}")
                except ValidationError:
                    accepted = False
                else:
                    accepted = True
                self._domains[domain] = accepted
            if accepted:
                return normalise_email(f"{local}@{domain}")
        return clean_email(raw)

    def consent_date(self, raw: str) -> datetime | None:
        if raw not in self._dates:
            try:
                self._dates[raw] = _parse_consent_date(raw)
            except ValueError:
                self._dates[raw] = None
        return self._dates[raw]

    @property
    def allowed(self) -> list[str]:
        return [*COLUMNS, *self.attributes]

    def line(self) -> int:
        return self._reader.line_num

    def __iter__(self) -> Iterator[Row | RowError]:
        for record in self._reader:
            line = self._reader.line_num
            if len(record) > self.width and any(value.strip() for value in record[self.width :]):
                yield _error(line, "too_many_fields")
                continue
            values = {
                name: record[index].strip() if index < len(record) else "" for index, name in self.columns
            }
            if not any(values.values()):
                continue  # blank line (or only ignored columns)
            yield self._row(line, values)

    def _row(self, line: int, values: dict[str, str]) -> Row | RowError:
        problems: list[Problem] = []
        raw_email = values.get("email", "")
        email = ""
        if not raw_email:
            problems.append(Problem("email_missing"))
        elif len(raw_email) > MAX_EMAIL_LENGTH:
            problems.append(Problem("email_too_long", {"limit": MAX_EMAIL_LENGTH}))
        else:
            try:
                email = self.clean_email(raw_email)
            except ValidationError as exc:
                reason = str((exc.params or {}).get("reason", exc.messages[0]))
                problems.append(Problem("email_invalid", {"value": _shown(raw_email), "reason": reason}))
        if email and email in self.first_line:
            problems.append(Problem("duplicate", {"first": self.first_line[email]}))
        name = values.get("name", "")
        try:
            name = clean_name(name)
        except ValidationError as exc:
            if exc.code == "too_long":
                problems.append(Problem("name_too_long", {"length": len(name), "limit": MAX_NAME_LENGTH}))
            else:
                problems.append(Problem("name_control"))
        language = values.get("language", "").lower() or None
        if language and language not in self.languages:
            problems.append(
                Problem("language", {"allowed": ", ".join(self.languages), "value": _shown(language)})
            )
        consent_date = None
        raw_date, source = values.get("consent_date", ""), values.get("consent_source", "")
        if raw_date:
            consent_date = self.consent_date(raw_date)
            if consent_date is None:
                problems.append(Problem("consent_date", {"value": _shown(raw_date)}))
        if bool(raw_date) != bool(source):
            problems.append(Problem("consent_incomplete"))
        typed = {}
        for key, raw in values.items():
            attribute = self.attributes.get(key) if key not in COLUMNS else None
            if attribute is None or not raw:
                continue
            try:
                value = attribute_values.clean_value(attribute, raw)
            except ValidationError:
                problems.append(_attribute_problem(attribute, raw))
                continue
            if value is not None:
                typed[key] = value
        if problems:
            return RowError(line, tuple(problems))
        self.first_line[email] = line
        return Row(line, email, name, language, consent_date, source, typed)


def parse(text: str, *, mapping: dict[str, str] | None = None) -> list[Row]:
    """Every row checked; raises ImportInvalid listing all bad rows by line number."""
    rows: list[Row] = []
    errors: list[RowError] = []
    for item in Parser(text, mapping=mapping):
        (errors if isinstance(item, RowError) else rows).append(item)
    if errors:
        raise ImportInvalid(errors)
    return rows


def _chunks(items: Iterable[Row | RowError]) -> Iterator[tuple[list[Row], list[RowError]]]:
    rows: list[Row] = []
    errors: list[RowError] = []
    for item in items:
        if isinstance(item, RowError):
            errors.append(item)
        else:
            rows.append(item)
        if len(rows) + len(errors) >= CHUNK:
            yield rows, errors
            rows, errors = [], []
    if rows or errors:
        yield rows, errors


def import_rows(
    *, rows: Sequence[Row], topic: Topic, source: str, progress: Progress | None = None
) -> ImportReport:
    """Import rows already checked (parse). All or nothing: one transaction."""
    return _import(_chunks(rows), total=len(rows), topic=topic, source=source, progress=progress)


def import_text(
    *,
    text: str,
    topic: Topic,
    source: str,
    mapping: dict[str, str] | None = None,
    total: int = 0,
    progress: Progress | None = None,
) -> tuple[int, ImportReport]:
    """Check and import a file in one pass, chunk by chunk, in one transaction (memory stays flat).

    Raises ImportInvalid with every bad row if there is any; then nothing was imported (the
    chunks written before the first bad row are rolled back). Returns (rows, report).
    """
    parser = Parser(text, mapping=mapping)
    counted = [0]

    def counting() -> Iterator[Row | RowError]:
        for item in parser:
            counted[0] += 1
            yield item

    report = _import(_chunks(counting()), total=total, topic=topic, source=source, progress=progress)
    return counted[0], report


class _Rollback(Exception):
    def __init__(self, errors: list[RowError]):
        self.errors = errors


def _import(
    chunks: Iterable[tuple[list[Row], list[RowError]]],
    *,
    total: int,
    topic: Topic,
    source: str,
    progress: Progress | None,
) -> ImportReport:
    report = ImportReport()
    errors: list[RowError] = []
    done = 0
    now = timezone.now()
    writer = _ChunkWriter(topic=topic, source=source, now=now, report=report)
    try:
        with transaction.atomic():
            for rows, bad in chunks:
                errors += bad
                if not errors:  # after the first bad row only check the rest, to list every one
                    writer.write(rows)
                done += len(rows) + len(bad)
                if progress:
                    progress(done, max(total, done))
            if errors:
                raise _Rollback(errors)
            queued = writer.queued
            if queued:
                # The send-due task sends at most DUE_BATCH per run: one run per batch.
                runs = math.ceil(queued / optin.DUE_BATCH)
                transaction.on_commit(lambda: [queue.enqueue("send_due_confirmations") for _ in range(runs)])
    except _Rollback as exc:
        raise ImportInvalid(exc.errors) from None
    return report


STAGING = "subscriber_import_staging"
STAGING_COLUMNS = (
    "line",
    "email",
    "email_hash",
    "mailbox_hash",
    "name",
    "language",
    "attributes",
    "status",
    "confirmed_at",
    "due_at",
    "sub_status",
    "sub_confirmed_at",
    "sub_requested_at",
    "event_kind",
    "consent_id",
    "details",
)
CREATE_STAGING = f"""
CREATE TEMPORARY TABLE IF NOT EXISTS {STAGING} (
    line integer, email text, email_hash text, mailbox_hash text, name text, language text,
    attributes jsonb, status text, confirmed_at timestamptz, due_at timestamptz,
    sub_status text, sub_confirmed_at timestamptz, sub_requested_at timestamptz,
    event_kind text, consent_id bigint, details jsonb
) ON COMMIT DROP
"""
# New addresses: subscriber, subscription and proof in one statement. ON CONFLICT: an address
# that signed up meanwhile is left out here (and handled as a known one by the caller).
INSERT_NEW = f"""
WITH new AS (
    INSERT INTO subscribers_subscriber (
        email, email_hash, mailbox_hash, name, language, status, frequency, frequency_limit,
        format, created_at, updated_at, confirmed_at, confirmation_due_at, attributes
    )
    SELECT email, email_hash, mailbox_hash, name, language, status, %(frequency)s, 1,
        %(format)s, %(now)s, %(now)s, confirmed_at, due_at, attributes
    FROM {STAGING} ORDER BY line
    ON CONFLICT ((lower((email)::text))) DO NOTHING
    RETURNING id, email
), subscriptions AS (
    INSERT INTO subscribers_subscription (
        subscriber_id, topic_id, status, created_at, confirmed_at, requested_at
    )
    SELECT new.id, %(topic)s, staged.sub_status, %(now)s, staged.sub_confirmed_at,
        staged.sub_requested_at
    FROM new JOIN {STAGING} staged ON staged.email = new.email
), events AS (
    INSERT INTO subscribers_consentevent (
        subscriber_id, email_hash, kind, source, created_at, user_agent, topics, consent_text,
        consent_text_version, details
    )
    SELECT new.id, staged.email_hash, staged.event_kind, %(source)s, %(now)s, '', %(topics)s::jsonb,
        coalesce(text.text, ''), coalesce(text.version, ''), staged.details
    FROM new JOIN {STAGING} staged ON staged.email = new.email
    LEFT JOIN subscribers_consenttext text ON text.id = staged.consent_id
)
SELECT email FROM new
"""


class _ChunkWriter:
    """Writes one chunk of checked rows (see the module): a few statements per chunk."""

    def __init__(self, *, topic: Topic, source: str, now: datetime, report: ImportReport):
        self.topic, self.source, self.now, self.report = topic, source, now, report
        self.queued = 0
        self._consent: dict[str | None, ConsentText] = {}
        self._staging = False
        self._default_language = Subscriber._meta.get_field("language").default

    def consent(self, language: str | None) -> ConsentText:
        if language not in self._consent:
            self._consent[language] = selectors.current_consent_text(language or settings.LANGUAGE_CODE[:2])
        return self._consent[language]

    def write(self, rows: list[Row]) -> None:
        if not rows:
            return
        hashes = {row.email: email_hash(row.email) for row in rows}
        suppressed = set(
            Suppression.objects.filter(email_hash__in=list(hashes.values())).values_list(
                "email_hash", flat=True
            )
        )
        allowed = []
        for row in rows:
            if hashes[row.email] in suppressed:
                self.report.suppressed.append(row)
            else:
                allowed.append(row)
        known = self._known([row.email for row in allowed])
        new = [row for row in allowed if row.email not in known]
        inserted = self._insert_new(new, hashes) if new else set()
        missed = [row for row in new if row.email not in inserted]  # signed up meanwhile
        if missed:
            known |= self._known([row.email for row in missed])
        self._update_known(
            [row for row in allowed if row.email in known and row.email not in inserted], known
        )

    @staticmethod
    def _known(emails: list[str]) -> dict[str, tuple[int, str]]:
        """Subscribers we have already, by normalised address: (id, status). Uses the lower(email) index."""
        if not emails:
            return {}
        return {
            email: (pk, status)
            for email, pk, status in Subscriber.objects.annotate(address=Lower("email"))
            .filter(address__in=emails)
            .values_list("address", "pk", "status")
        }

    def _insert_new(self, rows: list[Row], hashes: dict[str, str]) -> set[str]:
        now_iso = self.now.isoformat()
        for language in {row.language for row in rows if row.consent_date is None}:
            self.consent(language)  # looked up now: no other query may run during the COPY
        if connection.vendor != "postgresql":
            inserted = self._insert_new_with_the_orm(rows, hashes, now_iso)
        else:
            inserted = self._insert_new_with_copy(rows, hashes, now_iso)
        for row in rows:
            if row.email not in inserted:
                continue
            if row.consent_date:
                self.report.confirmed += 1
            else:
                self.report.requested += 1
                self.queued += 1
        return inserted

    def _insert_new_with_the_orm(self, rows: list[Row], hashes: dict[str, str], now_iso: str) -> set[str]:
        """The same rows without COPY (SQLite, which `make run` uses): bulk inserts."""
        staged = [
            dict(zip(STAGING_COLUMNS, self._staged(row, hashes[row.email], now_iso), strict=True))
            for row in rows
        ]
        subscribers = Subscriber.objects.bulk_create(
            [
                Subscriber(
                    email=item["email"],
                    email_hash=item["email_hash"],
                    mailbox_hash=item["mailbox_hash"],
                    name=item["name"],
                    language=item["language"],
                    status=item["status"],
                    confirmed_at=item["confirmed_at"],
                    confirmation_due_at=item["due_at"],
                    attributes=json.loads(item["attributes"]),
                )
                for item in staged
            ]
        )
        Subscription.objects.bulk_create(
            [
                Subscription(
                    subscriber=subscriber,
                    topic=self.topic,
                    status=item["sub_status"],
                    confirmed_at=item["sub_confirmed_at"],
                    requested_at=item["sub_requested_at"],
                )
                for subscriber, item in zip(subscribers, staged, strict=True)
            ]
        )
        texts = {text.pk: text for text in self._consent.values()}
        ConsentEvent.objects.bulk_create(
            [
                ConsentEvent(
                    subscriber=subscriber,
                    email_hash=item["email_hash"],
                    kind=item["event_kind"],
                    source=ConsentEvent.Source.IMPORT,
                    created_at=self.now,
                    topics=[self.topic.slug],
                    consent_text=texts[item["consent_id"]].text if item["consent_id"] else "",
                    consent_text_version=texts[item["consent_id"]].version if item["consent_id"] else "",
                    details=json.loads(item["details"]),
                )
                for subscriber, item in zip(subscribers, staged, strict=True)
            ]
        )
        return {item["email"] for item in staged}

    def _insert_new_with_copy(self, rows: list[Row], hashes: dict[str, str], now_iso: str) -> set[str]:
        with connection.cursor() as cursor:
            if not self._staging:
                cursor.execute(CREATE_STAGING)
                self._staging = True
            cursor.execute(f"TRUNCATE {STAGING}")
            with cursor.cursor.copy(f"COPY {STAGING} ({', '.join(STAGING_COLUMNS)}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(self._staged(row, hashes[row.email], now_iso))
            cursor.execute(
                INSERT_NEW,
                {
                    "frequency": Subscriber.Frequency.EVERY_ISSUE,
                    "format": Subscriber.Format.HTML,
                    "now": self.now,
                    "topic": self.topic.pk,
                    "source": ConsentEvent.Source.IMPORT,
                    "topics": json.dumps([self.topic.slug]),
                },
            )
            return {email for (email,) in cursor.fetchall()}

    def _staged(self, row: Row, address_hash: str, now_iso: str) -> tuple:
        attributes = json.dumps(row.attributes)
        mailbox = mailboxes.mailbox_hash(row.email)
        if row.consent_date:
            details = {
                "consent_date": row.consent_date.isoformat(),
                "consent_source": row.consent_source,
                "import_source": self.source,
                "imported_at": now_iso,
                "line": row.line,
            }
            return (
                row.line,
                row.email,
                address_hash,
                mailbox,
                row.name,
                row.language or self._default_language,
                attributes,
                Subscriber.Status.CONFIRMED,
                row.consent_date,
                None,
                Subscription.Status.ACTIVE,
                row.consent_date,
                None,
                ConsentEvent.Kind.IMPORTED,
                None,
                json.dumps(details),
            )
        language = optin._default_language(row.language)  # the signup's rule
        details = {
            "confirmation_mail": QUEUED,
            "language": language,
            "confirmation_due_at": now_iso,
            "import_source": self.source,
            "line": row.line,
        }
        if row.attributes:
            details["fields_given"] = sorted(row.attributes)
        return (
            row.line,
            row.email,
            address_hash,
            mailbox,
            row.name,
            language,
            attributes,
            Subscriber.Status.PENDING,
            None,
            self.now,
            Subscription.Status.PENDING,
            None,
            self.now,
            ConsentEvent.Kind.REQUESTED,
            self.consent(row.language).pk,
            json.dumps(details),
        )

    def _update_known(self, rows: list[Row], known: dict[str, tuple[int, str]]) -> None:
        """Addresses we have: add the topic (prior consent) or ask for the opt-in (the service)."""
        if not rows:
            return
        subscriptions = {
            subscription.subscriber_id: subscription
            for subscription in Subscription.objects.filter(
                topic=self.topic, subscriber_id__in=[known[row.email][0] for row in rows]
            )
        }
        create, update, confirm, events = [], [], [], []
        for row in rows:
            subscriber_id, status = known[row.email]
            subscription = subscriptions.get(subscriber_id)
            receiving = (
                subscription is not None
                and subscription.status == Subscription.Status.ACTIVE
                and status == Subscriber.Status.CONFIRMED
            )
            if receiving:
                self.report.unchanged += 1
                continue
            if row.consent_date is None:
                services.request_subscription(
                    email=row.email,
                    topics=[self.topic],
                    name=row.name,
                    language=row.language,
                    source=ConsentEvent.Source.IMPORT,
                    consent=self.consent(row.language),
                )
                self.report.requested += 1
                continue
            if subscription is None:
                create.append(
                    Subscription(
                        subscriber_id=subscriber_id,
                        topic=self.topic,
                        status=Subscription.Status.ACTIVE,
                        confirmed_at=row.consent_date,
                    )
                )
            else:
                subscription.status = Subscription.Status.ACTIVE
                subscription.confirmed_at = row.consent_date
                subscription.unsubscribed_at = None
                update.append(subscription)
            if status != Subscriber.Status.CONFIRMED:
                confirm.append(
                    Subscriber(
                        pk=subscriber_id,
                        status=Subscriber.Status.CONFIRMED,
                        confirmed_at=row.consent_date,
                        updated_at=self.now,
                    )
                )
            events.append(
                ConsentEvent(
                    subscriber_id=subscriber_id,
                    email_hash=email_hash(row.email),
                    kind=ConsentEvent.Kind.IMPORTED,
                    source=ConsentEvent.Source.IMPORT,
                    topics=[self.topic.slug],
                    created_at=self.now,
                    details={
                        "consent_date": row.consent_date.isoformat(),
                        "consent_source": row.consent_source,
                        "import_source": self.source,
                        "imported_at": self.now.isoformat(),
                        "line": row.line,
                    },
                )
            )
        Subscription.objects.bulk_create(create)
        Subscription.objects.bulk_update(update, ["status", "confirmed_at", "unsubscribed_at"])
        Subscriber.objects.bulk_update(confirm, ["status", "confirmed_at", "updated_at"])
        ConsentEvent.objects.bulk_create(events)
        self.report.confirmed += len(events)
