"""The import's fields, Excel files and languages (issue 13): attribute columns typed with
clean_value, .xlsx uploads on the CSV path, hostile workbooks refused with a clear message,
row errors shown in the marketer's language."""

from __future__ import annotations

import io
import zipfile
from datetime import date, datetime

import openpyxl
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django.utils import translation

from audience import imports
from subscribers import importing
from subscribers.models import Attribute, ImportJob, Subscriber

pytestmark = pytest.mark.django_db


@pytest.fixture
def fields(db):
    return {
        "city": Attribute.objects.create(key="city", label_en="City", label_de="Stadt", kind="text"),
        "age": Attribute.objects.create(key="age", label_en="Age", label_de="Alter", kind="number"),
        "since": Attribute.objects.create(
            key="since", label_en="Customer since", label_de="Kunde seit", kind="date"
        ),
        "plan": Attribute.objects.create(
            key="plan", label_en="Plan", label_de="Tarif", kind="choice", choices=["basic", "pro"]
        ),
        "vip": Attribute.objects.create(key="vip", label_en="VIP", label_de="VIP", kind="yes_no"),
    }


def upload(client, topic, data: bytes, name: str):
    return client.post(
        reverse("audience:import_upload"),
        {"file": SimpleUploadedFile(name, data), "topic": topic.pk, "source": "Messe 2025"},
    )


def xlsx(rows: list[list]) -> bytes:
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    for row in rows:
        sheet.append(row)
    out = io.BytesIO()
    workbook.save(out)
    return out.getvalue()


FIELDS_CSV = (
    "email;Stadt;age;since;plan;vip;consent_date;consent_source\n"
    "ada@example.org;Köln;42;2020-05-01;pro;yes;2025-03-01;Messe\n"
    "bob@example.org;;;;;;2025-03-01;Messe\n"
)


def test_the_mapping_offers_the_fields_and_guesses_them_by_key(marketer_client, topic, fields):
    upload(marketer_client, topic, FIELDS_CSV.encode(), "fields.csv")
    job = ImportJob.objects.get()
    assert job.mapping["age"] == "age" and job.mapping["plan"] == "plan" and job.mapping["Stadt"] == ""
    page = marketer_client.get(reverse("audience:import", args=[job.pk]))
    choices = dict(page.context["form"].fields["column_1"].choices)
    assert choices["city"] == "Field: City"


def test_field_columns_are_imported_typed(marketer_client, topic, fields, django_capture_on_commit_callbacks):
    upload(marketer_client, topic, FIELDS_CSV.encode(), "fields.csv")
    job = ImportJob.objects.get()
    mapping = {f"column_{i}": job.mapping[column] for i, column in enumerate(job.columns)} | {
        "column_1": "city"
    }
    with django_capture_on_commit_callbacks(execute=True):
        marketer_client.post(reverse("audience:import", args=[job.pk]), {**mapping, "action": "start"})
    job.refresh_from_db()
    assert job.status == ImportJob.Status.DONE, job.report
    ada = Subscriber.objects.get(email="ada@example.org")
    assert ada.attributes == {"city": "Köln", "age": 42, "since": "2020-05-01", "plan": "pro", "vip": True}
    assert Subscriber.objects.get(email="bob@example.org").attributes == {}


def test_a_bad_field_value_is_a_bad_row_with_line_and_reason(topic, fields):
    text = (
        "email,age,since,plan,vip,city\n"
        "a@example.org,old,,,,\n"
        "b@example.org,,31.02.2020x,,,\n"
        "c@example.org,,,gold,,\n"
        "d@example.org,,,,maybe,\n"
        f"e@example.org,,,,,{'x' * 501}\n"
        "f@example.org,7,,basic,no,Bonn\n"
    )
    with pytest.raises(importing.ImportInvalid) as caught:
        importing.parse(text)
    errors = {error.line: error.message for error in caught.value.errors}
    assert errors == {
        2: "age: “old” is not a number",
        3: "since: “31.02.2020x” is not a date (YYYY-MM-DD)",
        4: "plan: “gold” is not one of basic, pro",
        5: "vip: “maybe” is not yes or no",
        6: "city: longer than 500 characters",
    }
    assert not Subscriber.objects.exists()


def test_row_errors_are_shown_in_the_marketers_language(marketer_client, topic, fields):
    text = "email;age;consent_date;consent_source\nnot-an-address;x;2025-03-01;\n"
    upload(marketer_client, topic, text.encode(), "bad.csv")
    job = ImportJob.objects.get()
    mapping = {
        "column_0": "email",
        "column_1": "age",
        "column_2": "consent_date",
        "column_3": "consent_source",
    }
    english = marketer_client.post(reverse("audience:import", args=[job.pk]), {**mapping, "action": "check"})
    assert "is not a valid email address" in english.content.decode()
    assert "a prior consent needs both consent_date and consent_source" in english.content.decode()
    german = marketer_client.post(
        reverse("audience:import", args=[job.pk]),
        {**mapping, "action": "check"},
        headers={"accept-language": "de"},
    )
    page = german.content.decode()
    assert "„not-an-address“ ist keine gültige E-Mail-Adresse" in page
    assert "age: „x“ ist keine Zahl" in page
    assert "eine frühere Einwilligung braucht consent_date und consent_source" in page


