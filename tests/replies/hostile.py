"""Helpers of the hostile-mail tests (issue #10): a message builder, `ingest_email` with a
given standard input, the SMTP receiver on a free port."""

from __future__ import annotations

import io
import smtplib
from unittest import mock

import pytest
from django.core.management import call_command
from django.test import TestCase

from replies.smtp import InboundController, InboundHandler
from tests.replies.conftest import ANNA_TOKEN
from tests.support import free_port

REPLY_TO = f"reply+{ANNA_TOKEN}@reply.localhost"


def mail(
    *,
    subject: bytes = b"Re: Unser Rundbrief",
    body: bytes = b"Eine Frage zum Rundbrief.",
    sender: bytes = b"Anna Beispiel <anna@example.org>",
    msgid: bytes = b"<hostile-1@example.org>",
    headers: bytes = b"",
    content_type: bytes = b"text/plain; charset=utf-8",
) -> bytes:
    return (
        b"From: " + sender + b"\r\nTo: " + REPLY_TO.encode() + b"\r\nSubject: " + subject + b"\r\n"
        b"Message-ID: "
        + msgid
        + b"\r\nDate: Sun, 22 Nov 2026 10:00:00 +0100\r\n"
        + headers
        + b"MIME-Version: 1.0\r\n"
        b"Content-Type: " + content_type + b"\r\n\r\n" + body + b"\r\n"
    )


def run_ingest(stdin: bytes, *args: str) -> tuple[int, str, str]:
    stdout, stderr = io.StringIO(), io.StringIO()
    fake_stdin = mock.Mock()  # the true outer edge: what the MTA writes to the pipe
    fake_stdin.buffer = io.BytesIO(stdin)
    with mock.patch("sys.stdin", fake_stdin), TestCase.captureOnCommitCallbacks(execute=True):
        try:
            call_command("ingest_email", *args, stdout=stdout, stderr=stderr)
            code = 0
        except SystemExit as exc:
            code = exc.code
    return code, stdout.getvalue(), stderr.getvalue()


@pytest.fixture(name="receiver")
def receiver_fixture():
    started = []

    def start(**kwargs) -> int:
        port = free_port()
        controller = InboundController(InboundHandler(), host="127.0.0.1", port=port, **kwargs)
        controller.start()
        started.append(controller)
        return port

    yield start
    for controller in started:
        controller.stop()


def smtp_send(port: int, raw: bytes) -> tuple[int, str]:
    with smtplib.SMTP("127.0.0.1", port) as client:
        client.ehlo()
        client.mail("anna@example.org")
        client.rcpt(REPLY_TO)
        code, reply = client.data(raw)
    return code, reply.decode()


def nested(depth: int, *, kind: bytes = b"multipart/mixed") -> bytes:
    head = b"From: Anna <anna@example.org>\r\nTo: " + REPLY_TO.encode() + b"\r\nSubject: tief\r\n"
    head += b"Message-ID: <deep@example.org>\r\nMIME-Version: 1.0\r\n"
    opening, closing = b"", b""
    for level in range(depth):
        if kind == b"message/rfc822":
            opening += b"Content-Type: message/rfc822\r\n\r\nSubject: level %d\r\n" % level
        else:
            opening += b'Content-Type: multipart/mixed; boundary="b%d"\r\n\r\n--b%d\r\n' % (level, level)
            closing = closing + b"\r\n--b%d--\r\n" % (depth - 1 - level)
    return head + opening + b"Content-Type: text/plain\r\n\r\nDie innerste Frage\r\n" + closing
