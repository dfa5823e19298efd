"""Data for the every-page check, made inside the live system (run through `manage.py shell`).

`prepare(run_names)` prints one JSON object: for each run ("de-desktop", ...) the addresses of
its own subscribers' links (so a run that confirms, unsubscribes or erases never changes what
another run sees), plus shared things (kept off the "news" topic and away from Sara Jones, whom the
other journeys count): a draft and a launched campaign, a conversation that
started with a hostile HTML-only reply, an automatic mail, and the content strings (names,
subjects, texts) that the untranslated-strings check must not count as interface text.
"""

from __future__ import annotations

import json
import smtplib
import time
from email.message import EmailMessage
from unittest import mock

from django.conf import settings
from django.contrib.auth import get_user_model
from django.utils import timezone

from campaigns.models import Campaign, Delivery
from campaigns.services import launch_campaign, save_campaign
from dialogue import links as dialogue_links
from dialogue.models import ReaderLetter
from replies.models import Conversation, InboundMessage, Message
from rundbrief.mail.addresses import REPLY
from rundbrief.mailbox.models import CapturedMail
from subscribers import selectors, services, tokens
from subscribers.models import ConsentEvent, Subscriber, Suppression, Topic

HOSTILE_HTML = """<html><head><style>p { color: red }</style><script>alert(1)</script></head><body>
<p>Hello, I have a <b>question</b> about the <i>subsidy</i>: is it also paid for flats?</p>
<p>I read <a href="https://example.org/subsidy">the conditions</a> and
<a href="javascript:alert(document.cookie)">click me</a> and <a href="data:text/html,x">this</a>.</p>
<p>Maria</p></body></html>"""


def _subscriber(email: str, language: str, topics: list[Topic], *, confirm: bool) -> Subscriber:
    consent = selectors.current_consent_text(language)
    services.request_subscription(
        email=email, topics=topics, source="form", consent=consent, name="Page Check", language=language
    )
    subscriber = Subscriber.objects.get(email=email)
    if confirm:
        services.confirm(
            subscriber_id=subscriber.pk, topic_slugs=[t.slug for t in topics], requested_until=timezone.now()
        )
    return subscriber


def _wait(check, what: str, timeout: float = 60):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = check()
        if result:
            return result
        time.sleep(0.3)
    raise RuntimeError(f"timed out waiting for {what}")


def _send(raw: EmailMessage) -> None:
    with smtplib.SMTP(settings.INBOUND_SMTP_HOST, settings.INBOUND_SMTP_PORT, timeout=20) as smtp:
        smtp.send_message(raw)


def _dialogue_pages(sent: Campaign, member: Subscriber) -> dict:
    """The dialogue pages (issue 15) of one run's subscriber: their own pages about the sent issue,
    a conversation about it, and a reader letter proposed from it, waiting for their answer."""
    delivery = _wait(
        lambda: Delivery.objects.filter(campaign=sent, subscriber=member).first(), "the run's delivery"
    )
    conversation = Conversation.objects.create(
        subscriber=member, campaign=sent, subject="Re: Winter issue: heat pumps", status="closed"
    )
    letter = ReaderLetter.objects.create(
        subscriber=member,
        topic=sent.topics.first(),
        conversation=conversation,
        text="Heat pumps: what we learned.",
        signature_kind="initials_town",
        signature="P. C., Bonn",
    )
    mail_urls = dialogue_links.mail_links(member.pk, delivery.campaign_id)
    return {
        "dialogue_web": mail_urls["web_url"],
        "dialogue_talk": mail_urls["talk_url"],
        "dialogue_conversation": dialogue_links.conversation_url(member.pk, conversation.pk),
        "dialogue_letter": dialogue_links.letter_url(member.pk, letter.pk),
    }


