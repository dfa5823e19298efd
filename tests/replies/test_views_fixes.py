"""Issue 14, "fix first": reassigning lands on the queue, readable reasons, the quote line and
the To name in the subscriber's language, one consent line per event kind, unique ids, the
styled 403, the thread and answer state live, and the confirmation before a double answer."""

from __future__ import annotations

import re
from collections import Counter
from datetime import UTC, datetime

import pytest
from django.contrib.auth.models import Permission, User
from django.core import mail as django_mail
from django.test import Client, TestCase
from django.urls import reverse

from replies.models import Conversation, Message
from subscribers.models import ConsentEvent
from tests.replies.conftest import ingest, make_staff

pytestmark = pytest.mark.django_db


@pytest.fixture
def reply(world):
    ingest("gmail_reply_en.eml")
    return Conversation.objects.get()


def as_user(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_reassigning_away_lands_on_the_queue_with_the_message(world, reply):
    olga = make_staff("olga", display_name="Olga Nowak")
    Conversation.objects.filter(pk=reply.pk).update(assignee=olga)
    client = as_user(olga)
    with TestCase.captureOnCommitCallbacks(execute=True):
        response = client.post(
            reverse("replies:assign", args=[reply.pk]), {"assignee": world.topic_owner.pk}, follow=True
        )
    assert response.status_code == 200
    assert response.redirect_chain[-1][0] == reverse("replies:inbox")
    assert "was assigned to Tom Owner." in [str(m) for m in response.context["messages"]][0]
    # Olga no longer sees it: the conversation itself would be a 404.
    assert client.get(reverse("replies:conversation", args=[reply.pk])).status_code == 404


def test_reasons_are_readable_and_codes_only_on_demand(world, reply):
    body = as_user(world.anna_staff).get(reverse("replies:conversation", args=[reply.pk])).content.decode()
    assert "Anna Berg is the campaign" in body
    assert "Campaign contact person" in body
    # The codes are inside a closed <details>, not in the line staff read.
    routing = re.search(r'<div class="routing-reason help">(.*?)</div>', body, re.S).group(1)
    assert re.search(
        r"<details class=\"codes\"><summary>Codes</summary><code>campaign_contact</code>", routing
    )
    assert "Unsubscribe by reply" in body and "does not apply" in body
    assert ">bounce</code>" in body  # on demand
    assert "bounce no" not in body.lower()


def test_quote_line_and_to_name_in_the_subscribers_language(world, reply, frozen_clock):
    Message.objects.filter(conversation=reply).update(created_at=datetime(2026, 11, 21, 14, 5, tzinfo=UTC))
    django_mail.outbox.clear()
    with TestCase.captureOnCommitCallbacks(execute=True):
        as_user(world.anna_staff).post(reverse("replies:reply", args=[reply.pk]), {"text": "Gern."})
    sent = django_mail.outbox[-1]
    assert sent.to == ["anna@example.org"]  # the envelope
    assert sent.message()["To"] == "Anna Beispiel <anna@example.org>"
    # Anna reads German: the line and the date are German (Berlin time).
    assert "Am 21. November 2026 15:05 schrieb Anna Beispiel:" in sent.body

    world.anna.language = "en"
    world.anna.save()
    with TestCase.captureOnCommitCallbacks(execute=True):
        as_user(world.anna_staff).post(
            reverse("replies:reply", args=[reply.pk]),
            {"text": "Again.", "seen_answer": Message.objects.filter(direction="out").last().pk},
        )
    assert "On Nov. 21, 2026, 3:05 p.m., Anna Beispiel wrote:" in django_mail.outbox[-1].body


def test_the_same_consent_event_is_one_line_with_its_count(world, reply):
    for _ in range(2):
        ConsentEvent.objects.create(subscriber=world.anna, kind="confirmed", source="link")
    ConsentEvent.objects.create(subscriber=world.anna, kind="requested", source="form")
    body = as_user(world.anna_staff).get(reverse("replies:conversation", args=[reply.pk])).content.decode()
    assert body.count("Opt-in confirmed (Link in a mail)") == 1
    assert "2 times" in body
    assert body.count("Opt-in requested (Signup form)") == 1


def test_no_id_is_used_twice_on_the_conversation_page(world, reply):
    body = as_user(world.anna_staff).get(reverse("replies:conversation", args=[reply.pk])).content.decode()
    ids = Counter(re.findall(r'\sid="([^"]+)"', body))
    assert [name for name, count in ids.items() if count > 1] == []
    assert ids["id_text"] == 1


def test_marketer_gets_the_styled_403(world, reply):
    marketer = User.objects.create_user("mara")
    marketer.user_permissions.add(Permission.objects.get(codename="change_campaign"))
    response = as_user(marketer).get(reverse("replies:inbox"), HTTP_ACCEPT_LANGUAGE="de")
    assert response.status_code == 403
    assert "403.html" in [t.name for t in response.templates]
    body = response.content.decode()
    assert 'class="topbar"' in body and "<h1" in body


def test_live_thread_comes_only_when_it_changed_and_shows_the_answer_state(world, reply):
    client = as_user(world.anna_staff)
    url = reverse("replies:conversation_live", args=[reply.pk])
    first = client.post(url, {"version": ""}).json()
    assert "html" in first
    assert "html" not in client.post(url, {"version": first["version"]}).json()
    # An answer is queued (no commit: its task has not run): the thread shows it queued ...
    client.post(reverse("replies:reply", args=[reply.pk]), {"text": "On its way."})
    queued = client.post(url, {"version": first["version"]}).json()
    assert "On its way." in queued["html"] and "queued" in queued["html"]
    # ... and sent, once the task ran, without a reload of the page.
    Message.objects.filter(direction="out").update(send_status="sent", send_status_at=datetime.now(UTC))
    sent = client.post(url, {"version": queued["version"]}).json()
    assert "send-sent" in sent["html"]


def test_presence_shows_who_views_and_who_types(world, reply):
    ben = make_staff("ben", display_name="Ben Kraft", group="Managers")
    url = reverse("replies:conversation_live", args=[reply.pk])
    anna, bens = as_user(world.anna_staff), as_user(ben)
    anna.post(url, {"typing": "0"})
    assert bens.post(url, {"typing": "0"}).json()["viewing"] == ["Anna Berg"]
    anna.post(url, {"typing": "1"})
    seen = bens.post(url, {}).json()
    assert seen["typing"] == ["Anna Berg"] and seen["viewing"] == []
    assert anna.post(url, {}).json()["viewing"] == ["Ben Kraft"]


def test_live_view_follows_visibility(world, reply):
    olga = make_staff("olga")
    Conversation.objects.filter(pk=reply.pk).update(assignee=world.topic_owner)
    assert as_user(olga).post(reverse("replies:conversation_live", args=[reply.pk])).status_code == 404
    marketer = User.objects.create_user("mara")
    assert as_user(marketer).post(reverse("replies:conversation_live", args=[reply.pk])).status_code == 403


def test_an_answer_after_someone_elses_asks_for_confirmation_first(world, reply):
    ben = make_staff("ben", display_name="Ben Kraft", group="Managers")
    anna = as_user(world.anna_staff)
    page = anna.get(reverse("replies:conversation", args=[reply.pk]))
    seen = page.context["reply_form"].initial["seen_answer"]
    assert seen == 0
    as_user(ben).post(reverse("replies:reply", args=[reply.pk]), {"text": "Ben was first."})
    response = anna.post(
        reverse("replies:reply", args=[reply.pk]), {"text": "Anna too.", "seen_answer": seen}
    )
    assert response.status_code == 409
    body = response.content.decode()
    assert "Ben was first." in body and 'data-testid="collision"' in body
    assert Message.objects.filter(direction="out").count() == 1
    confirmed = response.context["reply_form"].initial
    response = anna.post(
        reverse("replies:reply", args=[reply.pk]),
        {"text": "Anna too.", "seen_answer": confirmed["seen_answer"], "confirm": "True"},
    )
    assert response.status_code == 302
    assert Message.objects.filter(direction="out").count() == 2
    # Her own earlier answers never ask.
    response = anna.post(
        reverse("replies:reply", args=[reply.pk]),
        {"text": "Once more.", "seen_answer": confirmed["seen_answer"]},
    )
    assert response.status_code == 302


def test_answer_with_cc_and_attachment_and_send_and_close(world, reply):
    from django.core.files.uploadedfile import SimpleUploadedFile

    django_mail.outbox.clear()
    upload = SimpleUploadedFile("antrag.pdf", b"%PDF-1.4 test", content_type="application/pdf")
    with TestCase.captureOnCommitCallbacks(execute=True):
        response = as_user(world.anna_staff).post(
            reverse("replies:reply", args=[reply.pk]),
            {
                "text": "Anbei der Antrag.",
                "cc": "kollegin@example.org, chef@example.org",
                "attachments": [upload],
                "and_close": "1",
            },
        )
    assert response.status_code == 302
    sent = django_mail.outbox[-1]
    assert sent.cc == ["kollegin@example.org", "chef@example.org"]
    assert sent.attachments[0][0] == "antrag.pdf" and sent.attachments[0][1] == b"%PDF-1.4 test"
    answer = Message.objects.get(direction="out")
    assert answer.attachments.get().filename == "antrag.pdf"
    reply.refresh_from_db()
    assert reply.status == "closed"
    bad = as_user(world.anna_staff).post(
        reverse("replies:reply", args=[reply.pk]), {"text": "x", "cc": "not an address"}
    )
    assert bad.status_code == 400 and "is not an email address" in bad.content.decode()


def test_an_answer_can_be_taken_back_within_the_undo_window(world, reply, settings):
    from replies import services

    settings.ANSWER_UNDO_SECONDS = 30
    django_mail.outbox.clear()
    anna = as_user(world.anna_staff)
    with TestCase.captureOnCommitCallbacks(execute=False):  # the task is not run: it would wait anyway
        anna.post(reverse("replies:reply", args=[reply.pk]), {"text": "Oops, wrong person."})
    answer = Message.objects.get(direction="out")
    assert answer.send_after is not None
    # A task that runs before the window ends sends nothing and asks to be run again at its end.
    outcome = services.send_staff_answer(message_id=answer.pk)
    assert outcome.status == "queued" and 0 < outcome.retry_in <= 30
    assert django_mail.outbox == []
    page = anna.get(reverse("replies:conversation", args=[reply.pk]))
    assert 'data-testid="undo"' in page.content.decode()
    # Somebody else cannot take it back.
    ben = make_staff("ben", group="Managers")
    as_user(ben).post(reverse("replies:undo", args=[answer.pk]))
    assert Message.objects.filter(pk=answer.pk).exists()
    response = anna.post(reverse("replies:undo", args=[answer.pk]))
    assert response.status_code == 200
    assert response.context["reply_form"].initial["text"] == "Oops, wrong person."
    assert not Message.objects.filter(pk=answer.pk).exists()
    reply.refresh_from_db()
    assert reply.waiting_since is not None  # waiting again
    assert reply.events.filter(kind="undone").count() == 1
    # After the window: too late.
    with TestCase.captureOnCommitCallbacks(execute=False):
        anna.post(reverse("replies:reply", args=[reply.pk]), {"text": "Right one."})
    late = Message.objects.get(direction="out")
    Message.objects.filter(pk=late.pk).update(send_after=datetime(2000, 1, 1, tzinfo=UTC))
    anna.post(reverse("replies:undo", args=[late.pk]))
    assert Message.objects.filter(pk=late.pk).exists()
    assert services.send_staff_answer(message_id=late.pk).status == "sent"
