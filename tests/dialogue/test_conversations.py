"""Continue in the browser and ask for a call back: a web reply enters the same pipeline as a mail;
the call-back data is stored only on that conversation and deleted after the retention period."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.test import TestCase
from django.urls import reverse

from dialogue import links
from dialogue.models import CallbackRequest
from dialogue.services.callbacks import purge_expired_callbacks
from replies.models import Conversation, InboundMessage, Message
from replies.services import close, queue_staff_answer, reopen
from subscribers.services import erase
from tests.dialogue.conftest import mails_to, reply, send

pytestmark = pytest.mark.django_db
SITE = "http://127.0.0.1:8000"


def _talk_link(mail) -> str:
    text = mail.get_body(preferencelist=("plain",)).get_content()
    return re.search(rf"{re.escape(SITE)}(/talk/\S+)", text).group(1)


def _post(client, url, data):
    with TestCase.captureOnCommitCallbacks(execute=True):
        return client.post(url, data)


def test_a_reply_in_the_browser_enters_the_pipeline_and_reaches_the_contact_person(client, world):
    send(world.campaign)
    (mail,) = mails_to("karla.meier@example.org")
    url = _talk_link(mail)
    page = client.get(url)
    assert page.status_code == 200 and "Energie im November" in page.content.decode()
    response = _post(client, url, {"action": "reply", "text": "Gilt die Förderung auch für Mieter?"})
    assert response.status_code == 302
    inbound = InboundMessage.objects.get(source="web")
    assert inbound.status == "processed" and inbound.kind == "human" and inbound.match_method == "reply_token"
    conversation = Conversation.objects.get(subscriber=world.karla)
    assert conversation.campaign == world.campaign and conversation.assignee == world.anna  # routed as mail
    assert conversation.waiting_since is not None
    # The mail's page shows no thread (a forwarded newsletter carries its link); the conversation's own does.
    assert "Gilt die Förderung auch für Mieter?" not in client.get(url).content.decode()
    own = links.conversation_url(world.karla.pk, conversation.pk).removeprefix(SITE)
    assert "Gilt die Förderung auch für Mieter?" in client.get(own).content.decode()
    client.force_login(world.anna)
    queue = client.get(reverse("replies:inbox")).content.decode()
    assert conversation.subject in queue


def test_a_staff_answer_links_to_the_conversation_page_and_the_web_reply_threads_there(client, world):
    send(world.campaign)
    conversation = reply(world.karla, world.campaign, "Eine Frage zur Wärmepumpe.")
    with TestCase.captureOnCommitCallbacks(execute=True):
        queue_staff_answer(conversation=conversation, author=world.anna, text="Gern, rufen Sie an.")
    (text,) = [
        body
        for mail in mails_to("karla.meier@example.org")
        if "Gern, rufen Sie an." in (body := mail.get_body(preferencelist=("plain",)).get_content())
    ]
    url = re.search(rf"{re.escape(SITE)}(/conversations/\S+)", text).group(1)
    page = client.get(url).content.decode()
    assert "Eine Frage zur Wärmepumpe." in page and "Gern, rufen Sie an." in page
    _post(client, url, {"action": "reply", "text": "Danke, mache ich."})
    latest = conversation.messages.order_by("-id").first()
    assert latest.direction == "in" and latest.stripped_text.strip() == "Danke, mache ich."
    assert Conversation.objects.filter(subscriber=world.karla).count() == 1


def test_ask_for_a_call_back(client, world):
    send(world.campaign)
    url = _talk_link(mails_to("karla.meier@example.org")[0])
    response = _post(
        client, url, {"action": "callback", "phone": "+49 228 123456", "window": "Dienstag 9–12"}
    )
    assert response.status_code == 302
    callback = CallbackRequest.objects.get()
    assert (callback.phone, callback.window) == ("+49 228 123456", "Dienstag 9–12")
    conversation = Conversation.objects.get(subscriber=world.karla)
    assert conversation.waiting_since is not None and conversation.assignee == world.anna
    # The number is stored only on the request, not in the thread.
    assert not Message.objects.filter(text__contains="123456").exists()
    assert "123456" not in bytes(callback.inbound.raw).decode()
    assert "+49 228 123456" not in client.get(url).content.decode()  # not on the mail's page
    own = links.conversation_url(world.karla.pk, conversation.pk).removeprefix(SITE)
    page = client.get(own).content.decode()
    assert "+49 228 123456" in page and "30 Tage nach seinem Abschluss gelöscht" in page  # she is told
    # Staff see it on the conversation and the conversation waits in their queue.
    client.force_login(world.anna)
    staff_page = client.get(reverse("replies:conversation", args=[conversation.pk])).content.decode()
    assert "+49 228 123456" in staff_page and "Dienstag 9–12" in staff_page
    assert conversation.subject in client.get(reverse("replies:inbox")).content.decode()


def test_a_wrong_phone_number_stores_nothing(client, world):
    send(world.campaign)
    url = _talk_link(mails_to("karla.meier@example.org")[0])
    response = _post(client, url, {"action": "callback", "phone": "call me maybe", "window": "morgens"})
    assert response.status_code == 400
    assert not CallbackRequest.objects.exists() and not InboundMessage.objects.exists()


def test_callback_data_is_deleted_after_the_retention_period(client, world, settings, frozen_clock):
    settings.CALLBACK_RETENTION_DAYS = 30
    send(world.campaign)
    url = _talk_link(mails_to("karla.meier@example.org")[0])
    _post(client, url, {"action": "callback", "phone": "0228 123456", "window": "abends"})
    conversation = Conversation.objects.get(subscriber=world.karla)
    frozen_clock.shift(timedelta(days=2))
    assert purge_expired_callbacks() == 0  # open: kept
    close(conversation=conversation, actor=world.anna)
    page = client.get(
        links.conversation_url(world.karla.pk, conversation.pk).removeprefix(SITE)
    ).content.decode()
    assert "wird am 24. Dezember 2026 gelöscht" in page  # closed 24 Nov + 30 days: she is told when
    frozen_clock.shift(timedelta(days=30) - timedelta(minutes=1))
    assert purge_expired_callbacks() == 0
    frozen_clock.shift(timedelta(minutes=2))
    assert purge_expired_callbacks() == 1
    assert not CallbackRequest.objects.exists()
    assert Conversation.objects.filter(pk=conversation.pk).exists()  # the conversation itself stays


def test_a_reopened_conversation_keeps_its_callback_until_closed_again(client, world, frozen_clock):
    send(world.campaign)
    url = _talk_link(mails_to("karla.meier@example.org")[0])
    _post(client, url, {"action": "callback", "phone": "0228 123456", "window": "abends"})
    conversation = Conversation.objects.get(subscriber=world.karla)
    close(conversation=conversation, actor=world.anna)
    frozen_clock.shift(timedelta(days=10))
    reopen(conversation=conversation, actor=world.anna)
    frozen_clock.shift(timedelta(days=40))
    assert purge_expired_callbacks() == 0
    close(conversation=conversation, actor=world.anna)
    assert purge_expired_callbacks() == 0
    frozen_clock.shift(timedelta(days=31))
    assert purge_expired_callbacks() == 1


def test_the_beat_task_purges(client, world, settings, frozen_clock):
    from dialogue.tasks import purge_callbacks_task

    assert settings.CELERY_BEAT_SCHEDULE["dialogue-purge-callbacks"]["task"] == purge_callbacks_task.name
    send(world.campaign)
    url = _talk_link(mails_to("karla.meier@example.org")[0])
    _post(client, url, {"action": "callback", "phone": "0228 123456", "window": "abends"})
    close(conversation=Conversation.objects.get(subscriber=world.karla), actor=world.anna)
    frozen_clock.shift(timedelta(days=settings.CALLBACK_RETENTION_DAYS, minutes=1))
    assert purge_callbacks_task.delay().get() == 1


def test_erasure_deletes_callback_data(client, world):
    send(world.campaign)
    url = _talk_link(mails_to("karla.meier@example.org")[0])
    _post(client, url, {"action": "callback", "phone": "0228 123456", "window": "abends"})
    erase(subscriber=world.karla, source="preference_centre")
    assert not CallbackRequest.objects.exists()


def test_altered_or_foreign_links_open_nothing(client, world):
    send(world.campaign)
    token = links.make_token(links.MAIL, world.karla.pk, world.campaign.pk)
    assert client.get(reverse("dialogue:about_mail", args=[token + "x"])).status_code == 400
    conversation = reply(world.karla, world.campaign, "Hallo")
    foreign = links.make_token(links.CONVERSATION, world.ben.pk, conversation.pk)
    assert client.get(reverse("dialogue:conversation", args=[foreign])).status_code == 410
    response = client.post(reverse("dialogue:conversation", args=[foreign]), {"action": "reply", "text": "x"})
    assert response.status_code == 410
    assert conversation.messages.count() == 1
