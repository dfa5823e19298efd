"""A bounded fuzz test (hypothesis): malformed and hostile messages through `ingest_email` and
the real SMTP receiver, on the real PostgreSQL.

For every generated message: `ingest_email` exits 0 or 65 (never 75: the database is up, so a
temporary failure could only come from the message, and would be retried forever); the SMTP
receiver answers 250 or a permanent 5xx (never 451); whatever was acknowledged is stored
byte-exact (or was stored before, under the same dedupe key); and processing finishes for
each stored message: processed, never left behind. The same messages are then drained by a
real `celery worker` process, which must survive them, claim each once and stay under 300 MB.
About a minute in all (80 examples per test, the same on every run: derandomized).
"""

from __future__ import annotations

import base64
import re
import smtplib
import time
from datetime import timedelta

import pytest
from django.db import transaction
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from replies import services
from replies.models import InboundMessage, StaffProfile
from replies.services import dedupe_key
from tests.replies.hostile import receiver_fixture, run_ingest  # noqa: F401 - a fixture
from tests.replies.test_hostile_worker import MEMORY_LIMIT_MB, peak_rss_mb, pool_processes
from tests.support import start_celery_worker, stop_workers, worker_environment

Status = InboundMessage.Status
REPLY_TO = "reply+a1b2c3d4e5f60718293a4b5c6d7e8f90@reply.localhost"

FUZZ = settings(
    max_examples=80,
    deadline=None,
    derandomize=True,  # the same examples on every run: a failure is reproducible, CI is stable
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
    ],
)

# --- building blocks of hostile mail ----------------------------------------------------------

NASTY_TEXT = st.sampled_from(
    [
        b"\x00",
        b"\x00\x00\xd8\x00",
        b"\xff\xfe",
        b"\xed\xa0\x80",  # a UTF-8-encoded lone surrogate
        b"\xc3",
        b"=?",
        b"?=",
        b"\r",
        b"\n ",
        b"\t",
        b"<",
        b">",
        b",",
        b";",
        b'"',
        b"\\",
        b"@",
        b"=00",
        b"%00",
    ]
)
CHARSETS = st.sampled_from(
    ["utf-8", "utf-16", "utf-16-be", "utf-32", "latin-1", "iso-2022-jp", "gb18030", "x-unknown", "", "utf-7"]
)


@st.composite
def encoded_word(draw) -> bytes:
    charset = draw(CHARSETS).encode()
    payload = draw(st.binary(max_size=24))
    if draw(st.booleans()):
        return b"=?" + charset + b"?B?" + base64.b64encode(payload) + b"?="
    return (
        b"=?"
        + charset
        + b"?Q?"
        + re.sub(rb"[^A-Za-z0-9]", lambda m: b"=%02X" % m.group()[0], payload)
        + b"?="
    )


HEADER_VALUE = st.lists(
    st.one_of(
        st.binary(max_size=40),
        NASTY_TEXT,
        encoded_word(),
        st.just(b"Anna <anna@example.org>"),
        st.just(REPLY_TO.encode()),
        st.just(b"<id@example.org>"),
    ),
    max_size=8,
).map(b"".join)

HEADER_NAMES = st.sampled_from(
    [
        b"From",
        b"To",
        b"Cc",
        b"Subject",
        b"Message-ID",
        b"In-Reply-To",
        b"References",
        b"Date",
        b"Content-Type",
        b"Content-Transfer-Encoding",
        b"Content-Disposition",
        b"Auto-Submitted",
        b"X-Autoreply",
        b"Precedence",
        b"List-Unsubscribe",
        b"Return-Path",
        b"Delivered-To",
        b"X-Weird\x00Name",
        b"",
    ]
)


@st.composite
def headers(draw) -> bytes:
    fields = draw(st.lists(st.tuples(HEADER_NAMES, HEADER_VALUE), max_size=10))
    eol = draw(st.sampled_from([b"\r\n", b"\n", b"\r"]))
    return b"".join(name + b": " + value + eol for name, value in fields)


