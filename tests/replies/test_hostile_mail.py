"""Hostile and malformed inbound mail (issue #10): never refused for now because of what it
holds, never lost, never stored twice, never stored as the wrong message.

Each test feeds the bad input first through the real ways in: `ingest_email` (the MTA pipe),
the aiosmtpd receiver over real SMTP on loopback, the anymail inbound webhook; PostgreSQL is
real, so its refusal of NUL in text columns is what is tested against.
"""

from __future__ import annotations

import base64
import re
import time

import pytest
from django.test import TestCase, override_settings

from replies import services, tasks
from replies.models import Conversation, InboundMessage, Message
from replies.parsing import MAX_MIME_DEPTH, MAX_RECIPIENTS, MAX_REFERENCES, parse_mail
from replies.services import inbound as inbound_service
from rundbrief.mail.text import safe_json, safe_text
from tests.replies.hostile import REPLY_TO, mail, nested, receiver_fixture, run_ingest, smtp_send  # noqa: F401 - a fixture

pytestmark = pytest.mark.django_db
smtp_db = pytest.mark.django_db(transaction=True)  # the receiver stores from its own threads
Status = InboundMessage.Status

# --- 1. NUL, RFC 2047 words decoding to NUL, UTF-16 -------------------------------------------

NUL_INPUTS = {
    "NUL byte in the Subject": mail(subject=b"Frage\x00zum Rundbrief"),
    "RFC 2047 word decoding to NUL": mail(subject=b"=?utf-16?B?AADYAA==?="),
    "RFC 2047 word decoding to a lone surrogate": mail(subject=b"=?utf-16-be?B?2AA=?= x"),
    "NUL in the From display name": mail(sender=b"Anna\x00 Beispiel <anna@example.org>"),
    "NUL in the Message-ID": mail(msgid=b"<nul\x00id@example.org>"),
    "undecodable 8-bit bytes in a header": mail(subject=b"Gr\xfc\xdfe \xff\xfe"),
}


@pytest.mark.parametrize("raw", NUL_INPUTS.values(), ids=NUL_INPUTS.keys())
def test_ingest_email_stores_and_processes_mail_with_nul_in_headers(world, raw):
    code, out, err = run_ingest(raw, "--recipient", REPLY_TO)
    assert (code, err) == (0, "")
    inbound = InboundMessage.objects.get()
    assert out.strip() == str(inbound.pk)
    assert bytes(inbound.raw) == raw  # the raw bytes as they came, NUL and all
    assert "\x00" not in inbound.subject + inbound.from_address + inbound.message_id
    assert inbound.status == Status.PROCESSED, inbound.error
    message = Message.objects.get(inbound=inbound)
    assert "\x00" not in message.subject + message.from_address
    assert message.conversation.subscriber == world.anna


def test_the_rfc2047_nul_subject_is_kept_readable(world):
    code, _, _ = run_ingest(mail(subject=b"=?utf-16?B?AADYAA==?= Frage"))
    assert code == 0
    inbound = InboundMessage.objects.get()
    # The word decodes to U+0000 U+00D8: the NUL is dropped, the rest kept as it was.
    assert inbound.subject == "Ø Frage"
    assert Message.objects.get().subject == "Ø Frage"


@smtp_db
@pytest.mark.parametrize("raw", NUL_INPUTS.values(), ids=NUL_INPUTS.keys())
def test_smtp_receiver_answers_250_for_mail_with_nul_in_headers(receiver, world, raw):
    port = receiver()
    code, reply = smtp_send(port, raw)
    inbound = InboundMessage.objects.get()
    assert (code, reply) == (250, f"2.0.0 Stored as #{inbound.pk}")
    assert bytes(inbound.raw) == raw
    assert InboundMessage.objects.get().status == Status.PROCESSED


