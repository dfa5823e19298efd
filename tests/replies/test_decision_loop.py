"""One loop owns the decision record; rules answer with one type; handlers announce effects;
routing is stored once, as codes (old English texts turned into codes by migration 0005)."""

from __future__ import annotations

import importlib

import pytest
from django.apps import apps
from django.test import TestCase

from replies.bounces import Report
from replies.matching import match_mail
from replies.models import Conversation, InboundMessage
from replies.parsing import parse_mail
from replies.pipeline import chain
from replies.pipeline.context import Context, Outcome, UnmatchedUnsubscribe, Verdict
from rundbrief.effects import Enqueue
from tests.replies.conftest import eml, ingest, simple_reply_bytes

pytestmark = pytest.mark.django_db

routing_migration = importlib.import_module("replies.migrations.0005_routing_stored_once")


def _decided(raw: bytes) -> tuple[InboundMessage, list]:
    """Run the loop on a stored (not yet processed) message; returns it and the effects it scheduled."""
    inbound = InboundMessage.objects.create(raw=raw, source="pipe", dedupe_key=str(hash(raw)))
    with TestCase.captureOnCommitCallbacks(execute=False) as scheduled:
        chain.decide(inbound, parse_mail(raw, []))
    return inbound, scheduled


def test_the_loop_writes_the_whole_record_matching_first(world):
    inbound, scheduled = _decided(simple_reply_bytes(body="Gilt die Förderung auch für Altbauten?"))
    assert inbound.kind == InboundMessage.Kind.HUMAN
    assert inbound.match_method == InboundMessage.MatchMethod.REPLY_TOKEN
    assert [line["rule"] for line in inbound.rule_hits] == [
        "matching",
        "bounce",
        "complaint",
        "staff_answer",
        "auto_reply",
        "unsubscribe_by_reply",
        "human",
    ]
    assert [line["hit"] for line in inbound.rule_hits] == [True, False, False, False, False, False, True]
    assert "actions" in inbound.rule_hits[-1] and all("actions" not in h for h in inbound.rule_hits[:-1])
    # After the commit: the assignee's notification, and the "reply received" event for webhooks out.
    assert len(scheduled) == 2


def test_every_rule_answers_with_a_verdict_and_findings_are_typed(world):
    for name, expected in [("dsn_postfix.eml", Report), ("gmail_reply_en.eml", None)]:
        mail = parse_mail(eml(name), [])
        ctx = Context(mail=mail, match=match_mail(mail))
        verdicts = [link.rule.check(ctx) for link in chain.CHAIN]
        assert all(isinstance(verdict, Verdict) for verdict in verdicts)
        findings = [type(v.finding) for v in verdicts if v.finding is not None]
        assert findings == ([expected] if expected else [])
    stranger = simple_reply_bytes(body="abmelden", to="hello@localhost").replace(
        b"Anna Beispiel <anna@example.org>", b"stranger@example.net"
    )
    unmatched = parse_mail(stranger, [])
    ctx = Context(mail=unmatched, match=match_mail(unmatched))
    link, hits = chain.classify(ctx)
    assert ctx.finding(UnmatchedUnsubscribe) is not None
    assert link.rule.name == "human" and hits[-1].reasons[0].code == "unsubscribe_unmatched"


def test_handlers_announce_their_effects_instead_of_enqueueing(world, monkeypatch):
    outcomes = []
    at = next(n for n, link in enumerate(chain.CHAIN) if link.rule.name == "unsubscribe_by_reply")
    handler = chain.CHAIN[at].handler

    def recording(inbound, ctx):
        outcome = handler(inbound, ctx)
        outcomes.append(outcome)
        return outcome

    monkeypatch.setattr(
        chain,
        "CHAIN",
        [
            *chain.CHAIN[:at],
            chain.Link(chain.CHAIN[at].rule, "unsubscribe", recording),
            *chain.CHAIN[at + 1 :],
        ],
    )
    monkeypatch.setattr(chain.classify, "__defaults__", (chain.CHAIN,))
    inbound = ingest(simple_reply_bytes(body="abmelden"))
    assert inbound.kind == InboundMessage.Kind.UNSUBSCRIBE
    [outcome] = outcomes
    assert isinstance(outcome, Outcome)
    assert outcome.effects == [
        Enqueue("replies.tasks.send_unsubscribe_confirmation_task", (world.anna.pk, inbound.pk))
    ]


def test_routing_is_stored_once_as_codes_and_read_in_english_for_mails(world):
    ingest("gmail_reply_en.eml")
    conversation = Conversation.objects.get()
    assert conversation.legacy_routing_reason == ""  # nothing but the codes is written
    assert conversation.routing_reasons == [{"code": "campaign_contact", "params": {"name": "Anna Berg"}}]
    assert conversation.routing_reason == "Anna Berg is the campaign's contact person"


def test_old_english_routing_texts_become_codes_where_they_parse(world):
    parsed = Conversation.objects.create(
        legacy_routing_reason="routing rule “Support” matched; round robin in team Hilfe: Tom Owner"
    )
    odd = Conversation.objects.create(legacy_routing_reason="sent to Tom because he asked")
    coded = Conversation.objects.create(
        routing_reasons=[{"code": "fallback"}],
        legacy_routing_reason="no routing rule applied: shared unassigned queue",
    )
    routing_migration.to_codes(apps, None)
    for conversation in (parsed, odd, coded):
        conversation.refresh_from_db()
    assert parsed.routing_reasons == [
        {"code": "routing_rule", "params": {"rule": "Support"}},
        {"code": "round_robin", "params": {"team": "Hilfe", "name": "Tom Owner"}},
    ]
    assert parsed.legacy_routing_reason == ""
    assert odd.routing_reasons == [] and odd.legacy_routing_reason == "sent to Tom because he asked"
    assert odd.routing_reason_text == "sent to Tom because he asked"  # shown as it is
    assert coded.legacy_routing_reason == ""
    routing_migration.to_text(apps, None)  # and back, for a rollback
    parsed.refresh_from_db()
    assert parsed.legacy_routing_reason.startswith("routing rule “Support” matched; round robin")
