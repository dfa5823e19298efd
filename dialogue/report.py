"""The dialogue report of a campaign: what subscribers said, counted in people, not messages.

- people who replied out of people delivered; the share of them we answered;
- first response time (from a person's first reply to our first answer that went out): median, p90;
- the unanswered conversations; replies per day (a chart, rundbrief/charts.py);
- themes: the tags staff put on the campaign's conversations (by hand or by routing rules), counted
  in conversations and people, beside keywords of the replies (YAKE, per language: German and
  English), and a few quotes with names, addresses, phone numbers, mail addresses and links
  masked (dialogue.masking).
Reads only; who may see which part is the view's decision (numbers and masked quotes for marketers,
the unanswered conversations themselves only for people with inbox rights).
"""

from __future__ import annotations

import statistics
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import timedelta

from django.db.models import Min, Q
from django.utils import timezone
from django.utils.translation import gettext as _

from campaigns.models import Campaign, Delivery
from dialogue.masking import mask
from replies.interface import Conversation, Message, TagCount, campaign_tag_counts
from rundbrief.charts import Chart

KEYWORDS = 8
QUOTES = 3
QUOTE_CHARS = 240
YAKE_LANGUAGES = {"de": "de", "en": "en"}


@dataclass(frozen=True)
class ReportRow:
    conversation_id: int
    subject: str
    since: object  # datetime of the person's first reply


@dataclass
class DialogueReport:
    delivered: int
    repliers: int
    answered: int
    median_first_response: timedelta | None
    p90_first_response: timedelta | None
    unanswered: list[ReportRow] = field(default_factory=list)
    chart: Chart | None = None
    keywords: list[str] = field(default_factory=list)
    quotes: list[str] = field(default_factory=list)
    tags: list[TagCount] = field(default_factory=list)  # themes from staff tags, most used first

    @property
    def reply_rate_percent(self) -> float:
        return round(100 * self.repliers / self.delivered, 1) if self.delivered else 0.0

    @property
    def answered_percent(self) -> float:
        return round(100 * self.answered / self.repliers, 1) if self.repliers else 0.0


def _human_replies(campaign: Campaign):
    return Message.objects.filter(
        conversation__campaign=campaign, direction=Message.Direction.INBOUND, kind="human"
    )


def _p90(values: list[float]) -> float:
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=10, method="inclusive")[-1]


def keywords(texts_by_language: dict[str, list[str]], *, top: int = KEYWORDS) -> list[str]:
    """The strongest keywords across languages (YAKE scores: lower is stronger)."""
    # Imported here, not at the top: YAKE brings networkx and numpy (~22 MB), and this module is
    # imported with every view (rundbrief.urls), which the sending workers load too to build the
    # mails' links; they would carry it in every pool process (issue 17: < 100 MB per process).
    import yake

    scored: dict[str, float] = {}
    for language, texts in texts_by_language.items():
        if not texts:
            continue
        extractor = yake.KeywordExtractor(lan=YAKE_LANGUAGES.get(language, "en"), n=2, top=top, dedupLim=0.8)
        for phrase, score in extractor.extract_keywords("\n\n".join(texts)):
            key = phrase.lower()
            if key not in scored or score < scored[key]:
                scored[key] = float(score)
    return [phrase for phrase, _score in sorted(scored.items(), key=lambda item: item[1])[:top]]


