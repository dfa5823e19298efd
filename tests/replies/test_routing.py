"""Each routing rule, the deputy, round robin, and that the reason is recorded."""

import re

import pytest
from django.core.exceptions import ValidationError

from replies.models import Conversation, InboundMessage, RoutingRule, Team
from replies.routing import RoutingInput, decide
from tests.replies.conftest import ingest, make_staff, simple_reply_bytes

pytestmark = pytest.mark.django_db


def conversation_for(raw: bytes) -> Conversation:
    ingest(raw)
    return Conversation.objects.order_by("-id").first()


def test_campaign_contact_first(world):
    conversation = conversation_for(simple_reply_bytes())
    assert (conversation.assignee, conversation.routing_rule) == (world.anna_staff, "campaign_contact")


def test_open_conversation_keeps_its_assignee_even_if_the_contact_changes(world):
    first = conversation_for(simple_reply_bytes(body="first"))
    world.campaign.contact = world.topic_owner
    world.campaign.save()
    second = conversation_for(simple_reply_bytes(body="second"))
    assert second.pk == first.pk
    assert (second.assignee, second.routing_rule) == (world.anna_staff, "campaign_contact")
    last = InboundMessage.objects.order_by("-id").first()
    assert [a["code"] for a in last.rule_hits[-1]["actions"][-2:]] == ["kept_with_assignee", "keep_assignee"]


def test_topic_owner_when_the_campaign_names_nobody(world):
    world.campaign.contact = None
    world.campaign.save()
    conversation = conversation_for(simple_reply_bytes())
    assert (conversation.assignee, conversation.routing_rule) == (world.topic_owner, "topic_owner")
    assert conversation.routing_reasons == [
        {"code": "topic_owner", "params": {"name": "Tom Owner", "topic": "Energie"}}
    ]


def no_contact_no_owner(world):
    world.campaign.contact = None
    world.campaign.save()
    world.topic.owner = None
    world.topic.save()


@pytest.mark.parametrize(
    ("rule_kwargs", "body", "subject", "sender"),
    [
        ({"field": "subject", "pattern": "Rechnung"}, "x", "Frage zur RECHNUNG", "anna@example.org"),
        (
            {"field": "body", "match_type": "regex", "pattern": r"kunden-?nr\.?\s*\d+"},
            "Kundennr. 4711",
            "x",
            None,
        ),
        ({"field": "subject_or_body", "pattern": "förderung"}, "Gibt es Förderung?", "x", None),
        ({"field": "sender_domain", "pattern": "example.org"}, "x", "x", "anna@mail.example.org"),
    ],
)
def test_admin_rules_name_a_person(world, rule_kwargs, body, subject, sender):
    no_contact_no_owner(world)
    support = make_staff("sam.support", display_name="Sam Support")
    RoutingRule.objects.create(
        name="Not this one", position=1, field="subject", pattern="nomatch", assign_to=world.anna_staff
    )
    RoutingRule.objects.create(name="Support", position=5, assign_to=support, **rule_kwargs)
    raw = simple_reply_bytes(subject=subject, body=body)
    if sender:
        raw = raw.replace(b"anna@example.org", sender.encode())
    conversation = conversation_for(raw)
    assert conversation.assignee == support
    assert conversation.routing_rule == "routing_rule"
    assert conversation.routing_reasons == [{"code": "routing_rule", "params": {"rule": "Support"}}]


def test_topic_rule_names_a_team_and_round_robin_skips_away_members(world):
    no_contact_no_owner(world)
    team = Team.objects.create(name="Energieberatung")
    a = make_staff("a.member", display_name="A", teams=[team])
    b = make_staff("b.member", display_name="B", teams=[team])
    make_staff("c.away", display_name="C", teams=[team], is_away=True)
    RoutingRule.objects.create(name="Energy topic", field="topic", topic=world.topic, assign_to_team=team)
    assignees = []
    for n, subscriber in enumerate([world.anna, world.juergen, world.ben]):
        raw = simple_reply_bytes(body=f"mail {n}", to="hello@localhost").replace(
            b"anna@example.org", subscriber.email.encode()
        )
        conversation = conversation_for(raw)
        assert conversation.team == team
        assert conversation.routing_rule == "round_robin"
        assert [r["code"] for r in conversation.routing_reasons] == ["routing_rule", "round_robin"]
        assert conversation.routing_reasons[1]["params"]["team"] == "Energieberatung"
        assignees.append(conversation.assignee)
    assert assignees[0] != assignees[1]
    assert set(assignees) == {a, b}
    assert assignees[2] == assignees[0]  # round and round, C never (away)


