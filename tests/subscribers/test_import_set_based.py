"""The set-based import keeps every rule of the row-by-row one (issue 13): a mixed file gives the
states, proof and mails the old rules gave; nothing is half-imported when a row or the database
fails midway; the fast address check agrees with clean_email."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError
from django.db import connection
from django.utils import timezone
from hypothesis import given, settings
from hypothesis import strategies as st

from subscribers import importing, services
from subscribers.models import ConsentEvent, Subscriber, Subscription, Suppression
from subscribers.validation import clean_email

pytestmark = pytest.mark.django_db

HEADER = "email,name,language,consent_date,consent_source\n"


@pytest.mark.parametrize("writer", ["copy", "orm"])
def test_a_mixed_file_gives_what_the_row_by_row_rules_gave(
    writer, topics, consent, make_subscriber, django_capture_on_commit_callbacks, mailoutbox, monkeypatch
):
    if writer == "orm":  # the bulk inserts SQLite (`make run`) takes instead of COPY
        monkeypatch.setattr(connection, "vendor", "sqlite")
    make_subscriber("active@example.org", topic_slugs=("news",))  # receiving already
    make_subscriber("other@example.org", topic_slugs=("events",))  # confirmed, another topic
    left = make_subscriber("left@example.org", topic_slugs=("news",))
    Subscription.objects.filter(subscriber=left).update(status="unsubscribed")
    Subscriber.objects.filter(pk=left.pk).update(status="unsubscribed")
    make_subscriber("waiting@example.org", status="pending", topic_slugs=("news",))
    services.suppress_address(email="gone@example.org", reason="hard_bounce", source="esp_event")
    text = HEADER + (
        "new@example.org,New,en,2024-01-01,fair\n"  # 2 new, prior consent
        "fresh@example.org,Fresh,,,\n"  # 3 new, opt-in
        "active@example.org,,,,\n"  # 4 receiving: unchanged
        "other@example.org,Renamed,,2024-01-01,fair\n"  # 5 known, prior consent: topic added
        "left@example.org,,,2024-02-01,shop\n"  # 6 known, unsubscribed, prior consent
        "waiting@example.org,,,,\n"  # 7 known, pending: the opt-in service
        "gone@example.org,,,2024-01-01,fair\n"  # 8 suppressed
        "Mixed.Case+tag@Example.ORG,,de,,\n"  # 9 new, opt-in
    )
    with django_capture_on_commit_callbacks(execute=True):
        report = importing.import_rows(rows=importing.parse(text), topic=topics["news"], source="list")
    assert (report.confirmed, report.requested, report.unchanged) == (3, 3, 1)
    assert [row.line for row in report.suppressed] == [8]
    assert not Subscriber.objects.filter(email="gone@example.org").exists()

    new = Subscriber.objects.get(email="new@example.org")
    assert (new.status, new.name, new.language, timezone.localtime(new.confirmed_at).date().isoformat()) == (
        "confirmed",
        "New",
        "en",
        "2024-01-01",
    )
    assert new.mailbox_hash and new.email_hash
    (event,) = new.consent_events.all()
    assert (event.kind, event.source, event.topics, event.details["line"]) == (
        "imported",
        "import",
        ["news"],
        2,
    )
    assert event.details["consent_source"] == "fair" and event.details["import_source"] == "list"
    assert new.subscriptions.get().status == "active"

    fresh = Subscriber.objects.get(email="fresh@example.org")
    assert (fresh.status, fresh.language) == ("pending", "en")  # the signup's default language
    assert fresh.subscriptions.get().status == "pending"
    (event,) = fresh.consent_events.all()
    assert (event.kind, event.consent_text_version) == ("requested", "2026-11-1")
    assert event.consent_text == consent.text
    mixed = Subscriber.objects.get(email="mixed.case+tag@example.org")
    assert mixed.language == "de"

    other = Subscriber.objects.get(email="other@example.org")
    assert other.name == "Ada"  # known subscribers keep their name
    assert dict(other.subscriptions.values_list("topic__slug", "status")) == {
        "events": "active",
        "news": "active",
    }
    left.refresh_from_db()
    assert left.status == "confirmed" and left.subscriptions.get().status == "active"
    assert left.consent_events.get(kind="imported").details["consent_source"] == "shop"
    assert Subscriber.objects.get(email="active@example.org").consent_events.count() == 0
    waiting = Subscriber.objects.get(email="waiting@example.org")
    assert waiting.consent_events.get().kind == "requested"

    # Every opt-in row got its confirmation mail once the import committed (send-due task).
    assert sorted(mail.to[0] for mail in mailoutbox) == [
        "fresh@example.org",
        "mixed.case+tag@example.org",
        "waiting@example.org",
    ]
    assert not Subscriber.objects.filter(confirmation_due_at__isnull=False).exists()
    fresh.refresh_from_db()
    assert fresh.last_confirmation_sent_at is not None


def test_a_bad_row_after_written_chunks_leaves_nothing(topics, consent, monkeypatch):
    monkeypatch.setattr(importing, "CHUNK", 2)
    rows = "".join(f"u{i}@example.org,,,2024-01-01,fair\n" for i in range(7)) + "broken,,,,\n"
    with pytest.raises(importing.ImportInvalid) as caught:
        importing.import_text(text=HEADER + rows, topic=topics["news"], source="x")
    assert [error.line for error in caught.value.errors] == [9]
    assert not Subscriber.objects.exists() and not ConsentEvent.objects.exists()


def test_a_database_failure_midway_leaves_nothing(topics, consent, monkeypatch):
    monkeypatch.setattr(importing, "CHUNK", 2)
    written = []
    original = importing._ChunkWriter.write

    def failing(self, rows):
        if written:
            raise RuntimeError("the database went away")
        written.append(len(rows))
        original(self, rows)

    monkeypatch.setattr(importing._ChunkWriter, "write", failing)
    rows = "".join(f"u{i}@example.org,,,2024-01-01,fair\n" for i in range(5))
    with pytest.raises(RuntimeError):
        importing.import_text(text=HEADER + rows, topic=topics["news"], source="x")
    assert written == [2]
    assert not Subscriber.objects.exists() and not Subscription.objects.exists()
    assert not ConsentEvent.objects.exists()


def test_an_address_that_signed_up_meanwhile_is_handled_as_a_known_one(topics, consent, monkeypatch):
    """The INSERT's ON CONFLICT: a row the staging step thought new but that exists by then."""
    make = importing._ChunkWriter._known
    calls = []

    def stale(emails):
        calls.append(emails)
        return {} if len(calls) == 1 else make(emails)  # the first look-up misses it

    Subscriber.objects.create(email="late@example.org", email_hash="h", status="pending")
    monkeypatch.setattr(importing._ChunkWriter, "_known", staticmethod(stale))
    report = importing.import_text(
        text=HEADER + "late@example.org,,,2024-01-01,fair\n", topic=topics["news"], source="x"
    )[1]
    assert report.confirmed == 1
    assert Subscriber.objects.get(email="late@example.org").status == "confirmed"
    assert Subscriber.objects.count() == 1


