"""The staff inbox over HTTP: queues, conversation view, composer, actions, permissions, admin preview."""

import pytest
from django.contrib.auth.models import Group, Permission, User
from django.core import mail as django_mail
from django.test import TestCase
from django.urls import reverse

from replies.models import Conversation, ConversationEvent, InboundMessage, Message, RoutingRule, Team
from tests.replies.conftest import ingest, make_staff, simple_reply_bytes

pytestmark = pytest.mark.django_db


@pytest.fixture
def reply(world):
    ingest("gmail_reply_en.eml")
    ingest("apple_mail_de.eml")
    return Conversation.objects.get()


def login(client, user):
    client.force_login(user)
    return client


def test_anonymous_is_sent_to_login(client, reply):
    response = client.get(reverse("replies:inbox"))
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]


def test_marketer_without_staff_permission_gets_403(client, reply):
    marketer = User.objects.create_user("mara")
    marketer.user_permissions.add(Permission.objects.get(codename="change_campaign"))
    login(client, marketer)
    assert client.get(reverse("replies:inbox")).status_code == 403
    assert client.get(reverse("replies:conversation", args=[reply.pk])).status_code == 403
    message = reply.messages.first()
    assert client.get(reverse("replies:message_original", args=[message.pk])).status_code == 403
    assert client.get(reverse("replies:inbound_raw", args=[message.inbound_id])).status_code == 403


def test_my_queue_shows_the_conversation_with_waiting_time_and_reason(client, world, reply):
    response = login(client, world.anna_staff).get(reverse("replies:inbox"))
    assert response.status_code == 200
    body = response.content.decode()
    assert "Re: Our November newsletter" in body
    assert "Anna Beispiel" in body
    assert "Anna Berg is the campaign" in body
    assert 'class="badge warn"' in body  # waiting


def test_queue_is_oldest_waiting_first(client, world, reply):
    ingest(
        simple_reply_bytes(body="other")
        .replace(b"anna@example.org", b"ben@example.com")
        .replace(b"a1b2c3d4e5f60718293a4b5c6d7e8f90", b"c3d4e5f60718293a4b5c6d7e8f90a1b2")
    )
    newer = Conversation.objects.exclude(pk=reply.pk).get()
    Conversation.objects.filter(pk=newer.pk).update(waiting_since=reply.waiting_since.replace(year=2030))
    response = login(client, world.anna_staff).get(reverse("replies:inbox"))
    ids = [c.pk for c in response.context["conversations"]]
    assert ids == [reply.pk, newer.pk]


def test_staff_see_own_and_team_and_unassigned_but_not_others(client, world, reply):
    other = make_staff("olga")
    login(client, other)
    assert client.get(reverse("replies:conversation", args=[reply.pk])).status_code == 404
    team = Team.objects.create(name="Redaktion")
    other.staff_profile.teams.add(team)
    Conversation.objects.filter(pk=reply.pk).update(team=team)
    assert client.get(reverse("replies:conversation", args=[reply.pk])).status_code == 200
    assert [c.pk for c in client.get(reverse("replies:inbox") + "?queue=team").context["conversations"]] == [
        reply.pk
    ]
    Conversation.objects.filter(pk=reply.pk).update(team=None, assignee=None)
    assert (
        client.get(reverse("replies:inbox") + "?queue=unassigned").context["conversations"][0].pk == reply.pk
    )


def test_manager_sees_everything(client, world, reply):
    manager = make_staff("mona", group="Managers")
    login(client, manager)
    assert client.get(reverse("replies:conversation", args=[reply.pk])).status_code == 200
    response = client.get(reverse("replies:inbox") + "?queue=all")
    assert [c.pk for c in response.context["conversations"]] == [reply.pk]


def test_conversation_view_shows_subscriber_campaign_thread_and_rule_hits(client, world, reply):
    body = (
        login(client, world.anna_staff).get(reverse("replies:conversation", args=[reply.pk])).content.decode()
    )
    assert "anna@example.org" in body
    assert "Energie" in body  # topics
    assert "November" in body  # campaign
    assert "subsidy also applies" in body
    assert "Läuft seit Oktober problemlos" in body
    assert "campaign_contact" in body
    assert "unsubscribe_by_reply" in body  # every rule checked is shown
    assert "waermepumpe.jpg" in body
    assert "<script>alert" not in body


