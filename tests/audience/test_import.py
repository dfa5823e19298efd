"""CSV import in the UI: map, preview, dry run with every bad row by line, background task with
progress, report; the CLI's rules (subscribers.importing) apply."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core import mail
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django.utils import timezone

from audience import imports
from subscribers.models import ConsentEvent, ImportJob, Subscriber, Suppression, email_hash
from tests.audience.conftest import member

pytestmark = pytest.mark.django_db

GOOD = (
    "E-Mail;Vorname;Sprache;Einwilligung am;Woher;Notiz\n"
    "ada@example.org;Ada;en;2025-03-01;Messe 2025;x\n"
    "bob@example.org;Bob;de;;;y\n"
    "gone@example.org;Gone;de;2025-03-01;Messe 2025;z\n"
)
BAD = GOOD + "not-an-address;Eve;de;;;\ncarl@example.org;Carl;de;2025-03-01;;\n"
MAPPING = {
    "column_0": "email",
    "column_1": "name",
    "column_2": "language",
    "column_3": "consent_date",
    "column_4": "consent_source",
    "column_5": "",
}


def upload(client, topic, text: str, name: str = "liste.csv"):
    return client.post(
        reverse("audience:import_upload"),
        {"file": SimpleUploadedFile(name, text.encode()), "topic": topic.pk, "source": "Messe 2025"},
    )


def test_upload_guesses_the_mapping_and_shows_a_preview(marketer_client, topic):
    response = upload(marketer_client, topic, GOOD)
    job = ImportJob.objects.get()
    assert response["Location"] == reverse("audience:import", args=[job.pk])
    assert job.columns == ["E-Mail", "Vorname", "Sprache", "Einwilligung am", "Woher", "Notiz"]
    assert job.mapping["E-Mail"] == "email" and job.mapping["Sprache"] == "language"
    page = marketer_client.get(reverse("audience:import", args=[job.pk]))
    assert page.context["preview_header"][0] == "email"
    assert page.context["preview_rows"][0][0] == "ada@example.org"


def test_the_dry_run_lists_every_bad_row_by_line_and_nothing_is_imported(marketer_client, topic):
    upload(marketer_client, topic, BAD)
    job = ImportJob.objects.get()
    response = marketer_client.post(reverse("audience:import", args=[job.pk]), {**MAPPING, "action": "check"})
    errors = response.context["result"].errors
    assert [error.line for error in errors] == [5, 6]
    assert "prior consent needs both" in errors[1].message
    page = response.content.decode()
    assert "2 bad rows" in page
    assert not Subscriber.objects.exists()
    job.refresh_from_db()
    assert job.status == ImportJob.Status.DRAFT


def test_starting_a_file_with_bad_rows_imports_nothing_and_lists_them(
    marketer_client, topic, django_capture_on_commit_callbacks
):
    upload(marketer_client, topic, BAD)
    job = ImportJob.objects.get()
    with django_capture_on_commit_callbacks(execute=True):
        marketer_client.post(reverse("audience:import", args=[job.pk]), {**MAPPING, "action": "start"})
    job.refresh_from_db()
    assert job.status == ImportJob.Status.FAILED
    assert [error["line"] for error in job.report["errors"]] == [5, 6]
    assert not Subscriber.objects.exists()
    page = marketer_client.get(reverse("audience:import", args=[job.pk])).content.decode()
    assert "The import failed; nothing was imported." in page and "prior consent needs both" in page


def test_an_import_runs_in_the_background_and_reports(
    marketer_client, topic, django_capture_on_commit_callbacks, settings
):
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    Suppression.objects.create(email_hash=email_hash("gone@example.org"), reason="unsubscribed")
    upload(marketer_client, topic, GOOD)
    job = ImportJob.objects.get()
    with django_capture_on_commit_callbacks(execute=True):
        response = marketer_client.post(
            reverse("audience:import", args=[job.pk]), {**MAPPING, "action": "start"}
        )
    assert response.status_code == 302
    job.refresh_from_db()
    assert job.status == ImportJob.Status.DONE and job.total == 3 and job.done == 3
    assert job.report["confirmed"] == 1 and job.report["requested"] == 1
    assert job.report["suppressed"] == [{"line": 4, "email": "gone@example.org"}]
    assert job.data == ""  # the upload is not kept once imported
    ada = Subscriber.objects.get(email="ada@example.org")
    assert ada.status == "confirmed" and ada.name == "Ada" and ada.language == "en"
    assert ConsentEvent.objects.get(subscriber=ada, kind="imported").details["consent_source"] == "Messe 2025"
    assert Subscriber.objects.get(email="bob@example.org").status == "pending"
    assert not Subscriber.objects.filter(email="gone@example.org").exists()
    progress = marketer_client.get(reverse("audience:import_progress", args=[job.pk])).json()
    assert progress["percent"] == 100 and progress["finished"] is True
    page = marketer_client.get(reverse("audience:import", args=[job.pk])).content.decode()
    assert "on the suppression list" in page and 'aria-valuenow="100"' in page


def test_a_started_import_cannot_be_started_twice(topic, django_capture_on_commit_callbacks):
    job = imports.start_draft(
        data=GOOD.encode(), filename="a.csv", topic=topic, source="x", user=member("mara", "Marketers")
    )
    imports.save_mapping(
        job=job,
        mapping=imports.guess_mapping(job.columns)
        | {"Einwilligung am": "consent_date", "Woher": "consent_source", "Vorname": "name"},
    )
    with django_capture_on_commit_callbacks(execute=True):
        imports.launch(job=job)
    with pytest.raises(imports.NotStartable):
        imports.launch(job=job)
    assert imports.run(job_id=job.pk).status == ImportJob.Status.DONE  # a second delivery changes nothing


def test_a_file_that_is_not_utf8_csv_is_refused(marketer_client, topic):
    response = marketer_client.post(
        reverse("audience:import_upload"),
        {"file": SimpleUploadedFile("x.csv", "Straße".encode("latin-1")), "topic": topic.pk, "source": "x"},
    )
    assert response.status_code == 200 and "file" in response.context["form"].errors
    assert not ImportJob.objects.exists()


def test_mapping_needs_the_address_column_once(marketer_client, topic):
    upload(marketer_client, topic, GOOD)
    job = ImportJob.objects.get()
    response = marketer_client.post(
        reverse("audience:import", args=[job.pk]), {**MAPPING, "column_0": "", "action": "check"}
    )
    assert response.context["form"].non_field_errors()
    response = marketer_client.post(
        reverse("audience:import", args=[job.pk]), {**MAPPING, "column_1": "email", "action": "check"}
    )
    assert response.context["form"].non_field_errors()
    assert mail.outbox == []


def test_uploads_never_started_are_deleted_after_a_day(topic):
    user = member("mara", "Marketers")
    old = imports.start_draft(data=GOOD.encode(), filename="old.csv", topic=topic, source="x", user=user)
    ImportJob.objects.filter(pk=old.pk).update(created_at=timezone.now() - timedelta(days=2))
    fresh = imports.start_draft(data=GOOD.encode(), filename="new.csv", topic=topic, source="x", user=user)
    assert imports.purge_drafts() == 1
    assert list(ImportJob.objects.values_list("pk", flat=True)) == [fresh.pk]
