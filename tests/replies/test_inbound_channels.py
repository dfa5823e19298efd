"""The three ways in: the SMTP/LMTP receiver (real SMTP over loopback), the MTA pipe, anymail webhooks."""

import base64
import hashlib
import hmac
import io
import re
import smtplib
import subprocess
import sys
from unittest import mock

import pytest
import time_machine
from django.core.management import call_command
from django.db import OperationalError
from django.test import TestCase, override_settings

from replies.models import Conversation, InboundMessage
from replies.smtp import InboundController, InboundHandler
from tests.replies.conftest import eml
from tests.support import free_port

pytestmark = pytest.mark.django_db


def wire(name: str) -> bytes:
    """A fixture as an MTA sends it: CRLF line endings."""
    return re.sub(rb"\r?\n", b"\r\n", eml(name))


@pytest.fixture
def receiver():
    started = []

    def start(**kwargs):
        port = free_port()
        controller = InboundController(
            InboundHandler(lmtp=kwargs.pop("lmtp", False)), host="127.0.0.1", port=port, **kwargs
        )
        controller.start()
        started.append(controller)
        return port

    yield start
    for controller in started:
        controller.stop()


# The receiver stores from its own threads: those need committed data, hence transaction=True.
smtp_db = pytest.mark.django_db(transaction=True)


@smtp_db
def test_smtp_receiver_answers_250_after_storing(receiver, world):
    port = receiver()
    with smtplib.SMTP("127.0.0.1", port) as client:
        client.ehlo()
        client.mail("anna@example.org")
        client.rcpt("reply+a1b2c3d4e5f60718293a4b5c6d7e8f90@reply.localhost")
        code, reply = client.data(wire("gmail_reply_en.eml"))
    assert code == 250
    inbound = InboundMessage.objects.get()
    assert reply.decode().endswith(f"#{inbound.pk}")
    assert inbound.source == InboundMessage.Source.SMTP
    assert inbound.envelope_from == "anna@example.org"
    assert inbound.envelope_to == ["reply+a1b2c3d4e5f60718293a4b5c6d7e8f90@reply.localhost"]
    # Celery is eager in tests, so processing already happened in the receiver's thread.
    inbound.refresh_from_db()
    assert inbound.status == InboundMessage.Status.PROCESSED
    assert Conversation.objects.get().assignee == world.anna_staff


@smtp_db
def test_smtp_receiver_answers_451_when_the_database_is_down_and_250_after(receiver, world):
    port = receiver()
    down = OperationalError("server closed the connection unexpectedly")
    with (
        mock.patch("replies.services.inbound.InboundMessage.objects.create", side_effect=down),
        smtplib.SMTP("127.0.0.1", port) as client,
        pytest.raises(smtplib.SMTPDataError) as info,
    ):
        client.sendmail("anna@example.org", ["reply+x@reply.localhost"], wire("gmail_reply_en.eml"))
    assert info.value.smtp_code == 451
    assert not InboundMessage.objects.exists()
    # The MTA retries once the database is back: stored exactly once.
    with smtplib.SMTP("127.0.0.1", port) as client:
        assert (
            client.sendmail("anna@example.org", ["reply+x@reply.localhost"], wire("gmail_reply_en.eml")) == {}
        )
    assert InboundMessage.objects.count() == 1


@smtp_db
def test_smtp_receiver_refuses_oversized_mail_with_552(receiver, world):
    port = receiver(max_bytes=2000)
    big = wire("gmail_reply_en.eml") + b"x" * 5000 + b"\r\n"
    with smtplib.SMTP("127.0.0.1", port) as client, pytest.raises(smtplib.SMTPException) as info:
        client.sendmail("anna@example.org", ["reply+x@reply.localhost"], big)
    assert "552" in str(info.value)
    assert not InboundMessage.objects.exists()


@smtp_db
def test_smtp_duplicate_delivery_is_accepted_and_stored_once(receiver, world):
    port = receiver()
    for _ in range(2):
        with smtplib.SMTP("127.0.0.1", port) as client:
            client.sendmail("anna@example.org", ["reply+x@reply.localhost"], wire("apple_mail_de.eml"))
    assert InboundMessage.objects.count() == 1


@smtp_db
def test_lmtp_answers_once_per_recipient(receiver, world):
    port = receiver(lmtp=True)
    client = smtplib.LMTP("127.0.0.1", port)
    try:
        refused = client.sendmail(
            "anna@example.org",
            ["reply+a@reply.localhost", "reply+b@reply.localhost"],
            wire("thunderbird_en.eml"),
        )
        assert refused == {}
        # smtplib reads one reply; the second (per-recipient) reply must be there too.
        code, _ = client.getreply()
        assert code == 250
    finally:
        client.close()
    assert InboundMessage.objects.get().source == InboundMessage.Source.LMTP


# --- ingest_email ------------------------------------------------------------------------------


def run_ingest(stdin: bytes, *args: str):
    stdout, stderr = io.StringIO(), io.StringIO()
    fake_stdin = mock.Mock()
    fake_stdin.buffer = io.BytesIO(stdin)
    with mock.patch("sys.stdin", fake_stdin), TestCase.captureOnCommitCallbacks(execute=True):
        try:
            call_command("ingest_email", *args, stdout=stdout, stderr=stderr)
            code = 0
        except SystemExit as exc:
            code = exc.code
    return code, stdout.getvalue(), stderr.getvalue()


