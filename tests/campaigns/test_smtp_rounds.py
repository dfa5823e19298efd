"""SMTP rounds: one mail per connection, one acceptance commit per round, refusals kept apart.

A real aiosmtpd server; each test refuses or drops one mail in the middle of a round and
checks that exactly that delivery carries the error while its round-mates are sent once.
"""

from __future__ import annotations

import re

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP
from hypothesis import given
from hypothesis import strategies as st

from campaigns import services
from campaigns.models import Acceptance, Campaign, Delivery
from rundbrief.mail.transports.smtp import SMTPTransport, dot_stuffed
from tests.support import free_port

from .conftest import make_subscriber

pytestmark = pytest.mark.django_db(transaction=True)

ADDRESSES = [f"r{n}@example.org" for n in range(10)]


@pytest.fixture
def audience(topic):
    return [make_subscriber(address, topic) for address in ADDRESSES]


def _status(address: str) -> Delivery:
    return Delivery.objects.get(subscriber__email=address)


def test_mails_go_out_in_rounds_over_several_connections(campaign, audience, smtp_settings, settings):
    settings.SMTP_CONNECTIONS = 3
    handler = smtp_settings
    peers: set = set()
    original = handler.handle_DATA

    async def note_peer(server, session, envelope):
        peers.add(session.peer)
        return await original(server, session, envelope)

    handler.handle_DATA = note_peer
    services.launch_campaign(campaign=campaign)
    assert dict(handler.counts) == {address: 1 for address in ADDRESSES}
    assert len(peers) == 3  # three connections, each reused
    assert not Acceptance.objects.exists()
    assert Campaign.objects.get().status == Campaign.Status.SENT


def test_a_refused_recipient_in_a_round_fails_alone(campaign, audience, smtp_settings, settings):
    settings.SMTP_CONNECTIONS = 4
    handler = smtp_settings

    async def refuse(server, session, envelope, address, rcpt_options):
        if address == "r5@example.org":
            return "550 5.1.1 No such user"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    handler.handle_RCPT = refuse
    services.launch_campaign(campaign=campaign)
    refused = _status("r5@example.org")
    assert refused.status == Delivery.Status.FAILED and refused.error.startswith("550")
    assert dict(handler.counts) == {address: 1 for address in ADDRESSES if address != "r5@example.org"}
    assert Delivery.objects.filter(status=Delivery.Status.SENT).count() == len(ADDRESSES) - 1
    assert not Acceptance.objects.exists()


def _answer_after_dot(handler, address: str, answer, *, times: int) -> None:
    """The server answers ``address``'s first ``times`` mails with ``answer(server)`` instead of 250."""
    original = handler.handle_DATA
    answered: list[str] = []

    async def handle_data(server, session, envelope):
        if envelope.rcpt_tos == [address] and len(answered) < times:
            answered.append(address)
            return answer(server)
        return await original(server, session, envelope)

    handler.handle_DATA = handle_data


def _drop_connection(server) -> str:
    server.transport.close()  # the reply to "." never comes
    return "250 OK"


def test_a_refusal_after_the_dot_takes_the_acceptance_back(campaign, audience, smtp_settings, settings):
    settings.SMTP_CONNECTIONS = 4
    _answer_after_dot(smtp_settings, "r6@example.org", lambda server: "554 5.7.1 Content rejected", times=99)
    services.launch_campaign(campaign=campaign)
    refused = _status("r6@example.org")
    assert refused.status == Delivery.Status.FAILED and refused.error.startswith("554")
    assert refused.sent_at is None
    assert Delivery.objects.filter(status=Delivery.Status.SENT).count() == len(ADDRESSES) - 1
    assert not Acceptance.objects.exists()


def test_a_temporary_refusal_after_the_dot_is_retried(campaign, audience, smtp_settings, settings):
    settings.SMTP_CONNECTIONS = 4
    _answer_after_dot(smtp_settings, "r2@example.org", lambda server: "451 4.3.0 Try again later", times=1)
    services.launch_campaign(campaign=campaign)  # eager Celery runs the retry at once
    retried = _status("r2@example.org")
    assert retried.status == Delivery.Status.SENT and retried.attempts == 2
    assert dict(smtp_settings.counts) == {address: 1 for address in ADDRESSES}


def test_a_connection_lost_mid_round_hands_the_rest_back(campaign, audience, smtp_settings, settings):
    """The server drops one connection after DATA: that mail and the unsent rest are retried."""
    settings.SMTP_CONNECTIONS = 4
    _answer_after_dot(smtp_settings, "r3@example.org", _drop_connection, times=1)
    services.launch_campaign(campaign=campaign)
    assert Delivery.objects.filter(status=Delivery.Status.SENT).count() == len(ADDRESSES)
    # The server dropped r3's first mail without saying 250 (nor keeping it): the retry is its only one.
    assert dict(smtp_settings.counts) == {address: 1 for address in ADDRESSES}
    assert _status("r3@example.org").attempts == 2


def test_a_round_needs_no_more_mails_than_connections(settings):
    settings.SMTP_CONNECTIONS = 2
    with pytest.raises(ValueError):
        SMTPTransport().send_round([object()] * 3, lambda mails: None)


@pytest.mark.parametrize(
    ("raw", "payload"),
    [
        (b"a\r\nb\r\n", b"a\r\nb\r\n"),
        (b".start\r\nx\r\n.\r\n..two\r\n", b"..start\r\nx\r\n..\r\n...two\r\n"),
        (b"no final line break", b"no final line break\r\n"),
    ],
)
def test_dot_stuffing(raw, payload):
    assert dot_stuffed(raw) == payload


_LINES = st.lists(st.sampled_from([b".", b"..", b"\r\n", b"a", b" ", b"\xc3\xa4"]), max_size=40).map(b"".join)


@given(_LINES)
def test_dot_stuffing_doubles_every_dot_that_starts_a_line(raw):
    reference = re.sub(rb"(?m)^\.", b"..", raw)  # RFC 5321 4.5.2, literally
    assert dot_stuffed(raw) == (reference if reference.endswith(b"\r\n") else reference + b"\r\n")


class _LimitedSMTP(SMTP):
    """A server that, like a relay with a per-client limit, answers 421 beyond `limit` connections."""

    open_connections = 0
    limit = 2

    def connection_made(self, transport) -> None:
        self.refused = type(self).open_connections >= self.limit
        if self.refused:
            transport.write(b"421 4.7.0 Too many connections\r\n")
            transport.close()
            return
        type(self).open_connections += 1
        super().connection_made(transport)

    def connection_lost(self, exc) -> None:
        if not self.refused:
            type(self).open_connections -= 1
            super().connection_lost(exc)


class _LimitedController(Controller):
    def factory(self):
        return _LimitedSMTP(self.handler)


def test_a_relay_that_takes_fewer_connections_gets_smaller_rounds(
    campaign, audience, smtp_settings, settings
):
    """A relay's connection limit must not stall the campaign: the rounds shrink to what it takes."""
    settings.SMTP_CONNECTIONS = 4
    handler = smtp_settings
    controller = _LimitedController(handler, hostname="127.0.0.1", port=free_port())
    controller.start()
    try:
        settings.EMAIL_PORT = controller.port
        services.launch_campaign(campaign=campaign)
    finally:
        controller.stop()
    assert dict(handler.counts) == {address: 1 for address in ADDRESSES}
    assert Delivery.objects.filter(status=Delivery.Status.SENT, attempts=1).count() == len(ADDRESSES)
