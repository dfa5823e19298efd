"""CSV import in the audience desk: upload, map columns, preview, dry run, run as a task.

The rules are the CLI's (subscribers.importing, reused, not copied): every row checked first and
every bad row reported by line; prior-consent rows need date and source and become confirmed,
the others get an opt-in request; suppressed addresses are never re-added; all or nothing in
one transaction. This module only turns the uploaded file into the import's columns (the
mapping the marketer chose) and runs it as an ImportJob whose progress the page polls.

Progress is kept in the cache while the import's single transaction runs (rows written inside
it are invisible to the page until it commits); the job row gets the final numbers.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.contrib.auth.models import AbstractBaseUser
from django.core.cache import cache
from django.db import transaction
from django.utils import timezone

from rundbrief.effects import Enqueue, after_commit
from subscribers import importing
from subscribers.models import ImportJob, Topic

IGNORE = ""
MAX_BYTES = 50 * 1024 * 1024
PREVIEW_ROWS = 5
PROGRESS_SECONDS = 3600
# An upload that was never started holds addresses nobody consented to us keeping: a day.
DRAFT_MAX_AGE = timedelta(days=1)
# Header names that map themselves (any case, spaces or dashes for underscores).
ALIASES = {
    "e-mail": "email",
    "mail": "email",
    "email address": "email",
    "e-mail-adresse": "email",
    "address": "email",
    "sprache": "language",
    "consent date": "consent_date",
    "consent source": "consent_source",
}


class UnreadableFile(ValueError):
    """Not a CSV file in UTF-8 with a header line."""


def _dialect(text: str):
    try:
        return csv.Sniffer().sniff(text[:4096].splitlines()[0], delimiters=",;\t")
    except (csv.Error, IndexError):
        return csv.excel


def read_header(text: str) -> list[str]:
    if not text.strip():
        raise UnreadableFile("empty")
    header = next(csv.reader(io.StringIO(text), dialect=_dialect(text)), [])
    if not any(name.strip() for name in header):
        raise UnreadableFile("no header")
    return [name.strip() for name in header]


def guess_mapping(columns: list[str]) -> dict[str, str]:
    mapping = {}
    for column in columns:
        name = column.strip().lower()
        name = ALIASES.get(name, name.replace(" ", "_").replace("-", "_"))
        mapping[column] = name if name in importing.COLUMNS and name not in mapping.values() else IGNORE
    return mapping


def mapped_text(text: str, mapping: dict[str, str]) -> str:
    """The file with only the mapped columns, renamed to the import's; line numbers kept."""
    reader = csv.reader(io.StringIO(text), dialect=_dialect(text))
    header = next(reader, [])
    keep = [(index, mapping.get(name.strip(), IGNORE)) for index, name in enumerate(header)]
    keep = [(index, target) for index, target in keep if target]
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow([target for _index, target in keep])
    for record in reader:
        writer.writerow([record[index] if index < len(record) else "" for index, _target in keep])
    return out.getvalue()


def preview(
    text: str, mapping: dict[str, str], rows: int = PREVIEW_ROWS
) -> tuple[list[str], list[list[str]]]:
    reader = csv.reader(io.StringIO(mapped_text(text, mapping)))
    header = next(reader, [])
    return header, [record for _n, record in zip(range(rows), reader, strict=False)]


def start_draft(
    *, data: bytes, filename: str, topic: Topic, source: str, user: AbstractBaseUser
) -> ImportJob:
    if len(data) > MAX_BYTES:
        raise UnreadableFile("too big")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise UnreadableFile("not utf-8") from exc
    columns = read_header(text)
    return ImportJob.objects.create(
        topic=topic,
        source=source,
        data=text,
        filename=filename[:255],
        columns=columns,
        mapping=guess_mapping(columns),
        created_by=user,
    )


@dataclass(frozen=True)
class Check:
    rows: int
    with_consent: int
    errors: list[importing.RowError]