def test_show_original_and_downloads(client, world, reply):
    login(client, world.anna_staff)
    message = reply.messages.first()
    original = client.get(reverse("replies:message_original", args=[message.pk]))
    assert original.status_code == 200
    assert b"Dear reader" in original.content  # the full text, quotes included
    # Sandboxed without scripts; links may open in a new tab (issue 16), javascript:/data: ones are gone.
    assert b'sandbox="allow-popups allow-popups-to-escape-sandbox"' in original.content
    assert b"allow-scripts" not in original.content and b"allow-same-origin" not in original.content
    raw = client.get(reverse("replies:inbound_raw", args=[message.inbound_id]))
    assert raw["Content-Type"] == "message/rfc822"
    assert raw.content == bytes(InboundMessage.objects.get(pk=message.inbound_id).raw)
    attachment = reply.messages.last().attachments.get()
    download = client.get(reverse("replies:attachment", args=[attachment.pk]))
    assert download.status_code == 200
    assert "attachment" in download["Content-Disposition"]
    assert b"".join(download.streaming_content).startswith(b"\xff\xd8")


def test_answer_note_reassign_snooze_close_reopen(client, world, reply):
    login(client, world.anna_staff)
    django_mail.outbox.clear()
    url = reverse("replies:reply", args=[reply.pk])
    with TestCase.captureOnCommitCallbacks(execute=True):
        assert client.post(url, {"text": "Gern, ja."}).status_code == 302
    answer = Message.objects.get(direction="out")
    assert answer.send_status == Message.SendStatus.SENT
    assert answer.author == world.anna_staff
    assert django_mail.outbox[-1].message()["From"] == "Anna Berg <newsletter@localhost>"

    assert client.post(reverse("replies:reply", args=[reply.pk]), {"text": "  "}).status_code == 400

    client.post(reverse("replies:note", args=[reply.pk]), {"text": "Call her back on Monday"})
    assert ConversationEvent.objects.get(kind="note").text == "Call her back on Monday"

    django_mail.outbox.clear()
    with TestCase.captureOnCommitCallbacks(execute=True):
        client.post(
            reverse("replies:assign", args=[reply.pk]),
            {"assignee": world.topic_owner.pk, "note": "Yours, Tom"},
        )
    reply.refresh_from_db()
    assert reply.assignee == world.topic_owner
    assert reply.routing_rule == "manual"
    assert "Yours, Tom" in django_mail.outbox[-1].body
    assert django_mail.outbox[-1].to == [world.topic_owner.email]

    login(client, world.topic_owner)
    response = client.post(reverse("replies:snooze", args=[reply.pk]), {"until": "2099-01-01T09:00"})
    assert response.status_code == 302
    reply.refresh_from_db()
    assert reply.status == Conversation.Status.SNOOZED
    assert client.get(reverse("replies:inbox") + "?queue=snoozed").context["conversations"][0].pk == reply.pk
    assert (
        client.post(reverse("replies:snooze", args=[reply.pk]), {"until": "2000-01-01T09:00"}).status_code
        == 400
    )

    client.post(reverse("replies:status", args=[reply.pk]), {"action": "close"})
    reply.refresh_from_db()
    assert reply.status == Conversation.Status.CLOSED
    client.post(reverse("replies:status", args=[reply.pk]), {"action": "reopen"})
    reply.refresh_from_db()
    assert reply.status == Conversation.Status.OPEN


def test_snoozed_conversation_returns_to_the_queue_when_the_time_has_passed(client, world, reply):
    Conversation.objects.filter(pk=reply.pk).update(status="snoozed", snoozed_until="2000-01-01T00:00Z")
    response = login(client, world.anna_staff).get(reverse("replies:inbox"))
    assert [c.pk for c in response.context["conversations"]] == [reply.pk]