def campaign_report(campaign: Campaign) -> DialogueReport:
    delivered = (
        Delivery.objects.filter(
            campaign=campaign, status__in=[Delivery.Status.SENT, Delivery.Status.COMPLAINED]
        )
        .values("subscriber_id")
        .distinct()
        .count()
    )
    conversations = (
        # By subquery: a filter on the messages join would limit the annotations below to it.
        Conversation.objects.filter(pk__in=_human_replies(campaign).values("conversation_id"))
        .annotate(
            first_reply=Min(
                "messages__created_at", filter=Q(messages__direction="in", messages__kind="human")
            ),
            first_answer=Min(
                "messages__sent_at", filter=Q(messages__direction="out", messages__send_status="sent")
            ),
        )
        .select_related("subscriber")
    )
    people: dict[object, dict] = {}
    for conversation in conversations:
        key = conversation.subscriber_id or f"address:{conversation.contact_address.lower()}"
        person = people.setdefault(key, {"first_reply": None, "first_answer": None, "open": []})
        if person["first_reply"] is None or conversation.first_reply < person["first_reply"]:
            person["first_reply"] = conversation.first_reply
        if conversation.first_answer and (
            person["first_answer"] is None or conversation.first_answer < person["first_answer"]
        ):
            person["first_answer"] = conversation.first_answer
        if conversation.first_answer is None:
            person["open"].append(conversation)
    waits = [
        (p["first_answer"] - p["first_reply"]).total_seconds()
        for p in people.values()
        if p["first_answer"] and p["first_answer"] >= p["first_reply"]
    ]
    unanswered = [
        ReportRow(conversation_id=c.pk, subject=c.subject, since=c.first_reply)
        for p in people.values()
        if p["first_answer"] is None
        for c in p["open"]
    ]
    replies = list(_human_replies(campaign).select_related("conversation__subscriber").order_by("created_at"))
    return DialogueReport(
        delivered=delivered,
        repliers=len(people),
        answered=sum(1 for p in people.values() if p["first_answer"]),
        median_first_response=timedelta(seconds=statistics.median(waits)) if waits else None,
        p90_first_response=timedelta(seconds=_p90(sorted(waits))) if waits else None,
        unanswered=sorted(unanswered, key=lambda row: row.since),
        chart=_chart(replies),
        keywords=keywords(_texts_by_language(replies)),
        quotes=_quotes(replies),
        tags=campaign_tag_counts(campaign.pk),
    )


def _text(message: Message) -> str:
    return (message.stripped_text or message.text).strip()


def _texts_by_language(replies: list[Message]) -> dict[str, list[str]]:
    texts: dict[str, list[str]] = defaultdict(list)
    for message in replies:
        subscriber = message.conversation.subscriber
        texts[subscriber.language if subscriber else "en"].append(_text(message))
    return texts


def _quotes(replies: list[Message]) -> list[str]:
    """The longest few replies (they say most), one per person, masked."""
    names = {
        m.conversation.subscriber.name
        for m in replies
        if m.conversation.subscriber and m.conversation.subscriber.name
    }
    seen, chosen = set(), []
    for message in sorted(replies, key=lambda m: len(_text(m)), reverse=True):
        person = message.conversation.subscriber_id or message.conversation_id
        if person in seen or not _text(message):
            continue
        seen.add(person)
        text = _text(message)
        chosen.append(mask(text[:QUOTE_CHARS] + ("…" if len(text) > QUOTE_CHARS else ""), names=names))
        if len(chosen) == QUOTES:
            break
    return chosen


def _chart(replies: list[Message]) -> Chart:
    per_day = Counter(timezone.localdate(message.created_at) for message in replies)
    return Chart(
        caption=_("Replies per day"),
        x_label=_("Date"),
        series=[_("Replies")],
        rows=[(day.isoformat(), [count]) for day, count in sorted(per_day.items())],
        kind="bar",
        empty_text=_("No replies yet."),
        id="dialogue-replies-chart",
    )


def reply_rates(*, limit: int = 30) -> list[dict]:
    """Across campaigns: reply rate per sent issue (people who replied of people delivered), newest
    last, with its topics: which issues started conversations."""
    rows = []
    sent = (
        Campaign.objects.filter(status=Campaign.Status.SENT)
        .prefetch_related("topics")
        .order_by("-finished_at")
    )
    for campaign in reversed(list(sent[:limit])):
        delivered = Delivery.objects.filter(campaign=campaign, status=Delivery.Status.SENT).count()
        repliers = _human_replies(campaign).values("conversation__subscriber_id").distinct().count()
        rows.append(
            {
                "campaign": campaign,
                "topics": ", ".join(t.name for t in campaign.topics.all()),
                "delivered": delivered,
                "repliers": repliers,
                "rate": round(100 * repliers / delivered, 1) if delivered else 0.0,
            }
        )
    return rows


def reply_rates_chart(rows: list[dict]) -> Chart:
    return Chart(
        caption=_("Reply rate per issue (people who replied of people delivered, %)"),
        x_label=_("Issue"),
        series=[_("Reply rate (%)")],
        rows=[(row["campaign"].subject, [row["rate"]]) for row in rows],
        kind="line",
        empty_text=_("No issue has been sent yet."),
        id="dialogue-reply-rates-chart",
    )