def check(job: ImportJob) -> Check:
    """The dry run: every row checked by the CLI's rules; nothing written."""
    try:
        rows = importing.parse(mapped_text(job.data, job.mapping))
    except importing.ImportInvalid as exc:
        return Check(rows=0, with_consent=0, errors=exc.errors)
    return Check(rows=len(rows), with_consent=sum(1 for row in rows if row.consent_date), errors=[])


def save_mapping(*, job: ImportJob, mapping: dict[str, str]) -> ImportJob:
    job.mapping = {column: mapping.get(column, IGNORE) for column in job.columns}
    job.save(update_fields=["mapping"])
    return job


class NotStartable(Exception):
    """The import was started already."""


def launch(*, job: ImportJob) -> ImportJob:
    """Queue the import. The task checks every row first (the dry run's check, done once more
    where the rows are imported); with any bad row it imports nothing and lists them all."""
    with transaction.atomic():
        job = ImportJob.objects.select_for_update().get(pk=job.pk)
        if job.status != ImportJob.Status.DRAFT:
            raise NotStartable(job.pk)
        job.status = ImportJob.Status.WAITING
        # Until the task has parsed the file: its lines, for the progress bar.
        job.total = max(sum(1 for line in job.data.splitlines() if line.strip()) - 1, 0)
        job.save(update_fields=["status", "total"])
        after_commit(Enqueue("audience.tasks.run_import_task", (job.pk,)))
    return job


def _progress_key(job_id: int) -> str:
    return f"audience:import:{job_id}:done"


def progress(job: ImportJob) -> int:
    """Rows done so far (from the cache while the transaction runs)."""
    if job.status == ImportJob.Status.RUNNING:
        return int(cache.get(_progress_key(job.pk)) or 0)
    return job.done


def run(*, job_id: int) -> ImportJob:
    """The task's work: claim the job, import all or nothing, store the report."""
    with transaction.atomic():
        job = ImportJob.objects.select_for_update().get(pk=job_id)
        if job.status != ImportJob.Status.WAITING:
            return job  # already run (a task delivered twice)
        job.status = ImportJob.Status.RUNNING
        job.save(update_fields=["status"])
    cache.set(_progress_key(job.pk), 0, PROGRESS_SECONDS)

    def report_progress(done: int, total: int) -> None:
        cache.set(_progress_key(job.pk), done, PROGRESS_SECONDS)

    try:
        rows = importing.parse(mapped_text(job.data, job.mapping))
        if len(rows) != job.total:
            job.total = len(rows)
            job.save(update_fields=["total"])
        report = importing.import_rows(
            rows=rows, topic=job.topic, source=job.source, progress=report_progress
        )
    except importing.ImportInvalid as exc:
        job.status = ImportJob.Status.FAILED
        job.report = {"errors": [{"line": error.line, "message": error.message} for error in exc.errors]}
    except Exception as exc:
        job.status, job.report = ImportJob.Status.FAILED, {"error": exc.__class__.__name__}
        job.finished_at = timezone.now()
        job.save(update_fields=["status", "report", "finished_at"])
        raise
    else:
        job.status = ImportJob.Status.DONE
        job.done = len(rows)
        job.report = {
            "confirmed": report.confirmed,
            "requested": report.requested,
            "unchanged": report.unchanged,
            "suppressed": [{"line": row.line, "email": row.email} for row in report.suppressed],
        }
    job.finished_at = timezone.now()
    job.data = ""  # the addresses now live in the subscriber rows; the upload is not kept
    job.save(update_fields=["status", "done", "report", "finished_at", "data"])
    cache.delete(_progress_key(job.pk))
    return job


def purge_drafts(*, now: datetime | None = None) -> int:
    """Delete imports prepared but never started, older than DRAFT_MAX_AGE (with their file)."""
    cutoff = (now or timezone.now()) - DRAFT_MAX_AGE
    deleted, _by_model = ImportJob.objects.filter(
        status=ImportJob.Status.DRAFT, created_at__lt=cutoff
    ).delete()
    return deleted
