"""Which named staff member gets a conversation, and why.

An ordered table of small named routing rules, like the recognition rules of the pipeline:
the first that decides wins; its name (Decision.rule) and reasons are stored on the
conversation, once, by ``record_decision``.

  1. keep_assignee     an open conversation stays with its assignee
     test_sender       an answer to a test mail goes to the marketer who sent the test
  2. campaign_contact  the campaign's named contact person
  3. topic_owner       the owner of the campaign's (or the subscriber's) topic
  4. routing_rule      the routing rules staff define in the admin (RoutingRule rows: keyword or
                       regex on subject or body, sender domain, topic)
  5. round_robin       within the team such a row named, skipping members who are away
  6. fallback          the shared, unassigned queue

Tags are decided beside the assignment: every active routing rule that matches adds its tags
(``tags_for``), whichever rule decided who gets it; ``record_tags`` sets them and records
which rule set which tag.

A person who is away hands new conversations to their deputy (followed, at most a few hops).

RoutingInput(dry_run=True) decides without side effects (the admin's "test this rule"):
round robin names the member who would be next but moves no pointer and locks nothing.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from campaigns import interface as campaigns
from replies.matching import match_mail
from replies.models import Conversation, ConversationEvent, RoutingRule, StaffProfile, Tag, Team
from replies.parsing import parse_mail
from replies.reasons import Reason, as_json, reason, render
from replies.selectors import staff_display_name
from subscribers.models import Subscription, Topic

MAX_DEPUTY_HOPS = 5


@dataclass
class RoutingInput:
    """What routing looks at (kept separate from models so the admin can preview a rule)."""

    subject: str
    body: str
    sender: str
    # A list, or a function giving it: most mail is decided before topics are needed.
    topic_ids: list[int] | Callable[[], list[int]]
    conversation: Conversation | None = None
    campaign_contact: AbstractBaseUser | None = None
    test_sender: AbstractBaseUser | None = None  # the mail answers a test mail this person sent
    is_new: bool = True
    # A preview: say who would get it, but change nothing (no round-robin step, no lock).
    dry_run: bool = False

    def topics(self) -> list[int]:
        if callable(self.topic_ids):
            self.topic_ids = list(self.topic_ids())
        return self.topic_ids


@dataclass
class Decision:
    rule: str  # the routing rule that decided (stored as Conversation.routing_rule)
    reasons: list[Reason]  # codes and parameters (replies.reasons), rendered when shown
    user: AbstractBaseUser | None = None
    team: Team | None = None

    @property
    def reason(self) -> str:
        """The reasons in the active language."""
        return render(self.reasons)


def _profile(user: AbstractBaseUser) -> StaffProfile | None:
    try:
        return user.staff_profile
    except StaffProfile.DoesNotExist:
        return None


def _available(user: AbstractBaseUser | None) -> bool:
    return bool(user and user.is_active)


def with_deputy(decision: Decision) -> Decision:
    """An away person's new conversations go to their deputy (and the deputy's deputy if away too)."""
    user, hops, notes = decision.user, 0, []
    while user is not None and hops < MAX_DEPUTY_HOPS:
        profile = _profile(user)
        if not profile or not profile.is_away_now:
            break
        if not profile.deputy_id:
            notes.append(reason("away_no_deputy", name=staff_display_name(user)))
            return Decision(rule="fallback", reasons=[*decision.reasons, *notes], team=decision.team)
        notes.append(
            reason("away_deputy", name=staff_display_name(user), deputy=staff_display_name(profile.deputy))
        )
        user, hops = profile.deputy, hops + 1
    if not notes:
        return decision
    return Decision(rule=decision.rule, reasons=[*decision.reasons, *notes], user=user, team=decision.team)


def keep_assignee(data: RoutingInput) -> Decision | None:
    conversation = data.conversation
    if data.is_new or conversation is None or conversation.status == Conversation.Status.CLOSED:
        return None
    if not _available(conversation.assignee):
        return None
    return Decision(
        rule="keep_assignee",
        reasons=[reason("keep_assignee", name=staff_display_name(conversation.assignee))],
        user=conversation.assignee,
        team=conversation.team,
    )


def test_sender(data: RoutingInput) -> Decision | None:
    if not _available(data.test_sender):
        return None
    return Decision(
        rule="test_sender",
        reasons=[reason("test_sender", name=staff_display_name(data.test_sender))],
        user=data.test_sender,
    )


def campaign_contact(data: RoutingInput) -> Decision | None:
    if not _available(data.campaign_contact):
        return None
    return Decision(
        rule="campaign_contact",
        reasons=[reason("campaign_contact", name=staff_display_name(data.campaign_contact))],
        user=data.campaign_contact,
    )


def topic_owner(data: RoutingInput) -> Decision | None:
    for topic in Topic.objects.filter(pk__in=data.topics(), owner__isnull=False).select_related("owner"):
        if _available(topic.owner):
            return Decision(
                rule="topic_owner",
                reasons=[reason("topic_owner", name=staff_display_name(topic.owner), topic=topic.name)],
                user=topic.owner,
            )
    return None


def routing_rule_matches(rule: RoutingRule, data: RoutingInput) -> bool:
    """Does this admin-defined routing rule match the mail? (Also the admin's "test this rule".)"""
    field = RoutingRule.Field
    if rule.field == field.TOPIC:
        return rule.topic_id in data.topics()
    if rule.field == field.SENDER_DOMAIN:
        domain = data.sender.rpartition("@")[2].lower()
        wanted = rule.pattern.strip().lstrip("@").lower()
        if rule.match_type == RoutingRule.MatchType.REGEX:
            return bool(re.search(rule.pattern, domain, re.I))
        return domain == wanted or domain.endswith("." + wanted)
    texts = {
        field.SUBJECT: [data.subject],
        field.BODY: [data.body],
        field.SUBJECT_OR_BODY: [data.subject, data.body],
    }[rule.field]
    if rule.match_type == RoutingRule.MatchType.REGEX:
        try:
            pattern = re.compile(rule.pattern, re.I)
        except re.error:
            return False  # the admin form refuses these; an old bad rule must not stop routing
        return any(pattern.search(text) for text in texts)
    keyword = rule.pattern.strip().lower()
    return bool(keyword) and any(keyword in text.lower() for text in texts)


def _next_member(team: Team) -> StaffProfile | None:
    return (
        StaffProfile.objects.filter(StaffProfile.present_filter(), teams=team, user__is_active=True)
        .select_related("user")
        .order_by(F("last_assigned_at").asc(nulls_first=True), "id")
        .first()
    )


def round_robin(
    team: Team, *, reasons: list[Reason], rule: str = "round_robin", dry_run: bool = False
) -> Decision:
    """The present team member assigned longest ago (never assigned first) gets the next one.

    dry_run: who would get it now, without taking the team lock or moving the pointer on.
    """
    if dry_run:
        member = _next_member(team)
    else:
        with transaction.atomic():
            Team.objects.select_for_update().filter(pk=team.pk).first()  # serialise concurrent workers
            member = _next_member(team)
            if member is not None:
                StaffProfile.objects.filter(pk=member.pk).update(last_assigned_at=timezone.now())
    if member is None:
        return Decision(
            rule="fallback", reasons=[*reasons, reason("team_all_away", team=team.name)], team=team
        )
    return Decision(
        rule=rule,
        reasons=[*reasons, reason("round_robin", team=team.name, name=staff_display_name(member.user))],
        user=member.user,
        team=team,
    )


def admin_routing_rules(data: RoutingInput) -> Decision | None:
    """The routing rules staff define in the admin, in their order: the first that matches decides."""
    for rule in RoutingRule.objects.filter(is_active=True).select_related("assign_to", "assign_to_team"):
        if not routing_rule_matches(rule, data):
            continue
        reasons = [reason("routing_rule", rule=rule.name)]
        if rule.assign_to_id and _available(rule.assign_to):
            return Decision(rule="routing_rule", reasons=reasons, user=rule.assign_to)
        if rule.assign_to_team_id:
            return round_robin(rule.assign_to_team, reasons=reasons, dry_run=data.dry_run)
    return None


def fallback(data: RoutingInput) -> Decision:
    return Decision(rule="fallback", reasons=[reason("fallback")])


ROUTING_RULES = [keep_assignee, test_sender, campaign_contact, topic_owner, admin_routing_rules]


def decide(data: RoutingInput) -> Decision:
    for routing_rule in ROUTING_RULES:
        decision = routing_rule(data)
        if decision is not None:
            # The deputy applies to new assignments only: an open conversation keeps its person.
            return decision if decision.rule == "keep_assignee" else with_deputy(decision)
    return fallback(data)


def record_decision(conversation: Conversation, decision: Decision) -> None:
    """Where routing is stored, once: the assignee and team, the deciding rule and its reasons (codes).

    The caller saves the conversation (a new one is routed before its first INSERT).
    """
    conversation.assignee = decision.user
    conversation.team = decision.team
    conversation.routing_rule = decision.rule
    conversation.routing_reasons = as_json(decision.reasons)


@dataclass(frozen=True)
class RuleTag:
    tag: Tag
    rule: str  # the routing rule's name, recorded with the tag


def tags_for(data: RoutingInput) -> list[RuleTag]:
    """The tags of every active routing rule that matches the mail, in the rules' order (each once)."""
    found: dict[int, RuleTag] = {}
    rules = RoutingRule.objects.filter(is_active=True, add_tags__isnull=False).distinct()
    for rule in rules.prefetch_related("add_tags"):
        if not routing_rule_matches(rule, data):
            continue
        for tag in rule.add_tags.all():
            found.setdefault(tag.pk, RuleTag(tag=tag, rule=rule.name))
    return list(found.values())


def record_tags(conversation: Conversation, tags: list[RuleTag]) -> list[RuleTag]:
    """Add the rules' tags the (saved) conversation lacks, each recorded as a timeline event with
    the rule that set it. A tag a person removed from this conversation is not set again."""
    if not tags:
        return []
    present = set(conversation.tags.values_list("pk", flat=True))
    removed = {
        name.lower()
        for name in conversation.events.filter(kind=ConversationEvent.Kind.UNTAGGED).values_list(
            "text", flat=True
        )
    }
    added = [item for item in tags if item.tag.pk not in present and item.tag.name.lower() not in removed]
    if not added:
        return []
    conversation.tags.add(*[item.tag for item in added])
    ConversationEvent.objects.bulk_create(
        ConversationEvent(
            conversation=conversation,
            kind=ConversationEvent.Kind.TAGGED,
            text=item.tag.name,
            reasons=as_json([reason("tag_by_rule", rule=item.rule, tag=item.tag.name)]),
        )
        for item in added
    )
    return added


def input_for_inbound(inbound_raw: bytes, envelope_to: list[str]) -> RoutingInput:
    """What routing would see for a stored message (for the admin's rule preview): a dry run.

    Reads only: parsing and matching write nothing, and decide() on this input moves no
    round-robin pointer.
    """
    mail = parse_mail(inbound_raw, envelope_to)
    match = match_mail(mail)
    topic_ids: list[int] = []
    if match.campaign is not None:
        topic_ids = campaigns.campaign_topic_ids(match.campaign.pk)
    if not topic_ids and match.subscriber is not None:
        topic_ids = list(
            Subscription.objects.filter(
                subscriber=match.subscriber, status=Subscription.Status.ACTIVE
            ).values_list("topic_id", flat=True)
        )
    return RoutingInput(
        subject=mail.subject,
        body=mail.stripped_text,
        sender=mail.from_address,
        topic_ids=topic_ids,
        campaign_contact=match.campaign.contact if match.campaign is not None else None,
        test_sender=match.test_sender,
        dry_run=True,
    )
