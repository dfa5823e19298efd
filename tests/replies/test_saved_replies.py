"""Saved replies: personal, team and shared; variables filled in for the conversation; found from
the composer; usage counted when the answer is sent; who may see, write and change which."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Permission, User
from django.test import Client, TestCase
from django.urls import reverse

from replies.models import Conversation, Message, SavedReply, Team
from tests.replies.conftest import ingest, make_staff

pytestmark = pytest.mark.django_db

BODY = "Hallo {{ subscriber_name }},\n\ndanke für Ihre Antwort auf „{{ campaign }}“.\n\n{{ staff_name }}"


@pytest.fixture
def reply(world):
    ingest("gmail_reply_en.eml")
    return Conversation.objects.get()


def as_user(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def create(client, **data):
    return client.post(
        reverse("replies:saved_replies"), {"title": "Dank", "body": BODY, "scope": "personal", **data}
    )


def test_personal_saved_reply_is_its_owners_only(world, reply):
    anna = as_user(world.anna_staff)
    assert create(anna).status_code == 302
    saved = SavedReply.objects.get()
    assert saved.owner == world.anna_staff and saved.scope == "personal"
    assert b"Dank" in anna.get(reverse("replies:saved_replies")).content
    tom = as_user(world.topic_owner)
    assert b"Dank" not in tom.get(reverse("replies:saved_replies")).content
    assert tom.get(reverse("replies:saved_reply_edit", args=[saved.pk])).status_code == 404
    assert tom.post(reverse("replies:saved_reply_delete", args=[saved.pk])).status_code == 404


def test_team_and_shared_saved_replies(world, reply):
    team = Team.objects.create(name="Redaktion")
    world.anna_staff.staff_profile.teams.add(team)
    anna = as_user(world.anna_staff)
    assert create(anna, title="Team text", scope="team", team=team.pk).status_code == 302
    # A team she is not in, and shared ones, are not hers to write.
    other = Team.objects.create(name="Technik")
    assert create(anna, title="Not mine", scope="team", team=other.pk).status_code == 400
    assert create(anna, title="For all", scope="shared").status_code == 400
    olga = make_staff("olga", teams=[team])
    assert b"Team text" in as_user(olga).get(reverse("replies:saved_replies")).content
    saved = SavedReply.objects.get(title="Team text")
    assert as_user(olga).get(reverse("replies:saved_reply_edit", args=[saved.pk])).status_code == 200
    assert b"Team text" not in as_user(world.topic_owner).get(reverse("replies:saved_replies")).content
    manager = as_user(make_staff("mona", group="Managers"))
    assert create(manager, title="For all", scope="shared").status_code == 302
    assert b"For all" in as_user(world.topic_owner).get(reverse("replies:saved_replies")).content
    shared = SavedReply.objects.get(title="For all")
    assert (
        as_user(world.topic_owner).get(reverse("replies:saved_reply_edit", args=[shared.pk])).status_code
        == 403
    )


def test_unknown_variables_are_refused(world):
    response = create(as_user(world.anna_staff), body="Hallo {{ subscriber.email }} {{ password }}")
    assert response.status_code == 400
    assert SavedReply.objects.count() == 0
    assert "Unknown variable: password." in response.content.decode()


def test_variables_are_filled_in_and_usage_counted_on_send(world, reply):
    anna = as_user(world.anna_staff)
    create(anna)
    saved = SavedReply.objects.get()
    picker = anna.get(reverse("replies:saved_reply_picker", args=[reply.pk]), {"q": "dank"}).json()
    expected = "Hallo Anna Beispiel,\n\ndanke für Ihre Antwort auf „November“.\n\nAnna Berg"
    assert picker["results"] == [{"id": saved.pk, "title": "Dank", "scope": "Only me", "text": expected}]
    assert anna.get(reverse("replies:saved_reply_picker", args=[reply.pk]), {"q": "nothing"}).json() == {
        "results": []
    }
    page = anna.get(reverse("replies:conversation", args=[reply.pk]), {"use": saved.pk})
    assert page.context["reply_form"].initial["text"] == expected
    assert page.context["reply_form"].initial["saved_reply"] == saved.pk
    with TestCase.captureOnCommitCallbacks(execute=True):
        anna.post(reverse("replies:reply", args=[reply.pk]), {"text": expected, "saved_reply": saved.pk})
    saved.refresh_from_db()
    assert saved.usage_count == 1 and saved.last_used_at is not None
    assert Message.objects.get(direction="out").stripped_text == expected.strip()
    # Somebody else's personal saved reply is not counted (nor usable).
    olga = make_staff("olga")
    Conversation.objects.filter(pk=reply.pk).update(assignee=None)
    as_user(olga).post(
        reverse("replies:reply", args=[reply.pk]), {"text": "x", "saved_reply": saved.pk, "confirm": "True"}
    )
    saved.refresh_from_db()
    assert saved.usage_count == 1


def test_marketers_have_no_saved_replies(world, reply):
    marketer = User.objects.create_user("mara")
    marketer.user_permissions.add(Permission.objects.get(codename="change_campaign"))
    client = as_user(marketer)
    assert client.get(reverse("replies:saved_replies")).status_code == 403
    assert client.get(reverse("replies:saved_reply_picker", args=[reply.pk])).status_code == 403


def test_picker_follows_conversation_visibility(world, reply):
    olga = make_staff("olga")
    assert as_user(olga).get(reverse("replies:saved_reply_picker", args=[reply.pk])).status_code == 404
