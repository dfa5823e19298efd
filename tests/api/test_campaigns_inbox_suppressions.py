"""Campaigns, conversations and suppressions through /api/v1/, with the editor's and inbox's rules."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from campaigns.models import Campaign
from replies.models import Conversation, ConversationEvent, Message
from subscribers.models import ConsentEvent, Suppression, email_hash
from tests.campaigns.conftest import BODY
from tests.replies.conftest import make_staff

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff(db):
    return make_staff("anna.berg", display_name="Anna Berg")


@pytest.fixture
def owned_topics(topics, staff):
    for topic in topics.values():
        topic.owner = staff
        topic.save()
    return topics


def new_campaign(api, **overrides):
    body = {
        "name": "Herbst",
        "subject": "Neues im Herbst",
        "topics": ["news"],
        "mjml_body": BODY,
        **overrides,
    }
    return api.post("/campaigns", body)


def test_create_read_update_preview_and_stats(api_as, owned_topics, staff, make_subscriber):
    api = api_as("campaigns:read", "campaigns:write")
    response = new_campaign(api)
    assert response.status_code == 201, response.json()
    campaign = response.json()
    assert (campaign["status"], campaign["contact_id"], campaign["topics"]) == ("draft", staff.pk, ["news"])
    assert api.get(f"/campaigns/{campaign['id']}").json()["subject"] == "Neues im Herbst"
    assert [c["id"] for c in api.get("/campaigns", status="draft").json()["items"]] == [campaign["id"]]

    changed = api.patch(f"/campaigns/{campaign['id']}", {"subject": "Neu im Herbst"})
    assert changed.status_code == 200 and changed.json()["subject"] == "Neu im Herbst"

    ada = make_subscriber(name="Ada")
    preview = api.post(f"/campaigns/{campaign['id']}/preview", {"subscriber_id": ada.pk}).json()
    assert "Hallo Ada, das ist Herbst." in preview["text"]
    assert "Anna Berg" in preview["html"]  # the footer names the contact person

    stats = api.get(f"/campaigns/{campaign['id']}/stats").json()
    assert (stats["status"], stats["audience"], stats["sent"]) == ("draft", 0, 0)


def test_broken_mjml_is_400_on_mjml_body(api_as, owned_topics):
    response = new_campaign(api_as(), mjml_body="<mj-section><mj-column><mj-text>{% if %}</mj-text>")
    assert response.status_code == 400
    assert response.json()["fields"]["mjml_body"]["code"] == "render_error"
    assert not Campaign.objects.exists()


def test_a_campaign_needs_a_contact_person(api_as, topics):
    response = new_campaign(api_as())
    assert response.status_code == 400
    assert response.json()["fields"]["contact_id"]["code"] == "required"


def test_test_send_schedule_pause_and_state_conflicts(api_as, owned_topics, make_subscriber, smtp_settings):
    make_subscriber()
    api = api_as()
    campaign_id = new_campaign(api).json()["id"]
    sent = api.post(f"/campaigns/{campaign_id}/test-send", {"addresses": ["me@example.org"]})
    assert sent.json() == {"sent": ["me@example.org"], "errors": {}}
    assert smtp_settings.counts == {"me@example.org": 1}
    assert smtp_settings.messages[0]["Subject"].startswith("[TEST] ")
    assert api.post(f"/campaigns/{campaign_id}/test-send", {"addresses": ["nope"]}).status_code == 400

    at = (timezone.now() + timedelta(days=1)).isoformat()
    scheduled = api.post(f"/campaigns/{campaign_id}/schedule", {"at": at}).json()
    assert scheduled["status"] == "scheduled"
    paused = api.post(f"/campaigns/{campaign_id}/pause")
    assert paused.status_code == 409
    assert paused.json()["message"] == "Only a campaign that is sending can be paused."
    assert api.post(f"/campaigns/{campaign_id}/cancel").json()["status"] == "cancelled"
    # As in the editor (issue 12), a cancelled campaign can be changed and launched again.
    assert api.patch(f"/campaigns/{campaign_id}", {"name": "x"}).status_code == 200

    started = api.post(f"/campaigns/{new_campaign(api).json()['id']}/schedule", {}).json()
    assert started["status"] in ("sending", "sent")
    changed = api.patch(f"/campaigns/{started['id']}", {"name": "x"})
    assert changed.status_code == 409
    assert changed.json()["message"] == "Only drafts, scheduled and cancelled campaigns can be edited."


@pytest.fixture
def conversation(staff, make_subscriber):
    subscriber = make_subscriber()
    conversation = Conversation.objects.create(
        subscriber=subscriber, subject="Eine Frage", assignee=staff, waiting_since=timezone.now()
    )
    Message.objects.create(
        conversation=conversation,
        direction=Message.Direction.INBOUND,
        from_address="ada@example.org",
        subject="Eine Frage",
        text="Wann kommt der nächste Rundbrief?",
        stripped_text="Wann kommt der nächste Rundbrief?",
        message_id="<q1@example.org>",
    )
    return conversation


def test_conversations_read_answer_assign_close(
    api_as, conversation, staff, manager, django_capture_on_commit_callbacks, mailoutbox
):
    api = api_as("inbox:read", "inbox:write")
    listed = api.get("/conversations", status="open").json()["items"]
    assert [c["id"] for c in listed] == [conversation.pk]
    detail = api.get(f"/conversations/{conversation.pk}").json()
    assert detail["messages"][0]["stripped_text"] == "Wann kommt der nächste Rundbrief?"

    with django_capture_on_commit_callbacks(execute=True):
        answer = api.post(f"/conversations/{conversation.pk}/answer", {"text": "Nächste Woche."})
    assert answer.status_code == 202, answer.json()
    assert answer.json()["author_id"] == staff.pk  # the assignee answers by default
    assert len(mailoutbox) == 1
    assert (
        mailoutbox[0].to == ["ada@example.org"]  # the envelope; the To header names her (issue 14)
        and mailoutbox[0].extra_headers["In-Reply-To"] == "<q1@example.org>"
    )

    other = make_staff("ben.klein", display_name="Ben Klein")
    assigned = api.post(
        f"/conversations/{conversation.pk}/assign", {"assignee_id": other.pk, "note": "bitte"}
    )
    assert assigned.json()["assignee_id"] == other.pk
    event = ConversationEvent.objects.get(kind="assigned")
    assert (event.actor, event.assignee, event.text) == (manager, other, "bitte")
    bad = api.post(f"/conversations/{conversation.pk}/assign", {"assignee_id": 999999})
    assert bad.status_code == 400 and "assignee_id" in bad.json()["fields"]

    assert api.post(f"/conversations/{conversation.pk}/close").json()["status"] == "closed"
    assert api.post(f"/conversations/{conversation.pk}/reopen").json()["status"] == "open"


def test_an_empty_answer_is_400(api_as, conversation):
    response = api_as().post(f"/conversations/{conversation.pk}/answer", {"text": ""})
    assert response.status_code == 400 and "text" in response.json()["fields"]


def test_suppressions(api_as, make_subscriber):
    ada = make_subscriber()
    api = api_as("suppressions:read", "suppressions:write")
    check = api.get("/suppressions/check", email="Ada@Example.org").json()
    assert check == {"email_hash": email_hash("ada@example.org"), "suppressed": False, "reason": None}
    added = api.post("/suppressions", {"email": "ada@example.org"})
    assert added.status_code == 201 and added.json()["reason"] == "manual"
    assert Suppression.objects.get().email_hash == email_hash("ada@example.org")
    event = ConsentEvent.objects.get(subscriber=ada, kind="suppressed")
    assert event.source == "api" and event.details["api_key"]
    items = api.get("/suppressions").json()["items"]
    assert [(s["email_hash"], s["reason"]) for s in items] == [(email_hash("ada@example.org"), "manual")]
    assert api.post("/suppressions", {"email": "nope"}).json()["fields"]["email"]["code"] == "invalid"
    assert api.get("/suppressions/check", email="x").status_code == 400


def test_versions_per_language_are_written_read_and_previewed(api_as, owned_topics, make_subscriber):
    api = api_as("campaigns:read", "campaigns:write")
    english = {"subject": "News in autumn", "mjml_body": BODY.replace("Hallo", "Hello")}
    response = new_campaign(api, default_language="de", versions={"en": english})
    assert response.status_code == 201, response.json()
    campaign = response.json()
    assert campaign["default_language"] == "de"
    assert campaign["versions"]["en"]["subject"] == "News in autumn"
    ben = make_subscriber(email="ben@example.com", name="Ben", language="en")
    preview = api.post(f"/campaigns/{campaign['id']}/preview", {"subscriber_id": ben.pk}).json()
    assert preview["subject"] == "News in autumn" and "Hello Ben" in preview["text"]
    # PATCH without versions keeps them; with {} removes them.
    kept = api.patch(f"/campaigns/{campaign['id']}", {"subject": "Neu im Herbst"}).json()
    assert list(kept["versions"]) == ["en"]
    assert api.patch(f"/campaigns/{campaign['id']}", {"versions": {}}).json()["versions"] == {}


def test_a_bad_version_is_400_naming_it(api_as, owned_topics):
    api = api_as("campaigns:read", "campaigns:write")
    broken = {"subject": "x", "mjml_body": "<mj-section><mj-column><mj-text>{% if %}</mj-text>"}
    response = new_campaign(api, default_language="de", versions={"en": broken})
    assert response.status_code == 400
    assert response.json()["fields"]["versions.en.mjml_body"]["code"] == "render_error"
    twice = new_campaign(api, default_language="de", versions={"de": {"subject": "x", "mjml_body": BODY}})
    assert twice.status_code == 400 and "versions" in twice.json()["fields"]
    unknown = new_campaign(api, default_language="de", versions={"fr": {"subject": "x", "mjml_body": BODY}})
    assert unknown.status_code == 400
    assert not Campaign.objects.exists()
