"""Staff answer a new-reply notification by mail, end to end through the real SMTP receiver
(replies/smtp.py): only from their own address and with that notification's token; anything
else is refused and kept, with the reason shown to staff."""

from __future__ import annotations

import email
import email.policy
import re
import smtplib

import pytest
from django.core import mail as django_mail
from django.test import Client
from django.urls import reverse

from replies.models import Conversation, ConversationEvent, InboundMessage, Message, StaffNotification, Team
from replies.smtp import InboundController, InboundHandler
from rundbrief.mail.addresses import REPLY
from tests.replies.conftest import eml, make_staff
from tests.support import free_port

# The receiver stores from its own threads: those need committed data, hence transaction=True.
pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def smtp_port():
    port = free_port()
    controller = InboundController(InboundHandler(), host="127.0.0.1", port=port)
    controller.start()
    yield port
    controller.stop()


def send(port: int, raw: bytes, *, rcpt: str, sender: str) -> None:
    with smtplib.SMTP("127.0.0.1", port) as client:
        client.sendmail(sender, [rcpt], re.sub(rb"\r?\n", b"\r\n", raw))


def parsed(message) -> email.message.EmailMessage:
    return email.message_from_bytes(message.message().as_bytes(), policy=email.policy.default)


def staff_answer(*, sender: str, to: str, notification, text: str, n: int = 1, headers: str = "") -> bytes:
    """What a mail client sends when a staff member answers the notification: text on top, the
    notification quoted below."""
    quoted = "\n".join(f"> {line}" for line in notification.body.splitlines())
    return (
        f"From: Staff Person <{sender}>\nTo: {to}\nSubject: Re: {notification.subject}\n"
        f"Message-ID: <staff-answer-{n}@staff.localhost>\n"
        f"In-Reply-To: {parsed(notification)['Message-ID']}\n{headers}"
        "Content-Type: text/plain; charset=utf-8\nMIME-Version: 1.0\n\n"
        f"{text}\n\nOn Mon, 23 Nov 2026 at 10:00, Rundbrief <newsletter@localhost> wrote:\n{quoted}\n"
    ).encode()


@pytest.fixture
def notified(world, smtp_port):
    """Anna Beispiel's reply arrives by SMTP; her contact person Anna Berg is notified by mail."""
    send(
        smtp_port,
        eml("gmail_reply_en.eml"),
        rcpt=f"reply+{'a1b2c3d4e5f60718293a4b5c6d7e8f90'}@reply.localhost",
        sender="anna@example.org",
    )
    conversation = Conversation.objects.get()
    assert conversation.assignee == world.anna_staff
    [notification] = [m for m in django_mail.outbox if m.to == [world.anna_staff.email]]
    stored = StaffNotification.objects.get()
    assert stored.user == world.anna_staff and stored.conversation == conversation
    assert notification.reply_to == [REPLY.address(stored.token)]
    assert "Answer this mail to answer them" in notification.body
    django_mail.outbox.clear()
    return conversation, notification, stored


def test_the_assignee_answers_by_mail_and_the_subscriber_gets_it_under_her_name(world, smtp_port, notified):
    conversation, notification, stored = notified
    raw = staff_answer(
        sender=world.anna_staff.email.upper(),  # addresses compare case-insensitively
        to=REPLY.address(stored.token),
        notification=notification,
        text="Liebe Frau Beispiel,\nwir rufen Sie morgen an.",
    )
    send(smtp_port, raw, rcpt=REPLY.address(stored.token), sender=world.anna_staff.email)
    inbound = InboundMessage.objects.order_by("-pk").first()
    assert (inbound.status, inbound.kind) == ("processed", InboundMessage.Kind.STAFF_ANSWER)
    answer = conversation.messages.get(direction=Message.Direction.OUTBOUND)
    assert answer.author == world.anna_staff
    assert answer.stripped_text == "Liebe Frau Beispiel,\nwir rufen Sie morgen an."  # the quote is gone
    assert answer.send_status == Message.SendStatus.SENT
    assert answer.inbound == inbound  # the answer keeps the mail it came as
    [sent] = django_mail.outbox
    header = parsed(sent)
    assert sent.to == ["anna@example.org"]
    assert header["From"].startswith("Anna Berg")
    assert sent.reply_to == [REPLY.address(answer.reply_token)]
    assert "wir rufen Sie morgen an" in sent.body and "Redaktion Rundbrief" in sent.body
    assert "Hello Anna Berg" not in sent.body  # nothing of the notification reaches the subscriber
    conversation.refresh_from_db()
    assert conversation.waiting_since is None
    hit = inbound.rule_hits[-1]
    assert hit["rule"] == "staff_answer" and hit["actions"][0]["code"] == "staff_answer_posted"


