"""The mail layer (rundbrief.mail): token addresses, subjects, refusals, backoff, effects."""

from __future__ import annotations

import smtplib

import pytest
from anymail.exceptions import AnymailInvalidAddress, AnymailUnsupportedFeature
from anymail.message import AnymailRecipientStatus, AnymailStatus

from rundbrief import effects
from rundbrief.mail.addresses import REPLY, TokenAddress, new_token
from rundbrief.mail.headers import clean_header, new_message_id
from rundbrief.mail.refusals import (
    PermanentSendError,
    TransientSendError,
    classify,
    may_retry,
    refused_by_esp,
    retry_delay,
)
from rundbrief.mail.subjects import normalise_subject, reply_subject, strip_prefixes
from rundbrief.mail.transports.base import OutgoingMail
from rundbrief.mail.transports.esp import ESPTransport


def test_reply_addresses_carry_their_token_and_other_kinds_are_told_apart(settings):
    settings.REPLY_DOMAIN = "reply.example.org"
    token = new_token()
    address = REPLY.address(token)
    assert address == f"reply+{token}@reply.example.org"
    assert REPLY.token_of(f"<{address.upper()}>") == token  # MTAs may fold the case
    assert REPLY.token_of(f"reply+{token}@other.example.org") is None  # not our domain
    # A VERP return path is the same shape with another tag, never mistaken for a reply address.
    bounces = TokenAddress("bounces")
    assert bounces.token_of(bounces.address(token)) == token
    assert REPLY.token_of(bounces.address(token)) is None
    assert bounces.token_of(address) is None
    text = f"> Reply-To: {address}\n> To: {bounces.address('f' * 32)}\n"
    assert REPLY.tokens_in_text(text) == {token}


def test_message_ids_are_unique_and_headers_cannot_be_injected(settings):
    settings.DEFAULT_FROM_EMAIL = "News <news@example.org>"
    first, second = new_message_id(), new_message_id()
    assert first != second and first.endswith("@example.org>")
    assert clean_header("Hello\r\nBcc: evil@example.org") == "Hello Bcc: evil@example.org"


@pytest.mark.parametrize(
    ("subject", "stripped", "answer"),
    [
        ("Frage", "Frage", "Re: Frage"),
        ("Re: Frage", "Frage", "Re: Frage"),
        ("AW: Frage", "Frage", "AW: Frage"),
        ("Antw: Frage", "Frage", "Antw: Frage"),
        ("SV: Fråga", "Fråga", "SV: Fråga"),
        ("Re[2]: Frage", "Frage", "Re[2]: Frage"),
        ("Fwd: Frage", "Frage", "Re: Fwd: Frage"),  # answering a forward is a reply to it
        ("WG: AW: Frage", "Frage", "Re: WG: AW: Frage"),
        ("Frage: Re: Abo", "Frage: Re: Abo", "Re: Frage: Re: Abo"),  # only leading prefixes
    ],
)
def test_one_prefix_rule_for_comparing_and_answering(subject, stripped, answer):
    assert strip_prefixes(subject) == stripped
    assert normalise_subject(subject) == stripped.casefold()
    assert reply_subject(subject) == answer


@pytest.mark.parametrize(
    ("error", "kind", "reason"),
    [
        (
            smtplib.SMTPRecipientsRefused({"a@x.org": (550, b"5.1.1 unknown")}),
            PermanentSendError,
            "a@x.org: 550",
        ),
        (smtplib.SMTPRecipientsRefused({"a@x.org": (452, b"4.2.2 full")}), TransientSendError, "452 4.2.2"),
        (smtplib.SMTPDataError(554, b"5.7.1 spam"), PermanentSendError, "554 5.7.1 spam"),
        (smtplib.SMTPResponseException(421, b"busy"), TransientSendError, "421 busy"),
        (ConnectionRefusedError(111, "Connection refused"), TransientSendError, "Connection refused"),
        # Refused by anymail while building the request: nothing was sent, a retry builds the same.
        (AnymailInvalidAddress("Invalid email address 'x'"), PermanentSendError, "Invalid email"),
        (AnymailUnsupportedFeature("no tags"), PermanentSendError, "no tags"),
        (KeyError("a bug"), PermanentSendError, "a bug"),
    ],
)
def test_classify_reads_every_refusal_the_same_way(error, kind, reason):
    refusal = classify(error)
    assert type(refusal) is kind
    assert reason in refusal.reason


def test_lost_connections_are_temporary_and_say_the_backend_is_down():
    assert classify(smtplib.SMTPServerDisconnected("gone")).connection_lost
    assert not classify(smtplib.SMTPDataError(451, b"later")).connection_lost


def test_one_set_of_refused_esp_statuses():
    assert refused_by_esp({"failed"}) and refused_by_esp({"rejected", "invalid"})
    assert not refused_by_esp({"queued"}) and not refused_by_esp({"failed", "sent"})
    assert not refused_by_esp(set())  # no status given: the call succeeded


def test_one_backoff_rule_from_the_settings(settings):
    settings.SEND_RETRY_BASE_SECONDS, settings.SEND_RETRY_MAX_SECONDS, settings.SEND_MAX_ATTEMPTS = 30, 900, 5
    assert [retry_delay(n) for n in range(1, 8)] == [30, 60, 120, 240, 480, 900, 900]
    assert [may_retry(n) for n in (1, 4, 5)] == [True, True, False]


class _FailedStatusBackend:
    """Stands in for an ESP's HTTP edge that answers the call with a per-recipient status."""

    status = "failed"

    def __init__(self, **kwargs):
        pass

    def open(self):
        pass

    def close(self):
        pass

    def send_messages(self, messages):
        for message in messages:
            recipient = AnymailRecipientStatus(message_id="esp-1", status=self.status)
            status = AnymailStatus()
            status.set_recipient_status({message.to[0]: recipient})
            message.anymail_status = status
        return len(messages)


@pytest.mark.parametrize(("status", "accepted"), [("failed", False), ("rejected", False), ("queued", True)])
def test_a_per_message_esp_status_failed_is_a_refusal_as_in_batches(settings, status, accepted):
    settings.EMAIL_BACKEND = f"{__name__}._FailedStatusBackend"
    _FailedStatusBackend.status = status
    mail = OutgoingMail(
        to_address="eva@example.org",
        to_name="Eva",
        message_id="<1@x>",
        raw=b"",
        subject="S",
        from_header="a@x",
    )
    seen = []
    transport = ESPTransport()
    if accepted:
        transport.send(mail, seen.append)
        assert seen == ["esp-1"]
    else:
        with pytest.raises(PermanentSendError, match=status):
            transport.send(mail, seen.append)
        assert seen == []


def test_effects_name_registered_tasks_and_best_effort_ones_never_raise(caplog):
    with pytest.raises(KeyError):
        effects.enqueue(effects.Enqueue("replies.tasks.no_such_task"))
    effects.enqueue(effects.Enqueue("replies.tasks.no_such_task", best_effort=True))
    assert "its sweeper will retry" in caplog.text