BODY_INPUTS = {
    "NUL in the body": (mail(body=b"Eine\x00 Frage"), "Eine Frage"),
    "NUL in a base64 body": (
        mail(
            body=base64.b64encode(b"Eine\x00 Frage"),
            headers=b"Content-Transfer-Encoding: base64\r\n",
        ),
        "Eine Frage",
    ),
    "real UTF-16 text": (
        mail(
            body=base64.b64encode("Grüße aus Köln".encode("utf-16")),
            headers=b"Content-Transfer-Encoding: base64\r\n",
            content_type=b"text/plain; charset=utf-16",
        ),
        "Grüße aus Köln",
    ),
    "UTF-8 text labelled UTF-16": (
        mail(body="Grüße aus Köln".encode(), content_type=b"text/plain; charset=utf-16"),
        "Grüße aus Köln",
    ),
    "odd-length UTF-16 with a lone surrogate": (
        mail(
            body=base64.b64encode("Frage ".encode("utf-16-le") + b"\x00\xd8\x41"),
            headers=b"Content-Transfer-Encoding: base64\r\n",
            content_type=b"text/plain; charset=utf-16-le",
        ),
        "Frage",
    ),
    "NUL in an HTML-only body": (
        mail(body=b"<p>Eine\x00 Frage</p>", content_type=b"text/html; charset=utf-8"),
        "Eine Frage",
    ),
}


@pytest.mark.parametrize(("raw", "text"), BODY_INPUTS.values(), ids=BODY_INPUTS.keys())
def test_mail_with_nul_or_utf16_in_the_body_is_processed_and_readable(world, raw, text):
    code, _, _ = run_ingest(raw, "--recipient", REPLY_TO)
    assert code == 0
    inbound = InboundMessage.objects.get()
    assert inbound.status == Status.PROCESSED, inbound.error
    message = Message.objects.get(inbound=inbound)
    assert message.text.startswith(text)
    assert "\x00" not in message.text + message.stripped_text + message.html


def test_a_column_that_still_refuses_a_value_gets_the_raw_bytes_alone(world):
    """The last line of defence in store_inbound: a value PostgreSQL refuses (here a NUL that
    bypassed safe_text) stores the row without the derived fields, never a temporary failure."""
    raw = mail()
    row = {"raw": raw, "size": len(raw), "source": "pipe", "dedupe_key": services.dedupe_key(raw)}
    inbound = inbound_service._create(row, {"subject": "a\x00b", "message_id": "<x@y>"})
    inbound.refresh_from_db()
    assert bytes(inbound.raw) == raw
    assert (inbound.subject, inbound.message_id) == ("", "")


def test_safe_text_and_safe_json():
    assert safe_text("a\x00b\ud800c") == "ab\ufffdc"
    # Surrogate escapes of raw bytes (how the stdlib keeps them) are decoded as UTF-8 ...
    assert safe_text("Gr\udcc3\udcbc\udcc3\udc9fe") == "Grüße"
    # ... and bytes that are not UTF-8 become U+FFFD.
    assert safe_text("x\udcff") == "x\ufffd"
    assert safe_text("abcdef", 3) == "abc"
    assert safe_text(None) == ""
    assert safe_json({"k\x00": ["v\x00", 1, {"n": "\ud800"}]}) == {"k": ["v", 1, {"n": "\ufffd"}]}


# --- 2. 1,000-deep MIME nesting ------------------------------------------------------------------


@pytest.mark.parametrize("kind", [b"multipart/mixed", b"message/rfc822"])
def test_thousand_deep_mime_nesting_is_processed_and_kept_readable(world, kind):
    raw = nested(1000, kind=kind)
    code, _, _ = run_ingest(raw, "--recipient", REPLY_TO)
    assert code == 0
    inbound = InboundMessage.objects.get()
    assert inbound.status == Status.PROCESSED, inbound.error
    assert bytes(inbound.raw) == raw
    message = Message.objects.get(inbound=inbound)
    # Below MAX_MIME_DEPTH the structure is kept as text: the innermost words are readable.
    assert "Die innerste Frage" in message.text
    assert message.conversation.subscriber == world.anna


def test_nesting_within_the_limit_is_parsed_as_mime():
    parsed = parse_mail(nested(MAX_MIME_DEPTH - 2))
    assert parsed.text.strip() == "Die innerste Frage"


# --- 3. Long lines over SMTP -----------------------------------------------------------------------


