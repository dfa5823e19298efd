"""Working together: tags by hand, mentions in notes (mailed), following (mailed on new replies),
linking an unmatched mail, merging two conversations, moving a message; every act recorded;
who may do it."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Permission, User
from django.core import mail as django_mail
from django.test import Client, TestCase
from django.urls import reverse

from replies.models import Conversation, ConversationEvent, Follow, Message
from tests.replies.conftest import ANNA_TOKEN, BEN_TOKEN, ingest, make_staff, simple_reply_bytes

pytestmark = pytest.mark.django_db


@pytest.fixture
def reply(world):
    ingest("gmail_reply_en.eml")
    return Conversation.objects.get()


def as_user(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def kinds(conversation) -> list[str]:
    return list(ConversationEvent.objects.filter(conversation=conversation).values_list("kind", flat=True))


def test_tags_by_hand_are_recorded(world, reply):
    anna = as_user(world.anna_staff)
    anna.post(reverse("replies:tags", args=[reply.pk]), {"tags": "Förderung, #vip, förderung"})
    assert sorted(t.name for t in reply.tags.all()) == ["Förderung", "vip"]
    anna.post(reverse("replies:tags", args=[reply.pk]), {"tags": "vip"})
    assert [t.name for t in reply.tags.all()] == ["vip"]
    assert kinds(reply).count("tagged") == 2 and kinds(reply).count("untagged") == 1
    assert "Förderung" in anna.get(reverse("replies:conversation", args=[reply.pk])).content.decode()


def test_a_mention_in_a_note_mails_the_colleague(world, reply):
    make_staff("ben.kraft", display_name="Ben Kraft", email="ben@staff.localhost")
    django_mail.outbox.clear()
    with TestCase.captureOnCommitCallbacks(execute=True):
        as_user(world.anna_staff).post(
            reverse("replies:note", args=[reply.pk]),
            {"text": "@ben.kraft can you take the subsidy part? @anna.berg"},
        )
    note = ConversationEvent.objects.get(kind="note")
    assert [u.username for u in note.mentioned.all()] == ["ben.kraft"]  # not the author herself
    assert [m.to for m in django_mail.outbox] == [["ben@staff.localhost"]]
    assert "Anna Berg mentioned you" in django_mail.outbox[0].subject
    assert "can you take the subsidy part?" in django_mail.outbox[0].body


def test_followers_hear_of_new_replies(world, reply):
    ben = make_staff("ben.kraft", email="ben@staff.localhost", group="Managers")
    as_user(ben).post(reverse("replies:follow", args=[reply.pk]), {"action": "follow"})
    assert Follow.objects.filter(conversation=reply, user=ben).exists()
    django_mail.outbox.clear()
    ingest(simple_reply_bytes(subject="Re: Our November newsletter", body="One more thing"))
    assert reply.messages.count() == 2
    assert ["ben@staff.localhost"] in [m.to for m in django_mail.outbox]
    as_user(ben).post(reverse("replies:follow", args=[reply.pk]), {"action": "unfollow"})
    assert not Follow.objects.filter(conversation=reply).exists()
    assert kinds(reply).count("followed") == 1 and kinds(reply).count("unfollowed") == 1


def test_link_an_unmatched_mail_to_a_subscriber(world):
    ingest(
        simple_reply_bytes(to="hello@reply.localhost", body="Who are you?").replace(
            b"anna@example.org", b"anna.private@example.net"
        )
    )
    orphan = Conversation.objects.get()
    assert orphan.is_unmatched and orphan.subscriber is None
    manager = as_user(make_staff("mona", group="Managers"))
    page = manager.get(reverse("replies:link", args=[orphan.pk]), {"q": "Beispiel"})
    assert world.anna in page.context["candidates"]
    manager.post(reverse("replies:link", args=[orphan.pk]), {"subscriber": world.anna.pk})
    orphan.refresh_from_db()
    assert orphan.subscriber == world.anna and not orphan.is_unmatched
    event = ConversationEvent.objects.get(kind="linked")
    assert "anna@example.org" in event.text and "anna.private@example.net" in event.text


def test_merge_two_conversations_of_one_subscriber(world, reply):
    ConversationEvent.objects.create(
        conversation=reply, kind="note", actor=world.anna_staff, text="first note"
    )
    second = Conversation.objects.create(
        subscriber=world.anna, subject="Another question", assignee=world.anna_staff
    )
    Message.objects.create(conversation=second, direction="in", kind="human", text="second mail")
    anna = as_user(world.anna_staff)
    page = anna.get(reverse("replies:conversation", args=[second.pk]))
    assert reply in page.context["other_conversations"]
    response = anna.post(reverse("replies:merge", args=[second.pk]), {"target": reply.pk})
    assert response["Location"] == reverse("replies:conversation", args=[reply.pk])
    assert not Conversation.objects.filter(pk=second.pk).exists()
    assert sorted(reply.messages.values_list("text", flat=True))[-1] == "second mail"
    assert reply.messages.count() == 2
    assert f"merged #{second.pk}" in ConversationEvent.objects.get(kind="merged").text
    # Another subscriber's conversation cannot be merged in.
    ingest(
        simple_reply_bytes(body="Ben here")
        .replace(b"anna@example.org", b"ben@example.com")
        .replace(ANNA_TOKEN.encode(), BEN_TOKEN.encode())
    )
    bens = Conversation.objects.get(subscriber=world.ben)
    anna.post(reverse("replies:merge", args=[bens.pk]), {"target": reply.pk})
    assert Conversation.objects.filter(pk=bens.pk).exists()


def test_move_a_message_to_another_conversation(world, reply):
    other = Conversation.objects.create(subscriber=world.anna, subject="Other", assignee=world.anna_staff)
    message = reply.messages.get()
    as_user(world.anna_staff).post(
        reverse("replies:move", args=[reply.pk]), {"message": message.pk, "target": other.pk}
    )
    message.refresh_from_db()
    assert message.conversation == other
    assert kinds(reply)[-1] == "moved" and kinds(other) == ["moved"]
    other.refresh_from_db()
    assert other.waiting_since == message.created_at  # it waits now, for the moved reply


def test_permissions_for_every_working_together_view(world, reply):
    olga = as_user(make_staff("olga"))  # not hers, not her team's, not unassigned
    for name, data in [
        ("replies:tags", {"tags": "x"}),
        ("replies:follow", {}),
        ("replies:merge", {"target": reply.pk}),
        ("replies:move", {"message": 1, "target": reply.pk}),
        ("replies:link", {"subscriber": world.anna.pk}),
    ]:
        assert olga.post(reverse(name, args=[reply.pk]), data).status_code == 404, name
    marketer = User.objects.create_user("mara")
    marketer.user_permissions.add(Permission.objects.get(codename="change_campaign"))
    client = as_user(marketer)
    for name in ["replies:tags", "replies:follow", "replies:merge", "replies:move", "replies:link"]:
        assert client.post(reverse(name, args=[reply.pk])).status_code == 403, name
    # Unassigned: every staff member may.
    Conversation.objects.filter(pk=reply.pk).update(assignee=None)
    assert olga.post(reverse("replies:tags", args=[reply.pk]), {"tags": "x"}).status_code == 302
