"""import_subscribers: all rows checked first, bad rows by line number, all or nothing."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from subscribers import importing, services
from subscribers.models import ConsentEvent, Subscriber, Suppression

pytestmark = pytest.mark.django_db

HEADER = "email,name,language,consent_date,consent_source\n"


def run(tmp_path, text: str, *args: str, commit_hooks=None):
    path = tmp_path / "list.csv"
    path.write_text(text, encoding="utf-8")
    out, err = StringIO(), StringIO()
    if commit_hooks is None:
        call_command("import_subscribers", str(path), *args, stdout=out, stderr=err)
    else:
        with commit_hooks():
            call_command("import_subscribers", str(path), *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def test_rows_with_prior_consent_are_confirmed_others_get_the_opt_in_mail(
    tmp_path, topics, consent, commit_hooks, mailoutbox
):
    text = HEADER + (
        "ada@example.org,Ada,en,2024-03-01,Paper form at the fair\n"
        "Bob@Example.org,,de,2024-03-02T10:00:00+01:00,Old shop checkout\n"
        "cy@example.org,Cy,,,\n"
    )
    out, err = run(
        tmp_path, text, "--topic", "news", "--source", "Shop export 2024", commit_hooks=commit_hooks
    )
    assert "2 confirmed with prior consent, 1 sent an opt-in request" in out
    assert "3/3 rows" in err

    ada = Subscriber.objects.get(email="ada@example.org")
    assert ada.status == Subscriber.Status.CONFIRMED
    assert ada.subscriptions.get().status == "active"
    event = ada.consent_events.get()
    assert (event.kind, event.source, event.topics) == ("imported", "import", ["news"])
    assert event.details["consent_source"] == "Paper form at the fair"
    assert event.details["import_source"] == "Shop export 2024"
    assert event.details["consent_date"].startswith("2024-03-01")
    assert event.details["line"] == 2
    assert Subscriber.objects.get(email="bob@example.org").language == "de"

    cy = Subscriber.objects.get(email="cy@example.org")
    assert cy.status == Subscriber.Status.PENDING
    assert cy.consent_events.get().kind == "requested"
    assert [mail.to for mail in mailoutbox] == [["cy@example.org"]]


def test_broken_rows_are_reported_by_line_and_nothing_is_imported(tmp_path, topics, consent, mailoutbox):
    text = HEADER + (
        "ok@example.org,Ok,en,2024-01-01,form\n"
        "not-an-address,,,,\n"
        "x@example.org,,fr,,\n"
        "y@example.org,,,2024-01-01,\n"
        "z@example.org,,,someday,fair\n"
        "OK@example.org,,,,\n"
        "w@example.org,,,2999-01-01,fair\n"
        "too,many,fields,here,now,extra\n"
    )
    with pytest.raises(CommandError, match="7 bad rows"):
        run(tmp_path, text, "--topic", "news", "--source", "x")
    assert not Subscriber.objects.exists()
    assert not ConsentEvent.objects.exists()
    assert mailoutbox == []


def test_error_messages_name_the_lines(tmp_path, topics, consent, capsys):
    text = HEADER + "ok@example.org,,,,\nbad@,,,,\nok@example.org,,,,\n"
    path = tmp_path / "list.csv"
    path.write_text(text)
    err = StringIO()
    with pytest.raises(CommandError):
        call_command("import_subscribers", str(path), "--topic", "news", "--source", "x", stderr=err)
    lines = err.getvalue().splitlines()
    assert any("line 3:" in line and "not a valid email address" in line for line in lines)
    assert any("line 4:" in line and "the same address as line 2" in line for line in lines)


def test_suppressed_addresses_are_never_re_added(tmp_path, topics, consent, make_subscriber):
    services.erase(subscriber=make_subscriber("erased@example.org"), source=ConsentEvent.Source.ADMIN)
    services.suppress_address(email="bounced@example.org", reason="hard_bounce", source="esp_event")
    text = (
        HEADER
        + "erased@example.org,,,2024-01-01,fair\nbounced@example.org,,,,\nnew@example.org,,,2024-01-01,fair\n"
    )
    out, _err = run(tmp_path, text, "--topic", "news", "--source", "x")
    assert "line 2: erased@example.org is on the suppression list" in out
    assert "line 3: bounced@example.org is on the suppression list" in out
    assert "2 suppressed and skipped" in out
    assert list(Subscriber.objects.values_list("email", flat=True)) == ["new@example.org"]
    assert Suppression.objects.count() == 2


def test_existing_subscribers_get_the_topic_added(tmp_path, topics, consent, make_subscriber):
    subscriber = make_subscriber("ada@example.org", topic_slugs=("news",))
    out, _err = run(
        tmp_path, HEADER + "ada@example.org,,,2024-01-01,fair\n", "--topic", "jobs", "--source", "x"
    )
    assert "1 confirmed" in out
    assert dict(subscriber.subscriptions.values_list("topic__slug", "status")) == {
        "news": "active",
        "jobs": "active",
    }
    out, _err = run(
        tmp_path, HEADER + "ada@example.org,,,2024-01-01,fair\n", "--topic", "jobs", "--source", "x"
    )
    assert "1 already subscribed" in out


def test_semicolon_files_and_partial_columns(tmp_path, topics, consent):
    run(tmp_path, "email;name\nsemi@example.org;Semi\n", "--topic", "news", "--source", "x")
    assert Subscriber.objects.get().name == "Semi"


def test_bad_invocations(tmp_path, topics, consent):
    with pytest.raises(CommandError, match="No topic with slug 'nope'"):
        run(tmp_path, HEADER, "--topic", "nope", "--source", "x")
    with pytest.raises(CommandError, match="unknown column"):
        run(tmp_path, "email,nmae\na@example.org,A\n", "--topic", "news", "--source", "x")
    with pytest.raises(CommandError, match="'email' column"):
        run(tmp_path, "name\nA\n", "--topic", "news", "--source", "x")
    with pytest.raises(CommandError, match="File not found"):
        call_command("import_subscribers", str(tmp_path / "missing.csv"), "--topic", "news", "--source", "x")
    latin = tmp_path / "latin.csv"
    latin.write_bytes("email,name\nj@example.org,J\xf6rg\n".encode("latin-1"))
    with pytest.raises(CommandError, match="not UTF-8"):
        call_command("import_subscribers", str(latin), "--topic", "news", "--source", "x")


def test_dry_run_imports_nothing(tmp_path, topics, consent):
    out, _err = run(tmp_path, HEADER + "a@example.org,,,,\n", "--topic", "news", "--source", "x", "--dry-run")
    assert "1 rows are valid" in out
    assert not Subscriber.objects.exists()


def test_large_file_is_imported_in_chunks_with_progress(tmp_path, topics, consent, monkeypatch):
    monkeypatch.setattr(importing, "CHUNK", 1000)
    rows = "".join(f"user{i}@example.org,,,2024-01-01,fair\n" for i in range(2500))
    _out, err = run(tmp_path, HEADER + rows, "--topic", "news", "--source", "x")
    assert "1000/2500" in err and "2500/2500" in err
    assert Subscriber.objects.filter(status="confirmed").count() == 2500
    assert ConsentEvent.objects.filter(kind="imported").count() == 2500


def test_opt_in_rows_for_current_subscribers_change_nothing(
    tmp_path, topics, consent, make_subscriber, commit_hooks, mailoutbox
):
    make_subscriber("ada@example.org", topic_slugs=("news",))
    out, _err = run(
        tmp_path,
        HEADER + "ada@example.org,,,,\n",
        "--topic",
        "news",
        "--source",
        "x",
        commit_hooks=commit_hooks,
    )
    assert "0 sent an opt-in request, 1 already subscribed" in out
    assert mailoutbox == []