@smtp_db
@pytest.mark.parametrize("length", [1001, 5000, 200_000])
def test_smtp_receiver_accepts_lines_over_1001_bytes(receiver, world, length):
    """Before: "500 Line too long" (aiosmtpd's default), although ingest_email took the same mail."""
    body = b"Eine sehr lange Zeile: " + b"x" * length
    raw = mail(body=body)
    port = receiver()
    code, reply = smtp_send(port, raw)
    inbound = InboundMessage.objects.get()
    assert (code, reply) == (250, f"2.0.0 Stored as #{inbound.pk}")
    assert bytes(inbound.raw) == raw
    assert inbound.status == Status.PROCESSED
    assert Message.objects.get().text.startswith("Eine sehr lange Zeile: xxx")


@smtp_db
def test_smtp_line_length_stays_bounded_by_the_size_limit(receiver, world):
    port = receiver(max_bytes=20_000)
    # A line longer than the whole size limit is refused for good (5xx), as the message would be.
    code, reply = smtp_send(port, mail(body=b"x" * 50_000))
    assert code == 500 and "Line too long" in reply
    code, reply = smtp_send(port, mail(body=b"x" * 15_000 + b"\r\n" + b"y" * 15_000))
    assert code == 552
    assert not InboundMessage.objects.exists()
    assert smtp_send(port, mail(body=b"x" * 15_000))[0] == 250


# --- 4. The dedupe key covers the whole message ---------------------------------------------------


def test_same_message_id_and_body_but_another_sender_or_subject_are_two_messages(world):
    first = mail(msgid=b"<same@example.org>")
    other_sender = mail(msgid=b"<same@example.org>", sender=b"Mallory <mallory@example.net>")
    other_subject = mail(msgid=b"<same@example.org>", subject=b"Etwas ganz anderes")
    ids = []
    for raw in (first, other_sender, other_subject):
        code, out, _ = run_ingest(raw)
        assert code == 0 and "already" not in out
        ids.append(int(out.strip()))
    assert len(set(ids)) == 3
    assert [bytes(m.raw) for m in InboundMessage.objects.order_by("id")] == [
        first,
        other_sender,
        other_subject,
    ]


def test_the_same_message_by_another_route_is_still_stored_once(world):
    raw = mail()
    hop = b"Received: from mx2.example.org by mx.example.org; Sun, 22 Nov 2026 10:00:05 +0100\r\n"
    refolded = raw.replace(b"Subject: Re: Unser Rundbrief", b"Subject: Re: Unser\r\n Rundbrief")
    assert run_ingest(raw)[0] == 0
    for again in (raw, hop + raw, b"Delivered-To: " + REPLY_TO.encode() + b"\r\n" + raw, refolded):
        code, out, _ = run_ingest(again)
        assert code == 0 and "already" in out
    assert run_ingest(raw.replace(b"\r\n", b"\n"))[1].strip().endswith("(already stored before)")
    assert InboundMessage.objects.count() == 1


@smtp_db
def test_smtp_answers_250_with_its_own_id_for_a_message_id_collision(receiver, world):
    port = receiver()
    first = smtp_send(port, mail(msgid=b"<same@example.org>"))
    second = smtp_send(port, mail(msgid=b"<same@example.org>", sender=b"Mallory <mallory@example.net>"))
    assert first[0] == second[0] == 250
    assert first[1] != second[1]
    assert InboundMessage.objects.count() == 2


# --- 5. ESP inbound webhook replays ----------------------------------------------------------------

AUTH = "Basic " + base64.b64encode(b"hook:s3cret").decode()


def postmark_payload(**changes) -> dict:
    """A Postmark inbound payload without RawEmail: anymail builds the MIME message itself."""
    payload = {
        "MessageID": "22c74902-a0c1-4511-804f-341342852c90",
        "FromFull": {"Email": "anna@example.org", "Name": "Anna Beispiel"},
        "ToFull": [{"Email": REPLY_TO, "Name": ""}],
        "OriginalRecipient": REPLY_TO,
        "Subject": "Re: Unser Rundbrief",
        "Date": "Sun, 22 Nov 2026 10:00:00 +0100",
        "TextBody": "Eine Frage per Postmark.",
        "HtmlBody": "<p>Eine Frage per Postmark.</p>",
        "Headers": [{"Name": "Message-ID", "Value": "<postmark-1@example.org>"}],
        "Attachments": [
            {"Name": "notiz.txt", "ContentType": "text/plain", "Content": base64.b64encode(b"Notiz").decode()}
        ],
    }
    payload.update(changes)
    return payload