def test_suppressed_addresses_are_never_re_added_in_any_case(topics, consent):
    Suppression.objects.create(email_hash=importing.email_hash("shout@example.org"), reason="complaint")
    report = importing.import_text(
        text=HEADER + "SHOUT@Example.org,,,2024-01-01,fair\nshout2@example.org,,,,\n",
        topic=topics["news"],
        source="x",
    )[1]
    assert [row.email for row in report.suppressed] == ["shout@example.org"]
    assert list(Subscriber.objects.values_list("email", flat=True)) == ["shout2@example.org"]


def _verdict(check, raw):
    try:
        return check(raw)
    except ValidationError:
        return "refused"


ATEXT = "abcXYZ019!#$%&'*+/=?^_`{|}~-.\"@ äß"


@settings(max_examples=300, deadline=None)
@given(
    local=st.text(alphabet=ATEXT, min_size=0, max_size=70),
    domain=st.sampled_from(
        ["example.org", "EXAMPLE.org", "x", "-x.org", "x..org", "münchen.de", "localhost", "a.b-c.io", ""]
    ),
)
def test_the_fast_address_check_agrees_with_clean_email(local, domain):
    parser = importing.Parser(HEADER, attributes={})
    raw = f"{local}@{domain}"
    assert _verdict(parser.clean_email, raw) == _verdict(clean_email, raw)
