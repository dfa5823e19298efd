"""My conversations in the preference centre: list, open, download, delete one (staff see it was
deleted by the subscriber); "who may read it", enforced by the inbox selectors, with recorded
manager overrides."""

from __future__ import annotations

import re

import pytest
from django.test import TestCase
from django.urls import reverse

from dialogue.models import ConversationWish, ReaderOverride
from replies.models import Conversation, InboundMessage, Message
from replies.selectors import visible_conversations
from subscribers.tokens import PREFERENCES, make_token
from tests.dialogue.conftest import reply, send
from tests.replies.conftest import make_staff

pytestmark = pytest.mark.django_db


@pytest.fixture
def conversation(world):
    send(world.campaign)
    return reply(world.karla, world.campaign, "Meine Frage zur Wärmepumpe.")


def _preferences(client, world) -> str:
    return client.get(
        reverse("subscribers:preferences", args=[make_token(PREFERENCES, world.karla.pk)])
    ).content.decode()


def _my_conversation_url(client, world) -> str:
    page = _preferences(client, world)
    return re.search(r'<li data-conversation="\d+"><a href="(/conversations/[^"]+)"', page).group(1)


def test_the_preference_centre_lists_my_conversations_and_one_downloads(client, world, conversation):
    page = _preferences(client, world)
    assert "Meine Gespräche" in page or "My conversations" in page
    url = _my_conversation_url(client, world)
    assert "Meine Frage zur Wärmepumpe." in client.get(url).content.decode()
    download = client.get(url + "download/")
    assert download.status_code == 200 and download["Content-Disposition"].startswith("attachment")
    assert "Meine Frage zur Wärmepumpe." in download.content.decode()


def test_deleting_one_conversation(client, world, conversation):
    url = _my_conversation_url(client, world)
    assert client.post(url, {"action": "delete"}).status_code == 302  # not confirmed: nothing happens
    assert conversation.messages.exists()
    client.post(url, {"action": "delete", "confirm": "yes"})
    assert not Message.objects.filter(conversation=conversation).exists()
    assert not InboundMessage.objects.exists()
    conversation.refresh_from_db()
    assert conversation.status == "closed" and conversation.subject == ""
    assert ConversationWish.objects.get(conversation=conversation).deleted_by_subscriber_at is not None
    assert 'data-conversation="' not in _preferences(client, world)
    client.force_login(world.anna)
    staff_page = client.get(reverse("replies:conversation", args=[conversation.pk])).content.decode()
    assert 'data-testid="deleted-by-subscriber"' in staff_page


def test_only_my_contact_person_then_a_manager_override_is_recorded(client, world, conversation):
    colleague = make_staff("otto", display_name="Otto")  # sees unassigned/team ones; here: the assignee's
    manager = make_staff("maren", group="Managers", display_name="Maren")
    Conversation.objects.filter(pk=conversation.pk).update(assignee=None)  # visible to the whole staff
    assert visible_conversations(colleague).filter(pk=conversation.pk).exists()
    Conversation.objects.filter(pk=conversation.pk).update(assignee=world.anna)

    url = _my_conversation_url(client, world)
    client.post(url, {"action": "readers", "readers": "contact"})
    assert ConversationWish.objects.get(conversation=conversation).readers == "contact"

    Conversation.objects.filter(pk=conversation.pk).update(assignee=None)
    assert not visible_conversations(colleague).filter(pk=conversation.pk).exists()
    Conversation.objects.filter(pk=conversation.pk).update(assignee=world.anna)
    assert visible_conversations(world.anna).filter(pk=conversation.pk).exists()
    assert not visible_conversations(manager).filter(pk=conversation.pk).exists()

    client.force_login(colleague)
    assert client.get(reverse("replies:conversation", args=[conversation.pk])).status_code == 404
    client.force_login(manager)
    assert client.get(reverse("replies:conversation", args=[conversation.pk])).status_code == 404
    inbox = client.get(reverse("replies:inbox")).content.decode()
    assert reverse("dialogue:restricted") in inbox
    response = client.post(reverse("dialogue:restricted"), {"conversation": conversation.pk, "reason": ""})
    assert not ReaderOverride.objects.exists()
    response = client.post(
        reverse("dialogue:restricted"), {"conversation": conversation.pk, "reason": "Beschwerde, Anna krank"}
    )
    assert response.status_code == 302
    override = ReaderOverride.objects.get()
    assert (override.manager, override.reason) == (manager, "Beschwerde, Anna krank")
    page = client.get(reverse("replies:conversation", args=[conversation.pk]))
    assert page.status_code == 200 and "Beschwerde, Anna krank" in page.content.decode()

    client.force_login(colleague)
    assert (
        client.post(
            reverse("dialogue:restricted"), {"conversation": conversation.pk, "reason": "x"}
        ).status_code
        == 403
    )


def test_a_web_reply_to_a_contact_only_conversation_stays_with_the_contact_person(
    client, world, conversation
):
    url = _my_conversation_url(client, world)
    client.post(url, {"action": "readers", "readers": "contact"})
    with TestCase.captureOnCommitCallbacks(execute=True):
        client.post(url, {"action": "reply", "text": "Noch etwas."})
    conversation.refresh_from_db()
    assert conversation.assignee == world.anna
    assert conversation.messages.filter(direction="in").count() == 2


def test_the_subscriber_downloads_the_attachments_of_their_conversation(client, world):
    from email.message import EmailMessage

    from campaigns.models import Delivery
    from replies.models import Attachment
    from replies.services import store_inbound

    send(world.campaign)
    delivery = Delivery.objects.get(subscriber=world.karla)
    mail = EmailMessage()
    mail["From"] = "Karla Meier <karla.meier@example.org>"
    mail["To"] = f"reply+{delivery.reply_token}@reply.localhost"
    mail["Subject"] = "Re: Energie im November"
    mail["Message-ID"] = "<attach-1@example.org>"
    mail.set_content("Anbei mein Zählerstand.")
    mail.add_attachment(b"%PDF-1.4 zaehler", maintype="application", subtype="pdf", filename="zaehler.pdf")
    with TestCase.captureOnCommitCallbacks(execute=True):
        store_inbound(mail.as_bytes(), source="pipe")
    attachment = Attachment.objects.get()
    url = _my_conversation_url(client, world)
    page = client.get(url).content.decode()
    link = f"{url}attachments/{attachment.pk}/"
    assert link in page
    response = client.get(link)
    assert response.status_code == 200 and b"".join(response.streaming_content) == b"%PDF-1.4 zaehler"
    assert client.get(f"{url}attachments/{attachment.pk + 999}/").status_code == 410