@pytest.mark.parametrize(
    ("who", "token", "code"),
    [
        ("stranger", "real", "staff_refused_sender"),
        ("colleague", "real", "staff_refused_other_staff"),
        ("owner", "forged", "staff_refused_unknown_token"),
    ],
)
def test_anything_else_is_refused_kept_and_shown(world, smtp_port, notified, who, token, code):
    conversation, notification, stored = notified
    colleague = make_staff("ben.staff", display_name="Ben Staff", email="ben@staff.localhost")
    sender = {
        "stranger": "mallory@example.net",
        "colleague": colleague.email,
        "owner": world.anna_staff.email,
    }[who]
    address = REPLY.address(stored.token if token == "real" else "f" * len(stored.token))
    raw = staff_answer(
        sender=sender, to=address, notification=notification, text="Sie bekommen alles umsonst."
    )
    send(smtp_port, raw, rcpt=address, sender=sender)
    inbound = InboundMessage.objects.order_by("-pk").first()
    assert (inbound.status, inbound.kind) == ("processed", InboundMessage.Kind.REFUSED)
    assert inbound.rule_hits[-1]["actions"][0]["code"] == code
    assert not conversation.messages.filter(direction=Message.Direction.OUTBOUND).exists()
    assert not [m for m in django_mail.outbox if "anna@example.org" in m.to]
    assert conversation.messages.count() == 1  # not on the subscriber's timeline either
    if token == "real":  # the conversation shows the refusal, and why
        event = conversation.events.get(kind=ConversationEvent.Kind.REFUSED)
        assert event.reasons[0]["code"] == code and sender in event.text.lower()
    manager = make_staff("mona", group="Managers")
    client = Client()
    client.force_login(manager)
    listing = client.get(reverse("replies:inbound_list") + "?show=refused").content.decode()
    assert f'href="{reverse("replies:inbound_detail", args=[inbound.pk])}"' in listing
    assert "refused:" in listing
    detail = client.get(reverse("replies:inbound_detail", args=[inbound.pk])).content.decode()
    assert "umsonst" in detail  # kept as it came
    if token == "real":
        page = client.get(reverse("replies:conversation", args=[conversation.pk])).content.decode()
        assert "Answer by mail refused" in page


def test_an_out_of_office_reply_to_a_notification_is_no_answer(world, smtp_port, notified):
    conversation, notification, stored = notified
    raw = staff_answer(
        sender=world.anna_staff.email,
        to=REPLY.address(stored.token),
        notification=notification,
        text="Ich bin bis Montag nicht im Büro.",
        headers="Auto-Submitted: auto-replied\n",
    )
    send(smtp_port, raw, rcpt=REPLY.address(stored.token), sender=world.anna_staff.email)
    inbound = InboundMessage.objects.order_by("-pk").first()
    assert inbound.kind == InboundMessage.Kind.REFUSED
    assert inbound.rule_hits[-1]["actions"][0]["code"] == "staff_refused_automatic"
    assert not conversation.messages.filter(direction=Message.Direction.OUTBOUND).exists()


def test_stop_from_staff_does_not_unsubscribe_the_subscriber(world, smtp_port, notified):
    conversation, notification, stored = notified
    raw = staff_answer(
        sender=world.anna_staff.email, to=REPLY.address(stored.token), notification=notification, text="stop"
    )
    send(smtp_port, raw, rcpt=REPLY.address(stored.token), sender=world.anna_staff.email)
    world.anna.refresh_from_db()
    assert world.anna.status == "confirmed"
    assert conversation.messages.get(direction=Message.Direction.OUTBOUND).stripped_text == "stop"


def test_refused_when_a_colleague_answered_since_the_notification(world, smtp_port, notified):
    conversation, notification, stored = notified
    colleague = make_staff("ben.staff", group="Managers", display_name="Ben Staff")
    client = Client()
    client.force_login(colleague)
    client.post(reverse("replies:reply", args=[conversation.pk]), {"text": "Schon erledigt."})
    raw = staff_answer(
        sender=world.anna_staff.email,
        to=REPLY.address(stored.token),
        notification=notification,
        text="Ich auch.",
    )
    send(smtp_port, raw, rcpt=REPLY.address(stored.token), sender=world.anna_staff.email)
    inbound = InboundMessage.objects.order_by("-pk").first()
    assert inbound.kind == InboundMessage.Kind.REFUSED
    assert inbound.rule_hits[-1]["actions"][0] == {
        "code": "staff_refused_answered",
        "params": {"other": "Ben Staff"},
    }
    assert conversation.messages.filter(direction=Message.Direction.OUTBOUND).count() == 1


def test_refused_once_the_conversation_is_no_longer_theirs(world, smtp_port, notified):
    conversation, notification, stored = notified
    other = make_staff("tina", display_name="Tina")
    Conversation.objects.filter(pk=conversation.pk).update(assignee=other)
    team = Team.objects.create(name="Elsewhere")
    Conversation.objects.filter(pk=conversation.pk).update(team=team)
    raw = staff_answer(
        sender=world.anna_staff.email, to=REPLY.address(stored.token), notification=notification, text="Hallo"
    )
    send(smtp_port, raw, rcpt=REPLY.address(stored.token), sender=world.anna_staff.email)
    inbound = InboundMessage.objects.order_by("-pk").first()
    assert inbound.rule_hits[-1]["actions"][0]["code"] == "staff_refused_not_allowed"
