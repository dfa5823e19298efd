"""CSV and XLSX import in the audience desk: upload, map columns, preview, dry run, run as a task.

The rules are the CLI's (subscribers.importing, reused, not copied): every row checked first and
every bad row reported by line; prior-consent rows need date and source and become confirmed,
the others get an opt-in request; suppressed addresses are never re-added; all or nothing in
one transaction. This module only turns the uploaded file into the import's columns (the
mapping the marketer chose: the import's columns and the defined attributes) and runs it as an
ImportJob whose progress the page polls. An .xlsx upload is turned into the same CSV text when
it is uploaded (openpyxl, read-only and streamed, with caps), so both take the same path.

Progress is kept in the cache while the import's single transaction runs (rows written inside
it are invisible to the page until it commits); the job row gets the final numbers.
"""

from __future__ import annotations

import csv
import io
import zipfile
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal

from django.contrib.auth.models import AbstractBaseUser
from django.core.cache import cache
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from rundbrief.effects import Enqueue, after_commit
from subscribers import importing
from subscribers.models import Attribute, ImportJob, Topic

IGNORE = ""
MAX_BYTES = 50 * 1024 * 1024
PREVIEW_ROWS = 5
PROGRESS_SECONDS = 3600
# An upload that was never started holds addresses nobody consented to us keeping: a day.
DRAFT_MAX_AGE = timedelta(days=1)
# Excel files (.xlsx, a zip of XML parts) are read by openpyxl in read-only mode, row by row,
# into the same CSV text a CSV upload gives; caps keep a hostile file (a zip bomb, a sheet of a
# million rows or columns) from filling memory or holding the request.
XLSX_MAX_UNPACKED = 200 * 1024 * 1024  # all parts together, uncompressed
XLSX_MAX_ROWS = 200_000
XLSX_MAX_COLUMNS = 100
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
    """Not a CSV file in UTF-8 with a header line, nor a readable .xlsx within the caps.

    ``reason`` is one of UNREADABLE (the message shown), ``params`` fill it in."""

    def __init__(self, reason: str, **params):
        self.reason, self.params = reason, params
        super().__init__(reason)

    @property
    def message(self) -> str:
        return str(UNREADABLE.get(self.reason, UNREADABLE["not_csv"])) % self.params


UNREADABLE = {
    "not_csv": _("This is not a CSV file in UTF-8 with a header line (at most 50 MB)."),
    "too_big": _("The file is larger than 50 MB; split it into smaller files."),
    "xlsx_unreadable": _("This is not a readable Excel file (.xlsx); save it again or as CSV (UTF-8)."),
    "xlsx_unpacked": _(
        "The Excel file unpacks to more than %(limit)s MB; save it as CSV (UTF-8) or split it."
    ),
    "xlsx_rows": _("The sheet has more than %(limit)s rows; split it into smaller files."),
    "xlsx_columns": _("The sheet has more than %(limit)s columns; keep only the columns to import."),
    "xlsx_formulas": _(
        "The sheet contains formulas (the first in cell %(cell)s); "
        "save a copy with values only and upload that."
    ),
    "xlsx_empty": _("The first sheet of the Excel file is empty."),
}


def read_header(text: str) -> list[str]:
    if not text.strip():
        raise UnreadableFile("not_csv")
    header = next(csv.reader(io.StringIO(text), dialect=importing.dialect(text)), [])
    if not any(name.strip() for name in header):
        raise UnreadableFile("not_csv")
    return [name.strip() for name in header]


def targets() -> list[str]:
    """What a column can be imported as: the import's columns and every defined attribute."""
    return [*importing.COLUMNS, *(key for key in attribute_keys() if key not in importing.COLUMNS)]


def attribute_keys() -> list[str]:
    return list(Attribute.objects.values_list("key", flat=True))


def guess_mapping(columns: list[str]) -> dict[str, str]:
    known = targets()
    by_name = {name.lower(): name for name in known}
    mapping = {}
    for column in columns:
        name = column.strip().lower()
        name = ALIASES.get(name, name.replace(" ", "_").replace("-", "_"))
        target = by_name.get(name) or by_name.get(column.strip().lower())
        mapping[column] = target if target and target not in mapping.values() else IGNORE
    return mapping


def mapped_text(text: str, mapping: dict[str, str]) -> str:
    """The file with only the mapped columns, renamed to the import's; line numbers kept."""
    reader = csv.reader(io.StringIO(text), dialect=importing.dialect(text))
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
    """The first rows as they will be imported (only those rows are read)."""
    head = "".join(line for _n, line in zip(range(rows + 1), io.StringIO(text), strict=False))
    reader = csv.reader(io.StringIO(mapped_text(head, mapping)))
    header = next(reader, [])
    return header, [record for _n, record in zip(range(rows), reader, strict=False)]


def _is_xlsx(data: bytes, filename: str) -> bool:
    return data[:4] == b"PK\x03\x04" or filename.lower().endswith((".xlsx", ".xlsm"))


def _cell_text(value) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, datetime):
        return value.date().isoformat() if value.time() == datetime.min.time() else value.isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, float | Decimal):
        return str(value)
    # A line break inside a cell would shift the line numbers of the rows below it.
    return " ".join(str(value).splitlines())


