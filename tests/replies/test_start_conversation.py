"""Starting a conversation with a subscriber from their page: only with their consent."""

import email
import email.policy

import pytest
from django.conf import settings
from django.contrib.auth.models import Permission, User
from django.core import mail as django_mail
from django.test import TestCase
from django.urls import reverse

from replies.models import Conversation, ConversationEvent, Message
from replies.services import ReplyNotPossible, start_conversation
from rundbrief.mail.addresses import REPLY, return_path
from subscribers.models import Subscriber, Subscription, Suppression
from tests.replies.conftest import ingest, make_staff, make_subscriber

pytestmark = pytest.mark.django_db


def write(client, user, subscriber, **data):
    client.force_login(user)
    payload = {"subject": "Ihre Heizung", "text": "Guten Tag, eine Frage zu Ihrer Anfrage.", **data}
    with TestCase.captureOnCommitCallbacks(execute=True):
        return client.post(reverse("replies:compose", args=[subscriber.pk]), payload)


def test_staff_write_to_a_confirmed_subscriber_and_the_mail_goes_out_as_an_answer(client, world):
    response = write(client, world.anna_staff, world.juergen)
    conversation = Conversation.objects.get()
    assert response.status_code == 302
    assert response["Location"] == reverse("replies:conversation", args=[conversation.pk])
    assert conversation.subscriber == world.juergen
    assert conversation.assignee == world.anna_staff  # routed to the sender
    assert conversation.routing_rule == "started_by_staff"
    assert conversation.waiting_since is None
    event = conversation.events.get(kind=ConversationEvent.Kind.STARTED)
    assert event.actor == world.anna_staff
    answer = conversation.messages.get()
    assert answer.direction == Message.Direction.OUTBOUND and answer.author == world.anna_staff
    assert answer.send_status == Message.SendStatus.SENT
    sent = django_mail.outbox[-1]
    assert sent.subject == "Ihre Heizung"  # no "Re:" on the first mail
    assert sent.to == ["juergen.mueller@example.com"]
    parsed = email.message_from_bytes(sent.message().as_bytes(), policy=email.policy.default)
    assert parsed["To"] == "Jürgen Müller <juergen.mueller@example.com>"
    assert "Anna Berg" in sent.extra_headers.get("From", sent.from_email)
    assert sent.reply_to == [REPLY.address(answer.reply_token)]
    if settings.EMAIL_DELIVERY != "esp":  # VERP: the envelope sender names this mail
        assert sent.from_email == return_path(answer.reply_token)
    assert "Redaktion Rundbrief" in sent.body  # the signature
    page = client.get(reverse("replies:conversation", args=[conversation.pk])).content.decode()
    assert "Anna Berg started the conversation" in page


def test_their_reply_threads_back_and_stays_with_the_sender(client, world):
    write(client, world.anna_staff, world.juergen)
    answer = Message.objects.get()
    raw = (
        "From: Jürgen Müller <juergen.mueller@example.com>\r\n"
        f"To: {REPLY.address(answer.reply_token)}\r\nSubject: Re: Ihre Heizung\r\n"
        f"Message-ID: <back-1@example.com>\r\nIn-Reply-To: {answer.message_id}\r\n"
        "Content-Type: text/plain; charset=utf-8\r\n\r\nDanke, passt.\r\n"
    ).encode()
    ingest(raw)
    conversation = Conversation.objects.get()
    assert conversation.messages.count() == 2
    assert conversation.assignee == world.anna_staff
    assert conversation.waiting_since is not None