def post_inbound(client, payload: dict):
    with TestCase.captureOnCommitCallbacks(execute=True):
        return client.post(
            "/webhooks/anymail/postmark/inbound/",
            payload,
            content_type="application/json",
            HTTP_AUTHORIZATION=AUTH,
        )


@override_settings(ANYMAIL={"WEBHOOK_SECRET": "hook:s3cret"})
def test_a_replayed_postmark_inbound_webhook_is_stored_and_answered_once(client, world):
    for _ in range(3):  # Postmark retries after a timeout or a 5xx
        assert post_inbound(client, postmark_payload()).status_code == 200
    inbound = InboundMessage.objects.get()
    assert inbound.status == Status.PROCESSED
    assert Message.objects.count() == 1
    assert Conversation.objects.get().messages.count() == 1
    # The boundaries differ on every serialisation: the bytes alone could not have told.
    boundary = re.search(rb'boundary="([^"]+)"', bytes(inbound.raw)).group(1)
    assert boundary


@override_settings(ANYMAIL={"WEBHOOK_SECRET": "hook:s3cret"})
def test_two_different_webhook_messages_are_both_stored(client, world):
    assert post_inbound(client, postmark_payload()).status_code == 200
    assert post_inbound(client, postmark_payload(TextBody="Noch eine Frage.")).status_code == 200
    assert post_inbound(client, postmark_payload(FromFull={"Email": "ben@example.com"})).status_code == 200
    assert InboundMessage.objects.count() == 3


@override_settings(ANYMAIL={"WEBHOOK_SECRET": "hook:s3cret"})
def test_a_replayed_raw_email_webhook_is_stored_once(client, world):
    payload = {"RawEmail": mail().decode(), "Headers": [], "OriginalRecipient": REPLY_TO}
    for _ in range(2):
        assert post_inbound(client, payload).status_code == 200
    assert InboundMessage.objects.count() == 1
    assert Message.objects.count() == 1


# --- 6. Bounded parsing of huge header fields ------------------------------------------------------


def test_fifty_thousand_references_are_parsed_bounded_and_fast(world):
    refs = b" ".join(b"<%d.ref@example.org>" % n for n in range(50_000))
    raw = mail(headers=b"References: " + refs + b"\r\nIn-Reply-To: <49999.ref@example.org>\r\n")
    parsed = parse_mail(raw)
    assert len(parsed.references) == MAX_REFERENCES
    # RFC 5322 3.6.4: keep the first (the thread's root) and the last (the nearest ancestors).
    assert parsed.references[0] == "<0.ref@example.org>"
    assert parsed.references[-1] == "<49999.ref@example.org>"
    code, _, _ = run_ingest(raw, "--recipient", REPLY_TO)
    assert code == 0
    inbound = InboundMessage.objects.get()
    assert inbound.status == Status.PROCESSED, inbound.error
    assert bytes(inbound.raw) == raw


def test_five_thousand_recipients_are_parsed_bounded(world):
    others = b", ".join(b"person%d@example.net" % n for n in range(5000))
    raw = mail(headers=b"Cc: " + others + b"\r\n")
    parsed = parse_mail(raw, [REPLY_TO])
    assert len(parsed.recipients) <= MAX_RECIPIENTS
    assert parsed.recipients[0] == REPLY_TO.lower()  # the envelope first: the reply address is kept
    code, _, _ = run_ingest(raw, "--recipient", REPLY_TO)
    assert code == 0
    inbound = InboundMessage.objects.get()
    assert inbound.status == Status.PROCESSED, inbound.error
    assert Message.objects.get().conversation.subscriber == world.anna