def test_a_failed_import_stores_codes_and_shows_them_in_either_language(
    marketer_client, topic, django_capture_on_commit_callbacks
):
    text = "email\nok@example.org\nok@example.org\n"
    upload(marketer_client, topic, text.encode(), "twice.csv")
    job = ImportJob.objects.get()
    with django_capture_on_commit_callbacks(execute=True):
        marketer_client.post(
            reverse("audience:import", args=[job.pk]), {"column_0": "email", "action": "start"}
        )
    job.refresh_from_db()
    assert job.report["errors"] == [{"line": 3, "problems": [{"code": "duplicate", "params": {"first": 2}}]}]
    with translation.override("de"):
        assert imports.report_errors(job) == [(3, "dieselbe Adresse wie in Zeile 2")]
    page = marketer_client.get(reverse("audience:import", args=[job.pk]), headers={"accept-language": "de"})
    assert "dieselbe Adresse wie in Zeile 2" in page.content.decode()
    assert importing.describe({"line": 4, "message": "stored before codes"}) == "stored before codes"


def test_an_xlsx_file_takes_the_csv_path(marketer_client, topic, fields, django_capture_on_commit_callbacks):
    data = xlsx(
        [
            ["E-Mail", "Name", "Einwilligung am", "consent_source", "age", "since", "vip"],
            ["ada@example.org", "Ada", datetime(2025, 3, 1), "Messe", 42, date(2020, 5, 1), True],
            [None, None, None, None, None, None, None],
            ["bob@example.org", "Bob\nBobson", None, None, 3.0, None, None],
            ["carl@example.org", "Carl", "2025-03-01", None, None, None, None],
        ]
    )
    upload(marketer_client, topic, data, "liste.xlsx")
    job = ImportJob.objects.get()
    assert job.columns == ["E-Mail", "Name", "Einwilligung am", "consent_source", "age", "since", "vip"]
    mapping = {f"column_{i}": job.mapping[column] for i, column in enumerate(job.columns)}
    mapping["column_2"] = "consent_date"
    check = marketer_client.post(reverse("audience:import", args=[job.pk]), {**mapping, "action": "check"})
    errors = check.context["result"].errors
    assert [(error.line, error.problems[0].code) for error in errors] == [(5, "consent_incomplete")]
    data = xlsx(
        [
            ["E-Mail", "Name", "Einwilligung am", "consent_source", "age", "since", "vip"],
            ["ada@example.org", "Ada", datetime(2025, 3, 1), "Messe", 42, date(2020, 5, 1), True],
            ["bob@example.org", "Bob\nBobson", None, None, 3.0, None, None],
        ]
    )
    upload(marketer_client, topic, data, "liste.xlsx")
    job = ImportJob.objects.order_by("-pk").first()
    with django_capture_on_commit_callbacks(execute=True):
        marketer_client.post(reverse("audience:import", args=[job.pk]), {**mapping, "action": "start"})
    job.refresh_from_db()
    assert (
        job.status == ImportJob.Status.DONE and job.report["confirmed"] == 1 and job.report["requested"] == 1
    )
    ada = Subscriber.objects.get(email="ada@example.org")
    assert ada.status == "confirmed" and ada.attributes == {"age": 42, "since": "2020-05-01", "vip": True}
    bob = Subscriber.objects.get(email="bob@example.org")
    assert bob.name == "Bob Bobson" and bob.attributes == {"age": 3} and bob.status == "pending"


def _refused(client, topic, data: bytes, name: str = "hostile.xlsx") -> str:
    response = upload(client, topic, data, name)
    assert response.status_code == 200
    assert not ImportJob.objects.exists()
    return " ".join(response.context["form"].errors["file"])


def test_hostile_or_broken_excel_files_get_a_clear_error(marketer_client, topic, monkeypatch):
    formulas = xlsx([["email", "name"], ["a@example.org", '=HYPERLINK("http://evil","x")']])
    assert "formulas (the first in cell B2)" in _refused(marketer_client, topic, formulas)

    assert "not a readable Excel file" in _refused(marketer_client, topic, b"PK\x03\x04 not really a zip")
    broken = io.BytesIO()
    with zipfile.ZipFile(broken, "w") as archive:
        archive.writestr("[Content_Types].xml", "<nope")
    assert "not a readable Excel file" in _refused(marketer_client, topic, broken.getvalue())

    # A zip bomb: a part that unpacks far beyond the cap, refused before anything is unpacked.
    bomb = io.BytesIO()
    with zipfile.ZipFile(bomb, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("xl/worksheets/sheet1.xml", b"\0" * (imports.XLSX_MAX_UNPACKED + 1))
    assert len(bomb.getvalue()) < 1024 * 1024
    assert "unpacks to more than 200 MB" in _refused(marketer_client, topic, bomb.getvalue())

    # A sheet declaring more rows than the cap (one cell far down) is refused before it is read.
    workbook = openpyxl.Workbook()
    workbook.active["A1"] = "email"
    workbook.active.cell(row=imports.XLSX_MAX_ROWS + 5, column=1, value="far@example.org")
    far = io.BytesIO()
    workbook.save(far)
    assert "more than 200000 rows" in _refused(marketer_client, topic, far.getvalue())

    monkeypatch.setattr(imports, "XLSX_MAX_ROWS", 3)
    many = xlsx([["email"]] + [[f"u{i}@example.org"] for i in range(4)])
    assert "more than 3 rows" in _refused(marketer_client, topic, many)
    monkeypatch.setattr(imports, "XLSX_MAX_COLUMNS", 2)
    wide = xlsx([["email", "a", "b"], ["u@example.org", "1", "2"]])
    assert "more than 2 columns" in _refused(marketer_client, topic, wide)
    assert "sheet of the Excel file is empty" in _refused(marketer_client, topic, xlsx([]))

    with translation.override("de"):
        assert "enthält Formeln" in imports.UnreadableFile("xlsx_formulas", cell="B2").message