def prepare(run_names: list[str]) -> None:
    users = get_user_model().objects
    events, updates = Topic.objects.get(slug="events"), Topic.objects.get(slug="product-updates")
    runs = {}
    for run in run_names:
        language = run.split("-")[0]
        pending = _subscriber(f"pending.{run}@example.org", language, [updates], confirm=False)
        member = _subscriber(f"member.{run}@example.org", language, [events, updates], confirm=True)
        expiring = _subscriber(f"expired.{run}@example.org", language, [events], confirm=False)
        thirty_days_ago = time.time() - 30 * 24 * 3600
        with mock.patch("time.time", return_value=thirty_days_ago):  # a link signed a month ago
            expired_url = tokens.confirm_url(expiring.pk, ["events"])
        runs[run] = {
            "confirm": tokens.confirm_url(pending.pk, ["product-updates"]),
            "preferences": tokens.preferences_url(member.pk),
            "unsubscribe": tokens.unsubscribe_url(member.pk, ["events"]),
            "expired": expired_url,
            "gone": tokens.preferences_url(10**9),
        }

    # The suppression list with rows (one of them liftable, with its lift form): its table is
    # the widest in the app, and its last column has only a visually hidden header.
    left = _subscriber("left.every-page@example.org", "en", [events], confirm=True)
    services.unsubscribe(subscriber=left, source=ConsentEvent.Source.ONE_CLICK)
    bounced = _subscriber("bounced.every-page@example.org", "de", [events], confirm=True)
    services.suppress_address(
        email=bounced.email,
        reason=Suppression.Reason.HARD_BOUNCE,
        source=ConsentEvent.Source.ESP_EVENT,
        details={"rule": "rfc3464", "evidence": "verp", "reason": "mailbox_unknown", "status": "5.1.1"},
    )

    marketer, anna = users.get(username="marketer"), users.get(username="anna")
    draft = Campaign.objects.filter(status="draft").order_by("pk").first()
    sent = save_campaign(
        name="Winter issue",
        topics=[updates],
        subject="Winter issue: heat pumps",
        from_name="Rundbrief",
        contact=anna,
        user=marketer,
        mjml_body="<mjml><mj-body><mj-section><mj-column><mj-text>Heat pumps: what we learned."
        "</mj-text></mj-column></mj-section></mj-body></mjml>",
    )
    launch_campaign(campaign=sent)
    delivery = _wait(
        lambda: Delivery.objects.filter(campaign=sent, subscriber__email="maria.rossi@example.com").first(),
        "the campaign's deliveries",
    )

    reply = EmailMessage()
    reply["From"] = "Maria Rossi <maria.rossi@example.com>"
    reply["To"] = REPLY.address(delivery.reply_token)
    reply["Subject"] = "Re: Winter issue: heat pumps"
    reply["Message-ID"] = "<every-page-html-reply@example.com>"
    reply.set_content(HOSTILE_HTML, subtype="html")
    _send(reply)

    auto = EmailMessage()
    auto["From"] = "Lena Fischer <lena.fischer@example.org>"
    auto["To"] = REPLY.address(delivery.reply_token)
    auto["Subject"] = "Abwesenheitsnotiz: Winter issue"
    auto["Auto-Submitted"] = "auto-replied"
    auto["Message-ID"] = "<every-page-auto-reply@example.org>"
    auto.set_content("Ich bin bis Montag nicht im Büro.")
    _send(auto)

    message = _wait(
        lambda: Message.objects.filter(message_id="<every-page-html-reply@example.com>").first(),
        "the HTML-only reply in a conversation",
    )
    automatic = _wait(
        lambda: InboundMessage.objects.filter(status="processed", kind__in=["auto_reply"]).first(),
        "the auto-reply to be recognised",
    )
    mail = CapturedMail.objects.order_by("-pk").first()
    _wait(lambda: Campaign.objects.filter(pk=sent.pk, status="sent").exists(), "the campaign to be sent")
    for run in run_names:
        member = Subscriber.objects.get(email=f"member.{run}@example.org")
        runs[run].update(_dialogue_pages(sent, member))
    dialogue = {"archive": f"/archive/{updates.slug}/", "issue": f"/archive/{updates.slug}/{sent.pk}/"}

    content = set()
    content.update(Topic.objects.values_list("name", flat=True))
    content.update(Topic.objects.values_list("slug", flat=True))  # short names, shown on the audience desk
    content.update(Topic.objects.values_list("description", flat=True))
    for field in ("name", "subject", "preheader", "from_name"):
        content.update(Campaign.objects.values_list(field, flat=True))
    content.update(Conversation.objects.values_list("subject", flat=True))
    content.update(Message.objects.values_list("text", flat=True))
    content.update(InboundMessage.objects.values_list("subject", flat=True))
    content.update(CapturedMail.objects.values_list("subject", flat=True))
    content.update(u.get_full_name() for u in users.all())
    content.update(Subscriber.objects.values_list("name", flat=True))
    content.update(ReaderLetter.objects.values_list("text", flat=True))

    print(
        json.dumps(
            {
                "runs": runs,
                "draft_campaign": draft.pk,
                "sent_campaign": sent.pk,
                "conversation": message.conversation_id,
                "html_message": message.pk,
                "automatic_inbound": automatic.pk,
                "mail": mail.pk,
                "audience_subscriber": delivery.subscriber_id,
                "dialogue": dialogue,
                "content": sorted(c for c in content if c),
            }
        )
    )
