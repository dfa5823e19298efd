"""Dialogue journeys (issue 15) in Chromium against the live system.

1. A subscriber replies, staff propose a reader letter, the subscriber consents on the page, the
   marketer puts it into the next issue (the editor preview shows it), the archive shows it, the
   subscriber withdraws, and it is gone from the archive.
2. A subscriber continues a conversation in the browser and asks for a call back; staff see both;
   after the retention period the call-back data is gone.

Kept off the "news" topic and away from the other journeys' subscribers: its own topic and people.
"""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.journeys.harness import (
    login,
    logout,
    mail_link,
    open_newest_mail,
    reply_as_subscriber,
    shot,
    wait_for,
)

pytestmark = pytest.mark.browser

TOPIC = "readers-post"
SETUP = """
from django.contrib.auth import get_user_model
from campaigns.services import launch_campaign, save_campaign
from subscribers.models import Subscriber, Subscription, Topic, email_hash
users = get_user_model().objects
anna = users.get(username="anna")
topic, _ = Topic.objects.get_or_create(
    slug="readers-post", defaults={{"name": "Readers' post", "owner": anna}}
)
s, _ = Subscriber.objects.get_or_create(
    email="{address}",
    defaults={{
        "email_hash": email_hash("{address}"), "name": "{name}", "language": "en", "status": "confirmed"
    }},
)
Subscription.objects.get_or_create(subscriber=s, topic=topic, defaults={{"status": "active"}})
campaign = save_campaign(
    name="{subject}", topics=[topic], subject="{subject}", from_name="Rundbrief",
    contact=anna, user=users.get(username="marketer"), mjml_body={body!r},
)
{launch}
print(campaign.pk)
"""
ISSUE = (
    "<mj-section><mj-column><mj-text>Heat pumps in winter: tell us how yours does.</mj-text>"
    "</mj-column></mj-section>"
)
LETTERS = ISSUE + '\n<mj-rundbrief-letters topic="readers-post" count="3"/>'
REPLY = "Our heat pump has run since October and the bills are lower already. The installer was great."
EXCERPT = "Our heat pump has run since October and the bills are lower already."


def _campaign(live_system, *, address, name, subject, body, launch=True) -> str:
    return live_system.python(
        SETUP.format(
            address=address,
            name=name,
            subject=subject,
            body=body,
            launch="launch_campaign(campaign=campaign)" if launch else "",
        )
    )


def _open_conversation(page, subject: str) -> None:
    def row():
        page.goto("/inbox/?queue=all")
        link = page.get_by_role("link", name=f"Re: {subject}")
        if not link.count():
            page.goto("/inbox/")
            link = page.get_by_role("link", name=f"Re: {subject}")
        return link if link.count() else None

    wait_for(row, what=f"the conversation about {subject!r}").first.click()
    page.wait_for_load_state()