def test_ingest_email_prints_the_stored_id(world):
    code, out, _ = run_ingest(eml("gmail_reply_en.eml"), "--recipient", "reply+x@reply.localhost")
    inbound = InboundMessage.objects.get()
    assert (code, out.strip()) == (0, str(inbound.pk))
    assert inbound.source == InboundMessage.Source.PIPE
    assert inbound.envelope_to == ["reply+x@reply.localhost"]
    inbound.refresh_from_db()
    assert inbound.status == InboundMessage.Status.PROCESSED
    code, out, _ = run_ingest(eml("gmail_reply_en.eml"))
    assert code == 0 and out.startswith(str(inbound.pk)) and "already" in out


@pytest.mark.parametrize(
    ("stdin", "message"), [(b"", "empty"), (b"\x00\xff\x00 not mail", "no header fields")]
)
def test_ingest_email_refuses_unreadable_input_with_exit_65(world, stdin, message):
    code, out, err = run_ingest(stdin)
    assert code == 65
    assert message in err
    assert out == ""


def test_ingest_email_exits_75_when_the_database_is_down(world):
    down = OperationalError("down")
    with mock.patch("replies.services.inbound.InboundMessage.objects.create", side_effect=down):
        code, _, err = run_ingest(eml("gmail_reply_en.eml"))
    assert code == 75
    assert "try again later" in err


def test_ingest_email_as_a_real_process_reading_a_pipe(world):
    """The way an MTA calls it: a process, stdin a pipe. Uses the test database via the environment."""
    from django.db import connection

    env_db = connection.settings_dict
    url = f"postgres://{env_db['USER']}@{env_db['HOST']}:{env_db['PORT']}/{env_db['NAME']}"
    result = subprocess.run(
        [sys.executable, "manage.py", "ingest_email"],
        input=b"",
        capture_output=True,
        env={
            "DATABASE_URL": url,
            "SECRET_KEY": "x",
            "WEBHOOK_SECRET": "hook:x",  # every process needs it outside DEBUG, like SECRET_KEY
            "PATH": "/usr/bin:/bin",
            "CELERY_TASK_ALWAYS_EAGER": "true",
        },
        timeout=60,
    )
    assert result.returncode == 65
    assert b"empty" in result.stderr


# --- anymail inbound webhooks --------------------------------------------------------------------

AUTH = "Basic " + base64.b64encode(b"hook:s3cret").decode()


@override_settings(ANYMAIL={"WEBHOOK_SECRET": "hook:s3cret"})
def test_postmark_inbound_webhook_with_basic_auth_stores_the_raw_message(client, world):
    payload = {
        "FromFull": {"Email": "anna@example.org", "Name": "Anna"},
        "To": "reply+a1b2c3d4e5f60718293a4b5c6d7e8f90@reply.localhost",
        "OriginalRecipient": "reply+a1b2c3d4e5f60718293a4b5c6d7e8f90@reply.localhost",
        "Subject": "Re: Our November newsletter",
        "RawEmail": eml("gmail_reply_en.eml").decode(),
        "Headers": [],
    }
    with TestCase.captureOnCommitCallbacks(execute=True):
        response = client.post(
            "/webhooks/anymail/postmark/inbound/",
            payload,
            content_type="application/json",
            HTTP_AUTHORIZATION=AUTH,
        )
    assert response.status_code == 200
    inbound = InboundMessage.objects.get()
    assert inbound.source == InboundMessage.Source.WEBHOOK
    assert inbound.message_id == "<CAF=gmail-reply-0001@mail.gmail.com>"
    inbound.refresh_from_db()
    assert inbound.status == InboundMessage.Status.PROCESSED
    assert Conversation.objects.get().subscriber == world.anna


@override_settings(ANYMAIL={"WEBHOOK_SECRET": "hook:s3cret"})
def test_inbound_webhook_without_the_secret_is_refused(client, world):
    response = client.post(
        "/webhooks/anymail/postmark/inbound/", {"RawEmail": "x"}, content_type="application/json"
    )
    assert response.status_code == 400
    assert not InboundMessage.objects.exists()


@override_settings(ANYMAIL={"WEBHOOK_SECRET": "hook:s3cret", "MAILGUN_WEBHOOK_SIGNING_KEY": "key-123"})
@time_machine.travel(1763715600 + 5, tick=False)  # signatures are accepted only while fresh
def test_mailgun_signed_inbound_webhook(client, world):
    timestamp, token = "1763715600", "a" * 50
    signature = hmac.new(b"key-123", f"{timestamp}{token}".encode(), hashlib.sha256).hexdigest()
    data = {
        "body-mime": eml("outlook_reply_de.eml").decode("latin-1"),
        "recipient": "newsletter@localhost",
        "sender": "juergen.mueller@example.com",
        "timestamp": timestamp,
        "token": token,
        "signature": signature,
    }
    response = client.post("/webhooks/anymail/mailgun/inbound_mime/", data, HTTP_AUTHORIZATION=AUTH)
    assert response.status_code == 200
    inbound = InboundMessage.objects.get()
    assert inbound.envelope_from == "juergen.mueller@example.com"
    assert inbound.envelope_to == ["newsletter@localhost"]
    data["signature"] = "0" * 64
    assert (
        client.post("/webhooks/anymail/mailgun/inbound_mime/", data, HTTP_AUTHORIZATION=AUTH).status_code
        == 400
    )


@override_settings(ANYMAIL={"WEBHOOK_SECRET": "hook:s3cret"})
def test_webhook_answers_500_when_storing_fails_so_the_esp_retries(client, world):
    client.raise_request_exception = False
    payload = {"RawEmail": eml("gmail_reply_en.eml").decode(), "Headers": [], "FromFull": {"Email": "a@b.c"}}
    down = OperationalError("down")
    with mock.patch("replies.services.inbound.InboundMessage.objects.create", side_effect=down):
        response = client.post(
            "/webhooks/anymail/postmark/inbound/",
            payload,
            content_type="application/json",
            HTTP_AUTHORIZATION=AUTH,
        )
    assert response.status_code == 500