def test_fallback_queue_when_nothing_applies(world):
    no_contact_no_owner(world)
    conversation = conversation_for(simple_reply_bytes())
    assert conversation.assignee is None
    assert conversation.routing_rule == "fallback"
    assert conversation.routing_reasons == [{"code": "fallback"}]


def test_away_contact_hands_new_conversations_to_the_deputy_chain(world):
    deputy2 = make_staff("d2", display_name="Deputy Two")
    deputy1 = make_staff("d1", display_name="Deputy One", is_away=True, deputy=deputy2)
    profile = world.anna_staff.staff_profile
    profile.is_away, profile.deputy = True, deputy1
    profile.save()
    conversation = conversation_for(simple_reply_bytes())
    assert conversation.assignee == deputy2
    assert conversation.routing_reasons == [
        {"code": "campaign_contact", "params": {"name": "Anna Berg"}},
        {"code": "away_deputy", "params": {"name": "Anna Berg", "deputy": "Deputy One"}},
        {"code": "away_deputy", "params": {"name": "Deputy One", "deputy": "Deputy Two"}},
    ]


def test_away_without_deputy_goes_to_fallback(world):
    profile = world.anna_staff.staff_profile
    profile.is_away = True
    profile.save()
    conversation = conversation_for(simple_reply_bytes())
    assert conversation.assignee is None
    assert conversation.routing_reasons[-1] == {"code": "away_no_deputy", "params": {"name": "Anna Berg"}}


def test_decide_without_database_rows_is_the_fallback(db):
    decision = decide(RoutingInput(subject="s", body="b", sender="x@y.z", topic_ids=[]))
    assert decision.rule == "fallback"


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"pattern": "x"}, "assign_to"),
        ({"pattern": "(", "match_type": "regex", "assign": True}, "pattern"),
        ({"pattern": "", "assign": True}, "pattern"),
        ({"field": "topic", "assign": True}, "topic"),
    ],
)
def test_rule_validation(world, kwargs, field):
    if kwargs.pop("assign", False):
        kwargs["assign_to"] = world.anna_staff
    rule = RoutingRule(name="r", **kwargs)
    with pytest.raises(ValidationError) as info:
        rule.full_clean()
    assert field in info.value.message_dict


# --- The admin's "test this rule" is a dry run ------------------------------------------------


def every_row() -> dict[str, list[tuple]]:
    """Every row of every table, for "nothing changed"."""
    from django.apps import apps

    return {
        model._meta.label: sorted(model._base_manager.order_by().values_list(), key=repr)
        for model in apps.get_models(include_auto_created=True)
    }


def test_rule_preview_moves_no_round_robin_pointer_and_writes_nothing(client, world):
    from django.contrib.auth.models import User
    from django.db import connection
    from django.test.utils import CaptureQueriesContext
    from django.urls import reverse

    from replies.models import StaffProfile

    no_contact_no_owner(world)
    team = Team.objects.create(name="Energieberatung")
    a = make_staff("a.member", display_name="A", teams=[team])
    b = make_staff("b.member", display_name="B", teams=[team])
    rule = RoutingRule.objects.create(name="Energy", field="topic", topic=world.topic, assign_to_team=team)
    to_hello = simple_reply_bytes(body="first", to="hello@localhost")
    assert conversation_for(to_hello).assignee == a  # real routing: A, so B is next
    inbound = InboundMessage.objects.get()
    admin = User.objects.create_superuser("root", "root@x.localhost", "pw")
    client.force_login(admin)
    url = reverse("admin:replies_routingrule_test", args=[rule.pk])
    pointers = dict(StaffProfile.objects.values_list("pk", "last_assigned_at"))
    before = every_row()
    with CaptureQueriesContext(connection) as queries:
        for _ in range(2):
            decision = client.post(url, {"inbound": inbound.pk}).context["result"]["decision"]
            assert (decision.rule, decision.user) == ("round_robin", b)  # who WOULD get it, twice
    assert dict(StaffProfile.objects.values_list("pk", "last_assigned_at")) == pointers
    assert every_row() == before
    writes = re.compile(r"^\s*(INSERT|UPDATE|DELETE)\b|\bFOR UPDATE\b", re.I)
    assert not [q["sql"] for q in queries.captured_queries if writes.search(q["sql"])]
    # The real routing still moves on: B, then A again.
    second = simple_reply_bytes(body="second", to="hello@localhost").replace(
        b"anna@example.org", world.juergen.email.encode()
    )
    third = simple_reply_bytes(body="third", to="hello@localhost").replace(
        b"anna@example.org", world.ben.email.encode()
    )
    assert [conversation_for(second).assignee, conversation_for(third).assignee] == [b, a]
