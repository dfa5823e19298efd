"""Several big messages at once over SMTP: one byte budget for all sessions (replies/smtp.py).

A session in DATA holds its message (a few times over, while it is stored); without a shared
bound, N clients sending N big messages at once made N times that. Each DATA now reserves the
size its client declared (MAIL FROM ... SIZE=, RFC 1870), or the size limit when it declared
none; a session that finds no room waits, then gets a temporary 451 (its MTA retries).
Real SMTP over loopback, a real receiver, real PostgreSQL.
"""

from __future__ import annotations

import smtplib

import pytest

from replies.models import InboundMessage
from replies.smtp import declared_size
from tests.replies.hostile import REPLY_TO, mail, receiver_fixture  # noqa: F401 - a fixture

smtp_db = pytest.mark.django_db(transaction=True)

LIMIT = 100_000


def _session(port: int, size: int | None) -> smtplib.SMTP:
    client = smtplib.SMTP("127.0.0.1", port, timeout=30)
    client.ehlo()
    client.mail("anna@example.org", options=[f"SIZE={size}"] if size else [])
    client.rcpt(REPLY_TO)
    return client


def _finish(client: smtplib.SMTP, raw: bytes) -> tuple[int, bytes]:
    client.send(smtplib.quotedata(raw.decode()).encode() + b"\r\n.\r\n")
    reply = client.getreply()
    client.quit()
    return reply


def test_declared_size_is_read_from_the_mail_options():
    assert declared_size(["BODY=8BITMIME", "SIZE=12345"]) == 12345
    assert declared_size(["size=7"]) == 7
    assert declared_size(["SIZE=lots"]) is None
    assert declared_size([]) is None


@smtp_db
def test_big_messages_wait_for_room_and_small_ones_pass(receiver, world):
    port = receiver(max_bytes=LIMIT, buffer_bytes=150_000, buffer_wait_seconds=1)
    big = mail(body=b"x" * 60_000)
    first = _session(port, LIMIT)
    assert first.docmd("DATA")[0] == 354  # holds 100,000 of the 150,000 bytes
    second = _session(port, LIMIT)
    code, reply = second.docmd("DATA")
    assert code == 451 and b"try again later" in reply  # no room: temporary, the MTA retries
    undeclared = _session(port, None)
    assert undeclared.docmd("DATA")[0] == 451  # no SIZE: it reserves the size limit
    small = _session(port, 2_000)
    assert small.docmd("DATA")[0] == 354  # a small message is not held up by a big one
    assert _finish(small, mail(body=b"kurz"))[0] == 250
    assert _finish(first, big)[0] == 250
    # The first session's room is free again: the retried DATA goes through.
    assert second.docmd("DATA")[0] == 354
    assert _finish(second, mail(body=b"y" * 60_000))[0] == 250
    assert InboundMessage.objects.count() == 3


@smtp_db
def test_a_refused_data_command_gives_its_reservation_back(receiver, world):
    port = receiver(max_bytes=LIMIT, buffer_bytes=LIMIT, buffer_wait_seconds=1)
    client = smtplib.SMTP("127.0.0.1", port, timeout=30)
    client.ehlo()
    assert client.docmd("DATA")[0] == 503  # no MAIL FROM yet: aiosmtpd's own error
    client.quit()
    later = _session(port, LIMIT)
    assert later.docmd("DATA")[0] == 354  # the whole budget is free
    assert _finish(later, mail(body=b"hallo"))[0] == 250