@st.composite
def mime_body(draw, depth: int = 0) -> tuple[bytes, bytes]:
    """(Content-Type and encoding header lines, body) of a random, often broken, MIME entity."""
    kind = draw(st.sampled_from(["text", "html", "base64", "qp", "multipart", "rfc822", "report", "junk"]))
    charset = draw(CHARSETS).encode()
    if kind == "multipart" and depth < 4:
        boundary = draw(st.sampled_from([b"b1", b"=_b", b"", b"x" * 80, b"--", b"b\x00"]))
        parts = draw(st.lists(mime_body(depth + 1), max_size=3))
        body = b"".join(b"--" + boundary + b"\r\n" + head + b"\r\n" + part + b"\r\n" for head, part in parts)
        if draw(st.booleans()):
            body += b"--" + boundary + b"--\r\n"
        subtype = draw(st.sampled_from([b"mixed", b"alternative", b"related", b"digest", b"report"]))
        return b"Content-Type: multipart/" + subtype + b'; boundary="' + boundary + b'"\r\n', body
    if kind == "rfc822" and depth < 4:
        head, part = draw(mime_body(depth + 1))
        inner = draw(headers()) + head + b"\r\n" + part
        return b"Content-Type: message/rfc822\r\n", inner
    if kind == "report":
        status = b"Final-Recipient: rfc822; anna@example.org\r\nAction: failed\r\nStatus: 5.1.1\r\n"
        return b"Content-Type: message/delivery-status\r\n", b"Reporting-MTA: dns; mx\r\n\r\n" + status
    payload = draw(st.binary(max_size=300))
    if kind == "base64":
        encoded = base64.b64encode(payload)
        if draw(st.booleans()):
            encoded = encoded[: draw(st.integers(0, len(encoded)))] + draw(st.binary(max_size=5))
        subtype = draw(st.sampled_from([b"text/plain", b"text/html", b"application/pdf", b"image/png"]))
        name = draw(st.sampled_from([b"", b'; filename="a\x00b.pdf"', b"; filename==?utf-16?B?AADYAA==?="]))
        return (
            b"Content-Type: "
            + subtype
            + b"; charset="
            + charset
            + b"\r\nContent-Transfer-Encoding: base64\r\n"
            b"Content-Disposition: attachment" + name + b"\r\n",
            encoded,
        )
    if kind == "qp":
        return (
            b"Content-Type: text/plain; charset="
            + charset
            + b"\r\nContent-Transfer-Encoding: quoted-printable\r\n",
            payload + b"=00=D8=00=\r\n=ZZ",
        )
    if kind == "html":
        return (
            b"Content-Type: text/html; charset=" + charset + b"\r\n",
            b"<p>" + payload + b"<script>x</script>",
        )
    if kind == "junk":
        return draw(st.binary(max_size=80)) + b"\r\n", payload
    return b"Content-Type: text/plain; charset=" + charset + b"\r\n", payload


@st.composite
def hostile_message(draw) -> bytes:
    if draw(st.integers(0, 9)) == 0:
        return draw(st.binary(max_size=200))  # anything at all
    head = b"From: " + draw(HEADER_VALUE) + b"\r\nTo: " + REPLY_TO.encode() + b"\r\n"
    head += (
        b"Message-ID: "
        + draw(st.sampled_from([b"<fuzz@example.org>", b"", b"<\x00>", b"<a@b> <c@d>"]))
        + b"\r\n"
    )
    head += draw(headers())
    content_head, body = draw(mime_body())
    separator = draw(st.sampled_from([b"\r\n", b"\n", b"", b"\r\n\r\n"]))
    return head + b"MIME-Version: 1.0\r\n" + content_head + separator + body


def assert_stored(pk: int, raw: bytes) -> None:
    inbound = InboundMessage.objects.get(pk=pk)
    stored = bytes(inbound.raw)
    # Byte-exact, or this message had been stored before under the same key (a duplicate).
    assert stored == raw or dedupe_key(stored) == dedupe_key(raw)
    assert inbound.status == Status.PROCESSED, inbound.error[-2000:]


