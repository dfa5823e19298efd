"""Reasons are stored as codes with parameters and rendered in the reader's language."""

import re

import pytest
from django.contrib.auth.models import User
from django.urls import reverse
from django.utils import translation

from replies import reasons
from replies.models import Conversation, ConversationEvent, RoutingRule
from tests.replies.conftest import ingest

pytestmark = pytest.mark.django_db


class AnyParams(dict):
    """Every parameter a text may name (2, so that plural forms work too)."""

    def __missing__(self, key):
        return 2

    def __bool__(self):
        return True


def test_every_reason_has_a_german_text_that_keeps_its_parameters():
    for code, text in reasons.TEXTS.items():
        item = {"code": code, "params": AnyParams()}
        with translation.override("en"):
            english = reasons.render_one(item)
        with translation.override("de"):
            german = reasons.render_one(item)
        assert german != english, f"{code} has no German translation"
        placeholders = re.findall(r"%\((\w+)\)", str(text))
        assert english.count("2") == german.count("2") >= len(set(placeholders)), code


def test_names_and_values_stay_as_they_are_in_german():
    item = reasons.reason("topic_owner", name="Tom Owner", topic="Energie & Wärme")
    with translation.override("de"):
        assert reasons.render([item]) == "Tom Owner ist verantwortlich für das Thema „Energie & Wärme“"
    with translation.override("en"):
        assert reasons.render([item]) == "Tom Owner owns the topic “Energie & Wärme”"


def test_old_rows_without_codes_show_their_stored_text():
    conversation = Conversation(legacy_routing_reason="Anna Berg is the campaign's contact person")
    with translation.override("de"):
        assert conversation.routing_reason_text == "Anna Berg is the campaign's contact person"
        assert reasons.render_hit({"rule": "human", "hit": True, "reason": "no automatic rule matched"}) == (
            "no automatic rule matched"
        )
        assert reasons.render(["opened a new conversation"]) == "opened a new conversation"


def test_unknown_codes_are_refused_when_stored():
    with pytest.raises(ValueError, match="unknown reason code"):
        reasons.reason("no_such_code")


def test_the_conversation_view_shows_the_reasons_in_german(client, world):
    ingest("gmail_reply_en.eml")
    conversation = Conversation.objects.get()
    client.force_login(world.anna_staff)
    body = client.get(
        reverse("replies:conversation", args=[conversation.pk]), HTTP_ACCEPT_LANGUAGE="de"
    ).content.decode()
    assert "Anna Berg ist die Ansprechperson der Kampagne" in body  # routing, and the assignment event
    assert "Anna Berg is the campaign" not in body
    assert "keine automatische Regel hat gegriffen" in body  # the rule hit
    assert "neue Unterhaltung eröffnet" in body  # what the handler did
    assert "Antwortkennung in" in body  # how it was matched
    event = ConversationEvent.objects.get(kind=ConversationEvent.Kind.ASSIGNED)
    assert event.reasons == [{"code": "campaign_contact", "params": {"name": "Anna Berg"}}]
    english = client.get(
        reverse("replies:conversation", args=[conversation.pk]), HTTP_ACCEPT_LANGUAGE="en"
    ).content.decode()
    assert "Anna Berg is the campaign&#x27;s contact person" in english


def test_the_admin_rule_preview_shows_the_decision_in_german(client, world):
    inbound = ingest("gmail_reply_en.eml")
    admin = User.objects.create_superuser("root", "root@x.localhost", "pw")
    rule = RoutingRule.objects.create(name="Heat pumps", pattern="heat pump", assign_to=world.topic_owner)
    client.force_login(admin)
    url = reverse("admin:replies_routingrule_test", args=[rule.pk])
    body = client.post(url, {"inbound": inbound.pk}, HTTP_ACCEPT_LANGUAGE="de").content.decode()
    assert "Anna Berg ist die Ansprechperson der Kampagne" in body
    change = reverse("admin:replies_conversation_change", args=[Conversation.objects.get().pk])
    assert (
        "Anna Berg ist die Ansprechperson der Kampagne"
        in client.get(change, HTTP_ACCEPT_LANGUAGE="de").content.decode()
    )


def test_a_manual_reassignment_is_stored_as_a_code(world):
    from replies import services

    ingest("gmail_reply_en.eml")
    conversation = Conversation.objects.get()
    services.reassign(conversation=conversation, actor=world.anna_staff, assignee=world.topic_owner)
    conversation.refresh_from_db()
    assert conversation.routing_reasons == [{"code": "reassigned", "params": {"name": "Anna Berg"}}]
    with translation.override("de"):
        assert conversation.routing_reason_text == "neu zugewiesen von Anna Berg"
