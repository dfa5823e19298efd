"""Reasons recorded for the inbox (routing, matching, recognition rules), stored as codes.

A reason is a ``Reason`` (a code and its parameters); it is stored as JSON,
{"code": ..., "params": {...}}, and rendered at display time in the active language, so
staff using the German interface read German. Names and values (people, topics, teams,
addresses, headers, patterns) are parameters and never translated. Rows written before
codes existed keep their English text, which is shown as it is.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext_lazy


@dataclass(frozen=True)
class Reason:
    code: str
    params: dict[str, object] = field(default_factory=dict)

    def as_json(self) -> dict:
        """How it is stored: {"code": ...} plus "params" when there are any."""
        return {"code": self.code, "params": dict(self.params)} if self.params else {"code": self.code}


def as_json(reasons: Iterable[Reason]) -> list[dict]:
    return [item.as_json() for item in reasons]


TEXTS = {
    # routing.py
    "keep_assignee": _("open conversation stays with %(name)s"),
    "campaign_contact": _("%(name)s is the campaign's contact person"),
    "test_sender": _("%(name)s sent the test mail this answers"),
    "topic_owner": _("%(name)s owns the topic “%(topic)s”"),
    "routing_rule": _("routing rule “%(rule)s” matched"),
    "round_robin": _("round robin in team %(team)s: %(name)s"),
    "team_all_away": _("every member of %(team)s is away: team queue"),
    "away_deputy": _("%(name)s is away, deputy %(deputy)s"),
    "away_no_deputy": _("%(name)s is away and has no deputy: fallback queue"),
    "fallback": _("no routing rule applied: shared unassigned queue"),
    "reassigned": _("reassigned by %(name)s"),
    "tag_by_rule": _("routing rule “%(rule)s” matched: tag “%(tag)s”"),
    "started_by_staff": _("%(name)s started the conversation"),
    # matching.py
    "token_campaign": _("reply token in %(address)s: campaign mail"),
    "token_test": _("reply token in %(address)s: a test mail of the campaign"),
    "token_answer": _("reply token in %(address)s: our answer"),
    "verp_campaign": _("VERP return path %(address)s: campaign mail"),
    "verp_answer": _("VERP return path %(address)s: our answer"),
    "token_system_mail": _("reply token in %(address)s: our %(kind)s mail"),
    "verp_system_mail": _("VERP return path %(address)s: our %(kind)s mail"),
    "token_notification": _("reply token in %(address)s: a new-reply notification to staff"),
    "msgid_answer": _("%(message_id)s is one of our answers"),
    "msgid_campaign": _("%(message_id)s is a campaign mail"),
    "known_sender": _("%(address)s is a known subscriber"),
    "unmatched": _("no reply token, no known Message-ID, unknown sender"),
    # threads.py (a known sender's mail that answers nothing we know)
    "new_for_sender": _("not a reply to anything we know: a new conversation for the subscriber"),
    "same_subject": _("same subject as their open conversation #%(id)s “%(subject)s”"),
    # pipeline/bounce_rules.py
    "bounce_read": _("bounce read by %(evidence)s"),
    "bounce_failure_permanent": _("%(address)s failed for good: %(reason)s, status %(status)s (%(field)s)"),
    "bounce_failure_temporary": _("%(address)s failed for now: %(reason)s, status %(status)s (%(field)s)"),
    "bounce_no_recipient": _(
        "bounce read by %(evidence)s without a readable recipient: %(reason)s, status %(status)s"
    ),
    "complaint_read": _("spam complaint read by %(evidence)s (%(feedback_type)s): %(addresses)s"),
    # pipeline/rules.py (the first five: the bounce phrase lists before the bounce reader, kept for old rows)
    "dsn_failed": _("multipart/report; report-type=delivery-status (failed: %(failed)s)"),
    "dsn_delayed": _("multipart/report; report-type=delivery-status (no failed recipient: delay warning)"),
    "bounce_sender_subject": _("sender %(sender)s with a bounce subject"),
    "bounce_null_sender": _("null envelope sender with a bounce subject"),
    "bounce_sender_text": _("sender %(sender)s with a delivery failure text"),
    "delay_warning": _("delay warning"),
    "auto_header": _("header %(header)s: %(value)s"),
    "auto_subject": _("subject looks automatic: “%(subject)s”"),
    # pipeline/auto_reply.py
    "auto_subject_weak": _("subject “%(subject)s” may be automatic, but a person could write it too"),
    "auto_list_not_reply": _("header %(header)s: %(value)s on a mail that answers nothing"),
    "auto_list_reply": _(
        "header %(header)s: %(value)s, but the mail answers another (a person writing through a list)"
    ),
    "auto_weak_together": _(
        "signs that mail people write carries too, but from two different sources together"
    ),
    "auto_weak_only": _(
        "only signs that mail people write carries too (Exchange puts X-Auto-Response-Suppress on "
        "ordinary mail): treated as a human reply"
    ),
    "says_unsubscribe": _("the reply only says “%(text)s”"),
    "unsubscribe_unmatched": _("looks like an unsubscribe request, but no subscriber matched"),
    "human": _("no automatic rule matched"),
    # pipeline/staff_answers.py (a staff member answers a notification by mail)
    "staff_answer_notification": _("answers the new-reply notification sent to %(name)s"),
    "staff_answer_unknown_token": _(
        "from the staff address %(address)s to a reply address we never gave out (%(token_address)s)"
    ),
    "staff_answer_posted": _("posted as %(name)s's answer in conversation #%(id)s"),
    "staff_refused_sender": _(
        "refused: sent from %(address)s, but the notification went to %(name)s at their own address"
    ),
    "staff_refused_other_staff": _(
        "refused: %(address)s belongs to another staff member; the notification went to %(name)s"
    ),
    "staff_refused_unknown_token": _("refused: this reply address belongs to no notification"),
    "staff_refused_not_allowed": _("refused: %(name)s may not answer this conversation (any more)"),
    "staff_refused_automatic": _("refused: an automatic reply, not an answer"),
    "staff_refused_empty": _("refused: no text above the quoted notification"),
    "staff_refused_answered": _(
        "refused: %(other)s answered after the notification was sent; answer in the inbox"
    ),
    "staff_refused_not_possible": _("refused: %(error)s"),
    # pipeline/handlers.py (what a handler did)
    "opened_conversation": _("opened a new conversation"),
    "joined_conversation": _("joined conversation #%(id)s"),
    "reopened": _("reopened (was %(status)s)"),
    "kept_with_assignee": _("kept with the assignee"),
    "routed": _("routed by %(rule)s"),
    "tagged_by_rules": _("tagged %(tags)s by routing rules"),
    "auto_reply_no_conversation": _("no conversation yet: kept in the automatic mail list only"),
    "added_to_timeline_no_queue": _("added to the timeline of conversation #%(id)s (no queue item)"),
    "added_to_timeline": _("added to the timeline of conversation #%(id)s"),
    "unsubscribed": _("unsubscribed %(email)s from everything"),
    "confirmation_queued": _("confirmation mail queued"),
    "delay_only": _("delay warning only: nothing suppressed"),
    "no_failed_recipient": _("no failed recipient found: nothing suppressed (kept for a person to look at)"),
    "suppressed": _("suppressed %(email)s (hard bounce)"),
    "bounce_attributed": _("%(email)s: the recipient of the delivery, by %(match)s"),
    "bounce_known_subscriber": _("%(email)s is a subscriber's address"),
    "bounce_unknown_address": _("%(email)s is no subscriber's: kept, nothing suppressed"),
    "bounce_nothing_named": _("no delivery and no address named: kept, nothing suppressed"),
    "bounce_counted": _("temporary failure of %(email)s counted: bounce score %(score)s of %(threshold)s"),
    "suppressed_soft": _("suppressed %(email)s: bounce score %(score)s reached %(threshold)s"),
    "already_suppressed": _("%(email)s was suppressed already"),
    "complaint_suppressed": _("spam complaint: %(email)s unsubscribed and suppressed"),
    "marked_complained": ngettext_lazy(
        "marked %(count)d delivery as complained", "marked %(count)d deliveries as complained", "count"
    ),
    "marked_bounced": ngettext_lazy(
        "marked %(count)d delivery as bounced", "marked %(count)d deliveries as bounced", "count"
    ),
}


def reason(code: str, **params: object) -> Reason:
    """A reason to store: its code and the values that go into its text."""
    if code not in TEXTS:
        raise ValueError(f"unknown reason code {code!r}")
    return Reason(code, params)


Stored = Reason | dict | str  # a Reason, its stored JSON, or an old row's English text


def render_one(item: Stored) -> str:
    """One reason in the active language (old rows: their stored text as it is)."""
    if isinstance(item, str):
        return item
    if isinstance(item, Reason):
        item = item.as_json()
    text = TEXTS.get(item.get("code", ""))
    if text is None:  # a code from a newer version: show what there is
        return " ".join(filter(None, [item.get("code", ""), str(item.get("params") or "")]))
    params = item.get("params") or {}
    return text % params if params else str(text)


def render(items: Iterable[Stored] | Stored | None, fallback: str = "") -> str:
    """Reasons joined into one line in the active language; `fallback` (an old row's text) if none."""
    if not items:
        return fallback
    if isinstance(items, Reason | dict | str):
        items = [items]
    return "; ".join(render_one(item) for item in items)


def render_hit(hit: dict) -> str:
    """The reason of one recorded rule hit: codes if it has them, else the text stored before codes."""
    return render(hit.get("reasons"), hit.get("reason", ""))