@pytest.mark.parametrize("state", ["unsubscribed_all", "no_active_topic", "suppressed", "pending"])
def test_no_mail_out_of_the_blue_without_consent(client, world, state):
    subscriber = world.juergen
    if state == "unsubscribed_all":
        Subscriber.objects.filter(pk=subscriber.pk).update(status=Subscriber.Status.UNSUBSCRIBED)
        Subscription.objects.filter(subscriber=subscriber).update(status="unsubscribed")
    elif state == "no_active_topic":
        Subscription.objects.filter(subscriber=subscriber).update(status="unsubscribed")
    elif state == "suppressed":
        Suppression.objects.create(email_hash=subscriber.email_hash, reason=Suppression.Reason.HARD_BOUNCE)
    else:
        Subscriber.objects.filter(pk=subscriber.pk).update(status=Subscriber.Status.PENDING)
    client.force_login(world.anna_staff)
    page = client.get(reverse("replies:compose", args=[subscriber.pk]))
    assert page.status_code == 200
    body = page.content.decode()
    assert 'data-testid="compose-refused"' in body and "must not write to them first" in body
    assert 'name="subject"' not in body  # no composer
    response = write(client, world.anna_staff, subscriber)
    assert response.status_code == 409
    assert not Conversation.objects.exists() and not django_mail.outbox
    subscriber.refresh_from_db()
    with pytest.raises(ReplyNotPossible):
        start_conversation(subscriber=subscriber, author=world.anna_staff, subject="x", text="y")


def test_who_unsubscribed_but_wrote_can_still_be_answered_there(client, world):
    ingest("gmail_reply_en.eml")  # Anna Beispiel writes
    conversation = Conversation.objects.get()
    Subscriber.objects.filter(pk=world.anna.pk).update(status=Subscriber.Status.UNSUBSCRIBED)
    Subscription.objects.filter(subscriber=world.anna).update(status="unsubscribed")
    client.force_login(world.anna_staff)
    page = client.get(reverse("replies:compose", args=[world.anna.pk])).content.decode()
    assert "has unsubscribed from everything" in page
    assert reverse("replies:conversation", args=[conversation.pk]) in page
    with TestCase.captureOnCommitCallbacks(execute=True):
        response = client.post(reverse("replies:reply", args=[conversation.pk]), {"text": "Gern geschehen."})
    assert response.status_code == 302
    assert conversation.messages.filter(direction="out", send_status="sent").count() == 1


def test_the_german_refusal(client, world):
    Subscription.objects.filter(subscriber=world.juergen).update(status="unsubscribed")
    client.force_login(world.anna_staff)
    page = client.get(reverse("replies:compose", args=[world.juergen.pk]), HTTP_ACCEPT_LANGUAGE="de")
    assert "hat sich von allem abgemeldet" in page.content.decode()


def test_write_to_link_on_the_audience_page_only_with_inbox_rights(client, world):
    desk = Permission.objects.get(codename="use_audience_desk")
    marketer = User.objects.create_user("mara")
    marketer.user_permissions.add(desk)
    url = reverse("audience:subscriber", args=[world.juergen.pk])
    client.force_login(marketer)
    response = client.get(url)
    assert response.status_code == 200
    assert 'data-testid="write-to"' not in response.content.decode()
    assert client.get(reverse("replies:compose", args=[world.juergen.pk])).status_code == 403
    assert write(client, marketer, world.juergen).status_code == 403
    assert not Conversation.objects.exists()
    staff = make_staff("sam")
    staff.user_permissions.add(desk)
    client.force_login(User.objects.get(pk=staff.pk))
    response = client.get(url)
    assert response.status_code == 200
    assert reverse("replies:compose", args=[world.juergen.pk]) in response.content.decode()


def test_an_empty_subject_or_text_is_refused_and_nothing_stored(client, world):
    response = write(client, world.anna_staff, world.juergen, subject="", text="")
    assert response.status_code == 400
    assert not Conversation.objects.exists()


def test_other_subscriber_unknown_is_404(client, world):
    client.force_login(world.anna_staff)
    assert client.get(reverse("replies:compose", args=[999999])).status_code == 404


def test_a_new_subscriber_helper_is_confirmed_with_a_topic(world):
    someone = make_subscriber("new@example.org", "Neu", topics=[world.topic])
    conversation = start_conversation(
        subscriber=someone, author=world.anna_staff, subject="Hallo", text="Text"
    )
    assert conversation.messages.get().subject == "Hallo"