def test_a_big_message_is_processed_alone_not_in_a_batch(world, settings):
    settings.INBOUND_LARGE_MESSAGE_BYTES = 10_000
    with TestCase.captureOnCommitCallbacks(execute=False):  # no drain: the test drains by hand
        small = [
            services.store_inbound(mail(msgid=b"<s%d@example.org>" % n), source="pipe") for n in range(3)
        ]
        big = services.store_inbound(mail(msgid=b"<big@example.org>", body=b"x" * 20_000), source="pipe")
    assert services.process_received_batch() == 3  # the batch leaves the big one out
    big.refresh_from_db()
    assert (big.status, big.attempts) == (Status.RECEIVED, 0)
    assert services.process_large() is True
    assert services.process_large() is False
    for inbound in [*small, big]:
        inbound.refresh_from_db()
        assert inbound.status == Status.PROCESSED, inbound.error


def test_a_drain_takes_big_messages_between_batches(world, settings):
    settings.INBOUND_LARGE_MESSAGE_BYTES = 10_000
    with TestCase.captureOnCommitCallbacks(execute=False):
        for n in range(5):
            services.store_inbound(mail(msgid=b"<s%d@example.org>" % n), source="pipe")
            services.store_inbound(mail(msgid=b"<b%d@example.org>" % n, body=b"y" * 20_000), source="pipe")
    assert services.drain_inbound(batch_size=2) == 10
    assert not InboundMessage.objects.exclude(status=Status.PROCESSED).exists()


def test_a_big_message_is_stored_byte_exact_through_the_binary_write(world):
    raw = mail(body=b"z" * (inbound_service.BINARY_WRITE_BYTES + 10))
    code, out, _ = run_ingest(raw)
    assert code == 0
    inbound = InboundMessage.objects.get()
    assert bytes(inbound.raw) == raw
    assert run_ingest(raw)[1].strip().endswith("(already stored before)")
    assert InboundMessage.objects.count() == 1


def test_the_inbound_tasks_have_a_hard_time_limit_and_drains_hand_over(world, settings, monkeypatch):
    assert tasks.drain_inbound_task.time_limit == settings.INBOUND_TASK_TIME_LIMIT_SECONDS
    assert tasks.requeue_stale_inbound_task.time_limit == settings.INBOUND_TASK_TIME_LIMIT_SECONDS
    assert services.DRAIN_MAX_SECONDS < settings.INBOUND_TASK_TIME_LIMIT_SECONDS
    # Out of time after each batch: a drain stops there and queues a fresh task (eager in
    # tests: it runs at once), which goes on with the rest.
    monkeypatch.setattr("replies.services.drains.DRAIN_MAX_SECONDS", -1)
    with TestCase.captureOnCommitCallbacks(execute=False):
        for n in range(4):
            services.store_inbound(mail(msgid=b"<t%d@example.org>" % n), source="pipe")
    assert services.drain_inbound(batch_size=2) == 2  # this drain's own share
    assert not InboundMessage.objects.filter(status=Status.RECEIVED).exists()


@pytest.mark.parametrize(
    ("raw", "code"),
    [
        (
            b"From anna@example.org Sun Nov 22 10:00:00 2026\nFrom: anna@example.org\nSubject: mbox\n\nHi\n",
            0,
        ),
        (b"From anna@example.org Sun Nov 22 10:00:00 2026\n\nno header field at all\n", 65),
        (b"\r\nSubject: after a blank line\r\n\r\nx", 65),
        (b"X-Note: first\r\nSubject : space before the colon\r\n\r\nx", 0),
        (b"   Subject: indented, as a bounce from a broken MTA\r\nFrom: a@b.c\r\n\r\nx", 0),
    ],
)
def test_what_counts_as_a_header_block(world, raw, code):
    assert run_ingest(raw)[0] == code


def test_a_text_with_a_very_long_line_is_kept_whole_not_stripped_for_minutes():
    long_line = "Eine sehr lange Zeile: " + "x" * 200_000
    parsed = parse_mail(mail(body=b"Neue Frage\r\n" + long_line.encode() + b"\r\n> alt\r\n"))
    started = time.monotonic()
    assert parsed.stripped_text.startswith("Neue Frage\n" + long_line[:1000])
    assert time.monotonic() - started < 5
    ordinary = parse_mail(mail(body=b"Neue Frage\r\n\r\n> alte Nachricht\r\n"))
    assert ordinary.stripped_text == "Neue Frage"
