"""python manage.py import_subscribers FILE.csv --topic SLUG --source "..." [--dry-run]"""

from __future__ import annotations

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from subscribers import importing
from subscribers.models import Topic


class Command(BaseCommand):
    help = (
        "Import subscribers from a CSV file (columns: email,name,language,consent_date,consent_source). "
        "Rows with a prior consent are imported as confirmed; the others get the opt-in mail. "
        "All rows are checked first; if any is bad, nothing is imported."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("file", type=Path, help="CSV file, UTF-8, comma or semicolon separated")
        parser.add_argument("--topic", required=True, help="slug of the topic to subscribe the rows to")
        parser.add_argument("--source", required=True, help="where the list comes from (kept in the proof)")
        parser.add_argument("--dry-run", action="store_true", help="only check the file")

    def handle(self, *args, file: Path, topic: str, source: str, dry_run: bool, **options) -> None:
        try:
            topic_obj = Topic.objects.get(slug=topic)
        except Topic.DoesNotExist:
            known = ", ".join(Topic.objects.values_list("slug", flat=True)) or "none yet"
            raise CommandError(f"No topic with slug {topic!r} (known: {known}).") from None
        if not source.strip():
            raise CommandError("--source must say where the addresses come from.")
        try:
            text = file.read_text(encoding="utf-8-sig")
        except FileNotFoundError:
            raise CommandError(f"File not found: {file}") from None
        except UnicodeDecodeError as exc:
            raise CommandError(f"{file} is not UTF-8 text ({exc.reason} at byte {exc.start}).") from None

        try:
            rows = importing.parse(text)
        except importing.ImportInvalid as exc:
            for error in exc.errors:
                self.stderr.write(f"{file}: {error}")
            summary = str(exc.errors[0]) if len(exc.errors) == 1 else f"{len(exc.errors)} bad rows"
            raise CommandError(f"{summary}; nothing was imported. Fix the file and run again.") from None
        with_consent = sum(1 for row in rows if row.consent_date)
        self.stdout.write(f"{len(rows)} rows are valid ({with_consent} with prior consent).")
        if dry_run:
            self.stdout.write("Dry run: nothing imported.")
            return

        report = importing.import_rows(
            rows=rows, topic=topic_obj, source=source.strip(), progress=self._progress
        )
        for row in report.suppressed:
            self.stdout.write(f"line {row.line}: {row.email} is on the suppression list; not added.")
        self.stdout.write(
            self.style.SUCCESS(
                f"Imported into {topic_obj.slug!r}: {report.confirmed} confirmed with prior consent, "
                f"{report.requested} sent an opt-in request, {report.unchanged} already subscribed, "
                f"{len(report.suppressed)} suppressed and skipped."
            )
        )

    def _progress(self, done: int, total: int) -> None:
        self.stderr.write(f"  {done}/{total} rows ({done * 100 // total} %)")