def test_viewer_without_change_permission_cannot_act(client, world, reply):
    viewer = User.objects.create_user("vic")
    viewer.user_permissions.add(Permission.objects.get(codename="view_conversation"))
    viewer.user_permissions.add(Permission.objects.get(codename="view_all_conversations"))
    login(client, viewer)
    assert client.get(reverse("replies:conversation", args=[reply.pk])).status_code == 200
    assert client.post(reverse("replies:status", args=[reply.pk]), {"action": "close"}).status_code == 403


def test_failed_list_and_reprocess(client, world):
    from unittest import mock

    with mock.patch("replies.pipeline.chain.classify", side_effect=RuntimeError("boom")):
        inbound = ingest("gmail_reply_en.eml")
    login(client, world.anna_staff)
    inbox = client.get(reverse("replies:inbox"))
    assert inbox.context["failed_count"] == 1
    listing = client.get(reverse("replies:inbound_list") + "?show=failed")
    assert b"boom" in listing.content
    detail = client.get(reverse("replies:inbound_detail", args=[inbound.pk]))
    assert b"RuntimeError" in detail.content
    with TestCase.captureOnCommitCallbacks(execute=True):
        response = client.post(reverse("replies:reprocess", args=[inbound.pk]))
    assert response.status_code == 302
    inbound.refresh_from_db()
    assert inbound.status == InboundMessage.Status.PROCESSED


def test_automatic_list_shows_auto_replies_and_bounces(client, world):
    ingest("ooo_exchange_de.eml")
    ingest("dsn_postfix.eml")
    body = (
        login(client, world.anna_staff)
        .get(reverse("replies:inbound_list") + "?show=automatic")
        .content.decode()
    )
    assert "Automatische Antwort" in body and "Undelivered Mail" in body


def test_home_sends_staff_to_the_inbox(client, world):
    response = login(client, world.anna_staff).get("/")
    assert response["Location"] == reverse("replies:inbox")


def test_admin_test_this_rule_preview(client, world):
    inbound = ingest("gmail_reply_en.eml")
    admin = User.objects.create_superuser("root", "root@x.localhost", "pw")
    rule = RoutingRule.objects.create(name="Heat pumps", pattern="heat pump", assign_to=world.topic_owner)
    login(client, admin)
    url = reverse("admin:replies_routingrule_test", args=[rule.pk])
    assert client.get(url).status_code == 200
    response = client.post(url, {"inbound": inbound.pk})
    assert response.context["result"]["matches"] is True
    assert response.context["result"]["decision"].rule == "campaign_contact"
    rule.pattern = "parking"
    rule.save()
    assert client.post(url, {"inbound": inbound.pk}).context["result"]["matches"] is False
    assert client.get(reverse("admin:replies_routingrule_changelist")).status_code == 200
    assert client.get(reverse("admin:replies_staffprofile_changelist")).status_code == 200
    assert client.get(reverse("admin:replies_inboundmessage_changelist")).status_code == 200


def test_pages_render_in_german(client, world, reply):
    login(client, world.anna_staff)
    response = client.get(reverse("replies:inbox"), HTTP_ACCEPT_LANGUAGE="de")
    assert response.status_code == 200
    assert Group.objects.filter(name="Staff").exists()


def test_admin_reprocess_action_counts_the_messages_it_put_back(client, world):
    from unittest import mock

    with mock.patch("replies.pipeline.chain.classify", side_effect=RuntimeError("boom")):
        inbound = ingest("gmail_reply_en.eml")
    admin = User.objects.create_superuser("root", "root@x.localhost", "pw")
    login(client, admin)
    with TestCase.captureOnCommitCallbacks(execute=True):
        response = client.post(
            reverse("admin:replies_inboundmessage_changelist"),
            {"action": "reprocess", "_selected_action": [inbound.pk]},
            follow=True,
        )
    assert "1 message put back into processing." in [str(m) for m in response.context["messages"]]
    inbound.refresh_from_db()
    assert inbound.status == InboundMessage.Status.PROCESSED