def xlsx_text(data: bytes) -> str:
    """The first sheet of an .xlsx file as CSV text (one line per sheet row, so line = row).

    Raises UnreadableFile for a broken or hostile file: more than XLSX_MAX_UNPACKED bytes
    unpacked (checked before anything is unpacked; zipfile stops at the declared size),
    more rows or columns than the caps, formulas (their values are not in the file reliably).
    """
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            unpacked = sum(info.file_size for info in archive.infolist())
    except (zipfile.BadZipFile, ValueError) as exc:
        raise UnreadableFile("xlsx_unreadable") from exc
    if unpacked > XLSX_MAX_UNPACKED:
        raise UnreadableFile("xlsx_unpacked", limit=XLSX_MAX_UNPACKED // (1024 * 1024))
    # Imported here, not at the top: openpyxl (with the numpy it loads) is ~25 MB that the
    # Celery workers would carry in every process, for the import task and, through the URL conf
    # that builds the mails' links, for every send; only an .xlsx upload reads it (issue 17).
    import openpyxl

    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    try:
        workbook = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=False)
    except Exception as exc:  # noqa: BLE001 - any damage in a foreign file is "unreadable", never a 500
        raise UnreadableFile("xlsx_unreadable") from exc
    try:
        sheets = workbook.worksheets
        if not sheets:
            raise UnreadableFile("xlsx_empty")
        sheet = sheets[0]
        declared = sheet.max_row if sheet.max_row and sheet.max_row > 1 else 0  # its <dimension>, if any
        if declared > XLSX_MAX_ROWS + 1:  # refused before reading a row
            raise UnreadableFile("xlsx_rows", limit=XLSX_MAX_ROWS)
        width = 0
        for number, row in enumerate(sheet.iter_rows(max_col=XLSX_MAX_COLUMNS + 1), start=1):
            if number > XLSX_MAX_ROWS + 1:  # the header and XLSX_MAX_ROWS rows
                raise UnreadableFile("xlsx_rows", limit=XLSX_MAX_ROWS)
            values = []
            for cell in row:
                if getattr(cell, "data_type", None) == "f":
                    raise UnreadableFile("xlsx_formulas", cell=cell.coordinate)
                values.append(_cell_text(cell.value))
            while values and values[-1] == "":
                values.pop()
            if len(values) > XLSX_MAX_COLUMNS:
                raise UnreadableFile("xlsx_columns", limit=XLSX_MAX_COLUMNS)
            width = max(width, len(values))
            writer.writerow(values)
            if out.tell() > MAX_BYTES:
                raise UnreadableFile("too_big")
    except UnreadableFile:
        raise
    except Exception as exc:  # noqa: BLE001 - a broken sheet inside a valid zip: unreadable, never a 500
        raise UnreadableFile("xlsx_unreadable") from exc
    finally:
        workbook.close()
    if not width:
        raise UnreadableFile("xlsx_empty")
    return out.getvalue()


def start_draft(
    *, data: bytes, filename: str, topic: Topic, source: str, user: AbstractBaseUser
) -> ImportJob:
    if len(data) > MAX_BYTES:
        raise UnreadableFile("too_big")
    if _is_xlsx(data, filename):
        text = xlsx_text(data)
    else:
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise UnreadableFile("not_csv") from exc
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
    """The dry run: every row checked by the CLI's rules (read row by row); nothing written."""
    rows = with_consent = 0
    errors: list[importing.RowError] = []
    try:
        for item in importing.Parser(job.data, mapping=job.mapping):
            if isinstance(item, importing.RowError):
                errors.append(item)
            else:
                rows += 1
                with_consent += item.consent_date is not None
    except importing.ImportInvalid as exc:
        return Check(rows=0, with_consent=0, errors=exc.errors)
    if errors:
        return Check(rows=0, with_consent=0, errors=errors)
    return Check(rows=rows, with_consent=with_consent, errors=[])


def report_errors(job: ImportJob) -> list[tuple[int, str]]:
    """The bad rows of a failed import as (line, reason in the active language)."""
    return [(int(error.get("line", 0)), importing.describe(error)) for error in job.report.get("errors", [])]


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
        rows, report = importing.import_text(
            text=job.data,
            mapping=job.mapping,
            topic=job.topic,
            source=job.source,
            total=job.total,
            progress=report_progress,
        )
    except importing.ImportInvalid as exc:
        job.status = ImportJob.Status.FAILED
        job.report = {"errors": [error.as_dict() for error in exc.errors]}
    except Exception as exc:
        job.status, job.report = ImportJob.Status.FAILED, {"error": exc.__class__.__name__}
        job.finished_at = timezone.now()
        job.save(update_fields=["status", "report", "finished_at"])
        raise
    else:
        job.status = ImportJob.Status.DONE
        job.total = job.done = rows
        job.report = {
            "confirmed": report.confirmed,
            "requested": report.requested,
            "unchanged": report.unchanged,
            "suppressed": [{"line": row.line, "email": row.email} for row in report.suppressed],
        }
    job.finished_at = timezone.now()
    job.data = ""  # the addresses now live in the subscriber rows; the upload is not kept
    job.save(update_fields=["status", "total", "done", "report", "finished_at", "data"])
    cache.delete(_progress_key(job.pk))
    return job


def purge_drafts(*, now: datetime | None = None) -> int:
    """Delete imports prepared but never started, older than DRAFT_MAX_AGE (with their file)."""
    cutoff = (now or timezone.now()) - DRAFT_MAX_AGE
    deleted, _by_model = ImportJob.objects.filter(
        status=ImportJob.Status.DRAFT, created_at__lt=cutoff
    ).delete()
    return deleted
