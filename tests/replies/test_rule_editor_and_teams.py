"""Managers set up the inbox outside the admin: routing rules (with the tags they add, and why
a tag was set, on the conversation) and each team's business hours and first-answer target."""

from __future__ import annotations

from datetime import time, timedelta

import pytest
from django.contrib.auth.models import Permission, User
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from replies.models import Conversation, ConversationEvent, RoutingRule, Tag, Team
from replies.services.collaboration import set_tags
from tests.replies.conftest import ingest, make_staff, simple_reply_bytes

pytestmark = pytest.mark.django_db


def as_user(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def manager(world):
    return make_staff("mona", group="Managers", display_name="Mona Manager")


# --- Routing rules in the app -----------------------------------------------------------------


def test_a_manager_writes_a_rule_with_tags_in_the_app(manager, world):
    client = as_user(manager)
    assert client.get(reverse("replies:routing_rules")).status_code == 200
    response = client.post(
        reverse("replies:routing_rule_new"),
        {
            "name": "Förderung",
            "position": 10,
            "is_active": "on",
            "field": "subject_or_body",
            "match_type": "keyword",
            "pattern": "Förderung",
            "assign_to": world.topic_owner.pk,
            "tag_names": "Förderung, #vip, förderung",
        },
    )
    assert response.status_code == 302 and response["Location"] == reverse("replies:routing_rules")
    rule = RoutingRule.objects.get()
    assert sorted(tag.name for tag in rule.add_tags.all()) == ["Förderung", "vip"]
    listing = client.get(reverse("replies:routing_rules")).content.decode()
    assert "Förderung" in listing and "Tom Owner" in listing
    # Change it: another tag, the old ones go from the rule.
    response = client.post(
        reverse("replies:routing_rule_edit", args=[rule.pk]),
        {
            "name": "Förderung",
            "position": 10,
            "field": "subject",
            "match_type": "keyword",
            "pattern": "Förderung",
            "assign_to_team": Team.objects.create(name="Support").pk,
            "tag_names": "Zuschuss",
        },
    )
    assert response.status_code == 302
    rule.refresh_from_db()
    assert [tag.name for tag in rule.add_tags.all()] == ["Zuschuss"]
    assert not rule.is_active and rule.assign_to is None


def test_the_rule_editor_refuses_bad_input_and_keeps_what_was_typed(manager, world):
    response = as_user(manager).post(
        reverse("replies:routing_rule_new"),
        {
            "name": "Kaputt",
            "position": 1,
            "field": "body",
            "match_type": "regex",
            "pattern": "(",
            "tag_names": "x",
        },
    )
    assert response.status_code == 400
    body = response.content.decode()
    assert "not a valid regular expression" in body
    assert "Name either a person or a team" in body
    assert 'value="Kaputt"' in body
    assert not RoutingRule.objects.exists()


def test_a_rule_deleted_in_the_app(manager, world):
    rule = RoutingRule.objects.create(name="Alt", pattern="x", assign_to=world.topic_owner)
    response = as_user(manager).post(reverse("replies:routing_rule_delete", args=[rule.pk]))
    assert response.status_code == 302 and not RoutingRule.objects.exists()


def test_rule_editor_and_teams_are_for_managers_only(world):
    rule = RoutingRule.objects.create(name="Alt", pattern="x", assign_to=world.topic_owner)
    team = Team.objects.create(name="Support")
    marketer = User.objects.create_user("mara")
    marketer.user_permissions.add(Permission.objects.get(codename="change_campaign"))
    urls = [
        reverse("replies:routing_rules"),
        reverse("replies:routing_rule_new"),
        reverse("replies:routing_rule_edit", args=[rule.pk]),
        reverse("replies:teams"),
        reverse("replies:team_edit", args=[team.pk]),
    ]
    for user in (world.anna_staff, marketer):
        client = as_user(user)
        for url in urls:
            assert client.get(url).status_code == 403
        assert client.post(reverse("replies:routing_rule_delete", args=[rule.pk])).status_code == 403
        assert (
            client.post(reverse("replies:team_edit", args=[team.pk]), {"sla_minutes": 5}).status_code == 403
        )
    assert RoutingRule.objects.exists()
    assert Team.objects.get().sla_minutes is None


def test_matching_rules_tag_the_conversation_and_say_why(world, manager, client):
    vip = Tag.objects.create(name="vip")
    grant = Tag.objects.create(name="Förderung")
    # The deciding rule (who gets it) and a later rule that only adds its tag: both tag.
    first = RoutingRule.objects.create(
        name="Heizung", position=1, pattern="Heizung", assign_to=world.topic_owner
    )
    first.add_tags.add(vip)
    later = RoutingRule.objects.create(
        name="Zuschüsse", position=2, pattern="Förderung", assign_to=world.anna_staff
    )
    later.add_tags.add(grant, vip)
    RoutingRule.objects.create(name="Nie", position=3, pattern="nirgends", assign_to=world.anna_staff)
    inbound = ingest(simple_reply_bytes(body="Meine Heizung und die Förderung?"))
    conversation = Conversation.objects.get()
    assert sorted(tag.name for tag in conversation.tags.all()) == ["Förderung", "vip"]
    events = conversation.events.filter(kind=ConversationEvent.Kind.TAGGED).order_by("text")
    assert [(e.text, e.reasons[0]["params"]["rule"], e.actor) for e in events] == [
        ("Förderung", "Zuschüsse", None),
        ("vip", "Heizung", None),
    ]
    human = inbound.rule_hits[-1]
    assert {"code": "tagged_by_rules", "params": {"tags": "vip, Förderung"}} in human["actions"]
    page = as_user(manager).get(reverse("replies:conversation", args=[conversation.pk])).content.decode()
    assert "routing rule “Heizung” matched: tag “vip”" in page
    german = (
        as_user(manager)
        .get(reverse("replies:conversation", args=[conversation.pk]), HTTP_ACCEPT_LANGUAGE="de")
        .content.decode()
    )
    assert "Routing-Regel „Heizung“ traf zu: Schlagwort „vip“" in german
    # A follow-up adds nothing twice.
    ingest(simple_reply_bytes(body="Noch einmal: Heizung"))
    assert conversation.events.filter(kind=ConversationEvent.Kind.TAGGED).count() == 2


def test_a_tag_someone_removed_is_not_set_again_by_the_rule(world):
    vip = Tag.objects.create(name="vip")
    rule = RoutingRule.objects.create(name="Heizung", pattern="Heizung", assign_to=world.topic_owner)
    rule.add_tags.add(vip)
    ingest(simple_reply_bytes(body="Heizung kaputt"))
    conversation = Conversation.objects.get()
    set_tags(conversation=conversation, actor=world.anna_staff, names=[])
    ingest(simple_reply_bytes(body="Heizung immer noch kaputt"))
    assert not conversation.tags.exists()


def test_inactive_rules_do_not_tag(world):
    rule = RoutingRule.objects.create(
        name="Aus", pattern="Heizung", assign_to=world.topic_owner, is_active=False
    )
    rule.add_tags.add(Tag.objects.create(name="vip"))
    ingest(simple_reply_bytes(body="Heizung"))
    assert not Conversation.objects.get().tags.exists()


# --- Business hours and SLA per team ------------------------------------------------------------


def test_a_manager_sets_business_hours_and_the_queue_shows_breaches(manager, world, frozen_clock):
    team = Team.objects.create(name="Support")
    now = timezone.now()
    late = Conversation.objects.create(
        subscriber=world.anna,
        team=team,
        assignee=world.anna_staff,
        subject="Late",
        waiting_since=now - timedelta(hours=2),
    )
    queue = as_user(world.anna_staff).get(reverse("replies:inbox")).content.decode()
    assert 'data-testid="sla-breach"' not in queue  # no target yet
    client = as_user(manager)
    assert "Support" in client.get(reverse("replies:teams")).content.decode()
    response = client.post(
        reverse("replies:team_edit", args=[team.pk]),
        {
            "sla_minutes": 60,
            "business_days": ["1", "2", "3", "4", "5", "6", "7"],
            "business_start": "00:00",
            "business_end": "23:59",
        },
    )
    assert response.status_code == 302
    team.refresh_from_db()
    assert (team.sla_minutes, team.business_days, team.business_start, team.business_end) == (
        60,
        "1234567",
        time(0, 0),
        time(23, 59),
    )
    queue = as_user(world.anna_staff).get(reverse("replies:inbox")).content.decode()
    row = queue.split(f'data-conversation="{late.pk}"')[1].split("</tr>")[0]
    assert 'data-testid="sla-breach"' in row
    # Weekdays only: the frozen Sunday has no business minutes, no breach.
    client.post(
        reverse("replies:team_edit", args=[team.pk]),
        {
            "sla_minutes": 60,
            "business_days": ["1", "2", "3", "4", "5"],
            "business_start": "09:00",
            "business_end": "17:00",
        },
    )
    queue = as_user(world.anna_staff).get(reverse("replies:inbox")).content.decode()
    assert 'data-testid="sla-breach"' not in queue
    # No target at all.
    client.post(
        reverse("replies:team_edit", args=[team.pk]),
        {"sla_minutes": "", "business_days": ["1"], "business_start": "09:00", "business_end": "17:00"},
    )
    team.refresh_from_db()
    assert team.sla_minutes is None


@pytest.mark.parametrize(
    ("data", "error"),
    [
        (
            {"sla_minutes": 0, "business_days": ["1"], "business_start": "09:00", "business_end": "17:00"},
            "at least one minute",
        ),
        (
            {"sla_minutes": 60, "business_days": [], "business_start": "09:00", "business_end": "17:00"},
            "This field is required",
        ),
        (
            {"sla_minutes": 60, "business_days": ["1"], "business_start": "17:00", "business_end": "09:00"},
            "end after they start",
        ),
    ],
)
def test_bad_business_hours_are_refused(manager, data, error):
    team = Team.objects.create(name="Support", sla_minutes=30)
    response = as_user(manager).post(reverse("replies:team_edit", args=[team.pk]), data)
    assert response.status_code == 400
    assert error in response.content.decode()
    team.refresh_from_db()
    assert team.sla_minutes == 30