# --- the fuzz tests --------------------------------------------------------------------------------


@pytest.mark.django_db
@FUZZ
@given(raw=hostile_message())
def test_fuzz_ingest_email(world, raw):
    code, out, err = run_ingest(raw, "--recipient", REPLY_TO)
    assert code in (0, 65), err
    if code == 0:
        assert_stored(int(out.split()[0]), raw)
    else:
        assert not raw.strip() or "header" in err or "empty" in err, err


def smtp_wire(raw: bytes) -> bytes:
    """The message as an MTA relays it (RFC 5321: every line ending CRLF, a final CRLF); smtplib
    sends bytes as they are, and dot-stuffs after a bare LF too, which no receiver undoes."""
    fixed = re.sub(rb"(?:\r\n|\n|\r(?!\n))", b"\r\n", raw)
    return fixed if fixed.endswith(b"\r\n") else fixed + b"\r\n"


@pytest.mark.django_db(transaction=True)
@FUZZ
@given(raw=hostile_message())
def test_fuzz_smtp_receiver(world, receiver, raw):
    port = _one_port(receiver)
    with smtplib.SMTP("127.0.0.1", port) as client:
        client.ehlo()
        client.mail("fuzz@example.org")
        client.rcpt(REPLY_TO)
        code, reply = client.data(smtp_wire(raw))
    assert code in (250, 554), reply
    if code == 250:
        assert_stored(int(reply.decode().rsplit("#", 1)[1]), smtp_wire(raw))


_ports: dict[int, int] = {}


def _one_port(start) -> int:
    """One receiver for all examples of a test (the fixture is function-scoped: hypothesis
    runs every example inside one call of the test function)."""
    key = id(start)
    if key not in _ports:
        _ports.clear()
        _ports[key] = start()
    return _ports[key]


def generated_messages() -> list[bytes]:
    """The messages the fuzz tests above are given (the same settings, so the same examples)."""
    found: list[bytes] = []

    @FUZZ
    @given(raw=hostile_message())
    def collect(raw: bytes) -> None:
        found.append(raw)

    collect()
    return list(dict.fromkeys(found))


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_fuzz_a_real_worker_drains_hostile_mail_without_crashing(world, real_celery, tmp_path):
    """The fuzz tests' messages stored at once, drained by a real `celery worker` process: it
    stays alive, processes every one, each claimed once (no process died on one), and its pool
    process stays under 300 MB."""
    StaffProfile.objects.update(notify_by_email=False)
    stored = set()
    with transaction.atomic():
        for raw in generated_messages():
            try:
                stored.add(services.store_inbound(raw, source=InboundMessage.Source.PIPE).pk)
            except services.RejectedMessage:
                continue
    assert len(stored) > 20
    env = worker_environment(MEDIA_ROOT=str(tmp_path / "media"), LOG_LEVEL="ERROR")
    worker = start_celery_worker(queues=["inbound"], env=env)
    pending = InboundMessage.objects.filter(pk__in=stored, status=Status.RECEIVED)
    deadline = time.monotonic() + 90
    peak = 0.0
    try:
        while pending.exists():
            assert time.monotonic() < deadline, "the worker did not finish"
            assert worker.poll() is None, "the worker process died"
            peak = max([peak, *(peak_rss_mb(pid) for pid in pool_processes(worker))])
            time.sleep(0.2)
            services.requeue_stale_inbound(older_than=timedelta(0))
        peak = max([peak, *(peak_rss_mb(pid) for pid in pool_processes(worker))])
    finally:
        stop_workers([worker])
    assert peak < MEMORY_LIMIT_MB
    messages = InboundMessage.objects.filter(pk__in=stored)
    assert {m.status for m in messages} == {Status.PROCESSED}, [m.error[-300:] for m in messages]
    assert {m.attempts for m in messages} == {1}  # each claimed once: no process died on one
