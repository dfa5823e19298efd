"""The audience desk's CSV import, end to end: 100,000 rows in < 30 s.

Creates its own database (rb_import_bench), a topic and a marketer, writes a CSV of N rows
(every row with a prior consent; --optin P makes P % of them opt-in requests instead), and runs
the import the way a marketer does: upload, dry run, start; the task runs in this process
(Celery eager), so the figure is the whole work without a broker's hop. Prints the time of each
step, the rows per second, and the process's peak memory before and after.

    .venv/bin/python bench/import_csv.py [--n 100000] [--optin 0] [--xlsx] [--db NAME] [--keep]

--xlsx uploads the same rows as an Excel file (openpyxl, write-only), so the figure includes
reading it. --db: another database name, to run two versions side by side.
"""

from __future__ import annotations

import argparse
import io
import os
import resource
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.harness import create_database, drop_database, exit_on_termination, migrate  # noqa: E402

PG = "postgres://postgres@127.0.0.1:5432"
DATABASE = "rb_audience_import"


def csv_text(n: int, optin_percent: int) -> str:
    out = io.StringIO()
    out.write("E-Mail;Name;Sprache;Einwilligung am;Quelle\n")
    every = 100 // optin_percent if optin_percent else 0
    for i in range(n):
        if every and i % every == 0:
            out.write(f"import{i:07d}@example.org;Person {i};de;;\n")
        else:
            out.write(
                f"import{i:07d}@example.org;Person {i};{'en' if i % 5 == 0 else 'de'};2025-03-01;Messe\n"
            )
    return out.getvalue()


def xlsx_bytes(text: str) -> bytes:
    import openpyxl

    workbook = openpyxl.Workbook(write_only=True)
    sheet = workbook.create_sheet()
    for line in text.splitlines():
        sheet.append(line.split(";"))
    out = io.BytesIO()
    workbook.save(out)
    return out.getvalue()


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=100_000)
    parser.add_argument("--optin", type=int, default=0, help="percent of rows without a prior consent")
    parser.add_argument("--keep", action="store_true")
    parser.add_argument("--xlsx", action="store_true", help="upload an .xlsx file instead of CSV")
    parser.add_argument("--db", default=DATABASE, help="database name (created and dropped)")
    args = parser.parse_args()
    database = args.db
    exit_on_termination()
    env = {
        **os.environ,
        "DATABASE_URL": f"{PG}/{database}",
        "REDIS_URL": "redis://127.0.0.1:6379/8",
        "SECRET_KEY": "bench",
        "WEBHOOK_SECRET": "bench:bench",
        "STATIC_PLAIN": "true",
        "CELERY_TASK_ALWAYS_EAGER": "true",
        "DJANGO_SETTINGS_MODULE": "rundbrief.settings",
        "LOG_LEVEL": "WARNING",
    }
    os.environ.update(env)
    create_database(PG, database)
    try:
        migrate(env)
        import django

        django.setup()
        from django.conf import settings
        from django.contrib.auth.models import Group, User
        from django.core.files.uploadedfile import SimpleUploadedFile
        from django.test import Client
        from django.urls import reverse

        from rundbrief.celery import app as celery_app
        from subscribers import services as subscriber_services
        from subscribers.models import ImportJob, Subscriber, Topic

        # The opt-in mails go out through the send-due task once the import commits (eager
        # here, so inside the "start" figure): its time is printed apart.
        mail_s = [0.0]
        send_due = subscriber_services.send_due_confirmations

        def timed_send_due(**kwargs):
            t = time.monotonic()
            try:
                return send_due(**kwargs)
            finally:
                mail_s[0] += time.monotonic() - t

        subscriber_services.send_due_confirmations = timed_send_due
        settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
        celery_app.conf.task_always_eager = True
        topic = Topic.objects.create(slug="bench", name="Bench")
        user = User.objects.create_user("bench-marketer", password="x")
        user.groups.add(Group.objects.get(name="Marketers"))
        client = Client()
        client.force_login(user)
        text = csv_text(args.n, args.optin)
        data = xlsx_bytes(text) if args.xlsx else text.encode()
        print(
            f"{args.n:,} rows, {'XLSX' if args.xlsx else 'CSV'} {len(data) / 1e6:.1f} MB, "
            f"{args.optin} % opt-in requests; "
            f"peak {peak_mb():.0f} MB"
        )
        del text

        started = time.monotonic()
        response = client.post(
            reverse("audience:import_upload"),
            {
                "file": SimpleUploadedFile("bench.xlsx" if args.xlsx else "bench.csv", data),
                "topic": topic.pk,
                "source": "bench",
            },
        )
        assert response.status_code == 302, response.status_code
        job = ImportJob.objects.get()
        upload_s = time.monotonic() - started
        mapping = {
            "column_0": "email",
            "column_1": "name",
            "column_2": "language",
            "column_3": "consent_date",
            "column_4": "consent_source",
        }
        t = time.monotonic()
        response = client.post(reverse("audience:import", args=[job.pk]), {**mapping, "action": "check"})
        assert not response.context or not response.context["result"].errors
        check_s = time.monotonic() - t
        t = time.monotonic()
        response = client.post(reverse("audience:import", args=[job.pk]), {**mapping, "action": "start"})
        assert response.status_code == 302, response.status_code
        run_s = time.monotonic() - t
        total_s = time.monotonic() - started
        job.refresh_from_db()
        assert job.status == "done", job.report
        print(f"upload + mapping guess   {upload_s:6.1f} s")
        print(f"dry run (every row)      {check_s:6.1f} s")
        print(
            f"start: check + import    {run_s:6.1f} s  ({job.report['confirmed']:,} confirmed, "
            f"{job.report['requested']:,} opt-in requested)"
        )
        if mail_s[0]:
            print(f"  of which opt-in mails  {mail_s[0]:6.1f} s  (the send-due task, in-process)")
        print(
            f"end to end               {total_s:6.1f} s  = {args.n / total_s:,.0f} rows/s"
            f"{'' if total_s < 30 else '  <-- over 30 s'}"
        )
        print(
            f"subscribers now {Subscriber.objects.count():,}; peak memory of this process {peak_mb():.0f} MB"
        )
    finally:
        if not args.keep:
            from django.db import connections

            connections.close_all()
            drop_database(PG, database)


if __name__ == "__main__":
    main()