def test_a_reader_letter_from_reply_to_consent_to_the_archive_and_back_out(page, live_system):
    address, subject = "karla.letters@example.com", "Readers issue one"
    _campaign(live_system, address=address, name="Karla Meier", subject=subject, body=ISSUE)
    open_newest_mail(page, address, subject_contains=subject)
    reply_as_subscriber(page, REPLY + "\n\nKarla\n\n")

    # Anna proposes the excerpt as a letter, signed with initials and town.
    login(page, "anna")
    _open_conversation(page, subject)
    page.locator("#dialogue summary").click()
    page.get_by_label("Excerpt to publish").fill(EXCERPT)
    page.get_by_label("Signature").select_option("initials_town")
    page.get_by_label("Town (for initials and town)").fill("Bonn")
    page.get_by_label("Topic").select_option(label="Readers' post")
    page.get_by_role("button", name="Ask the subscriber").click()
    expect(page.locator(".message.success")).to_contain_text("asked by mail")
    expect(page.get_by_test_id("letters")).to_contain_text("Waiting for the subscriber's consent")
    shot(page, "dialogue-01-letter-proposed")
    logout(page)

    # Karla reads exactly what would appear, and says yes (a POST on the signed page).
    open_newest_mail(page, address, subject_contains="reader letter")
    letter_url = mail_link(page, "/letters/")
    page.goto(letter_url)
    expect(page.get_by_test_id("letter-text")).to_contain_text(EXCERPT)
    expect(page.get_by_test_id("letter-signature")).to_have_text("K. M., Bonn")
    shot(page, "dialogue-02-letter-consent-page")
    page.get_by_role("button", name="Yes, publish it like this").click()
    expect(page.get_by_text("Published with your consent.")).to_be_visible()

    # The marketer puts it into the next issue: the editor preview shows it.
    next_pk = _campaign(
        live_system,
        address=address,
        name="Karla Meier",
        subject="Readers issue two",
        body=LETTERS,
        launch=False,
    )
    login(page, "marketer")
    page.goto(f"/campaigns/{next_pk}/edit/")
    preview = page.frame_locator("#preview-html")
    expect(preview.locator("body")).to_contain_text("K. M., Bonn", timeout=20_000)
    expect(preview.locator("body")).to_contain_text(EXCERPT)
    shot(page, "dialogue-03-editor-preview-with-letter")
    live_system.python(
        f"from campaigns.models import Campaign; from campaigns.services import launch_campaign;"
        f"launch_campaign(campaign=Campaign.objects.get(pk={next_pk}))"
    )
    logout(page)

    # Once sent, the archive shows the issue with the letter.
    issue_url = f"/archive/{TOPIC}/{next_pk}/"

    def issue_on_archive():
        return page.goto(issue_url).status == 200

    wait_for(issue_on_archive, what="the sent issue on the archive")
    expect(page.frame_locator("iframe.preview").locator("body")).to_contain_text("K. M., Bonn")
    shot(page, "dialogue-04-archive-with-letter")

    # She withdraws: gone from the archive.
    page.goto(letter_url)
    page.get_by_role("button", name="Withdraw my consent").click()
    expect(page.get_by_text("You withdrew your consent")).to_be_visible()
    page.goto(issue_url)
    expect(page.frame_locator("iframe.preview").locator("body")).to_contain_text("Heat pumps in winter")
    expect(page.frame_locator("iframe.preview").locator("body")).not_to_contain_text("K. M., Bonn")
    shot(page, "dialogue-05-archive-after-withdrawal")


def test_continue_in_the_browser_and_ask_for_a_call_back(page, live_system):
    address, subject = "carla.callback@example.com", "Readers callback issue"
    _campaign(live_system, address=address, name="Carla Ruf", subject=subject, body=ISSUE)
    open_newest_mail(page, address, subject_contains=subject)
    page.goto(mail_link(page, "/talk/"))
    expect(page.get_by_role("heading", level=1)).to_contain_text(subject)
    page.get_by_label("Your reply").fill("Can I get the subsidy as a tenant?")
    page.get_by_role("button", name="Send").click()
    expect(page.locator(".message.success")).to_contain_text("your reply has been received")
    talk_url = page.url
    page.get_by_label("Phone number").fill("+49 228 555 0101")
    page.get_by_label("When may we call?").fill("Tuesday 9–12")
    page.get_by_role("button", name="Call me back").click()
    expect(page.locator(".message.success")).to_contain_text("we will call you back")
    shot(page, "dialogue-06-talk-page")

    # Staff see the web reply and the call-back request on the conversation in the queue.
    login(page, "anna")
    _open_conversation(page, subject)
    expect(page.locator(".replies-thread")).to_contain_text("Can I get the subsidy as a tenant?")

    def callback_shown():
        page.reload()
        return page.get_by_test_id("callbacks").count()

    wait_for(callback_shown, what="the call-back request on the conversation")
    expect(page.get_by_test_id("callbacks")).to_contain_text("+49 228 555 0101")
    expect(page.get_by_test_id("callbacks")).to_contain_text("Tuesday 9–12")
    shot(page, "dialogue-07-staff-sees-callback")
    page.get_by_role("button", name="Close", exact=True).click()
    expect(page.locator(".message.success")).to_contain_text("Conversation closed.")
    logout(page)

    # After the retention period (the purge run with the clock moved on), the number is gone.
    left = live_system.python(f"""
from datetime import timedelta
from django.conf import settings
from django.utils import timezone
from dialogue.models import CallbackRequest
from dialogue.services.callbacks import purge_expired_callbacks
q = CallbackRequest.objects.filter(subscriber__email="{address}")
before = q.count()
retention = timedelta(days=settings.CALLBACK_RETENTION_DAYS)
purge_expired_callbacks(now=timezone.now() + retention - timedelta(hours=1))
kept = q.count()
purge_expired_callbacks(now=timezone.now() + retention + timedelta(hours=1))
print(before, kept, q.count())
""")
    assert left.split() == ["1", "1", "0"]
    page.goto(talk_url)  # the mail's page never shows the number (nor the thread)
    expect(page.locator("#callback")).not_to_contain_text("+49 228 555 0101")
    assert re.search(r"/talk/", talk_url)
