"""Staff journey: a subscriber answers a campaign from the mailbox, the reply lands in the contact
person's queue with the routing reason and the quote stripped, she answers, the answer threads in
the subscriber's mailbox, the subscriber writes again into the same conversation, she closes it."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.journeys.harness import login, logout, open_newest_mail, reply_as_subscriber, shot, wait_for

pytestmark = pytest.mark.browser

SUBSCRIBER = "sara.jones@example.com"
SUBJECT = "Staff journey issue"

LAUNCH = f"""
from django.contrib.auth import get_user_model
from campaigns.services import launch_campaign, save_campaign
from subscribers.models import Topic
users = get_user_model().objects
campaign = save_campaign(
    name="Staff journey", topics=[Topic.objects.get(slug="news")], subject="{SUBJECT}",
    from_name="Rundbrief", contact=users.get(username="anna"), user=users.get(username="marketer"),
    mjml_body="<mjml><mj-body><mj-section><mj-column><mj-text>Heat pumps: what we learned this winter."
    "</mj-text></mj-column></mj-section></mj-body></mjml>",
)
launch_campaign(campaign=campaign)
print(campaign.pk)
"""


def open_conversation_in_inbox(page, text: str):
    """Reload the inbox until the conversation shows up (a worker processes the reply), then open it."""

    def row():
        page.goto("/inbox/")
        link = page.get_by_role("link", name=text)
        return link if link.count() else None

    wait_for(row, what=f"conversation {text!r} in the inbox").first.click()
    page.wait_for_load_state()


def test_reply_reaches_the_contact_person_who_answers_in_the_same_thread(page, live_system):
    live_system.python(LAUNCH)

    # The subscriber answers the campaign mail from her mail program (here: the local mailbox).
    open_newest_mail(page, SUBSCRIBER, subject_contains=SUBJECT)
    shot(page, "staff-01-campaign-mail")
    reply_as_subscriber(page, "Hello, does the subsidy also apply to flats in a shared building?\n\nSara\n\n")

    # Anna, the campaign's contact person, finds it in her queue with the reason it is hers.
    login(page, "anna")
    expect(page).to_have_url(re.compile(r"/inbox/"))
    open_conversation_in_inbox(page, f"Re: {SUBJECT}")
    expect(page.locator(".routing-reason")).to_contain_text("Anna Berger is the campaign's contact person")
    thread = page.locator(".replies-thread")
    expect(thread).to_contain_text("does the subsidy also apply to flats")
    expect(thread).not_to_contain_text("Heat pumps: what we learned")  # the quoted campaign is stripped
    expect(page.locator(".replies-hits")).to_contain_text("human")
    shot(page, "staff-02-conversation")
    conversation_url = page.url

    # She answers; it goes out under her name.
    page.get_by_label("Your answer").fill("Yes, it does: ask your building management for the joint form.")
    page.get_by_role("button", name="Send answer").click()
    expect(page.locator(".message.success")).to_contain_text("Your answer is being sent.")
    expect(page.locator(".replies-message.out")).to_contain_text("ask your building management")
    shot(page, "staff-03-answered")
    logout(page)

    # The answer arrives in the subscriber's mailbox, threaded to her mail.
    open_newest_mail(page, SUBSCRIBER, subject_contains=f"Re: {SUBJECT}")
    expect(page.get_by_test_id("mail-text")).to_contain_text("ask your building management")
    threading = live_system.python(
        "import email; from rundbrief.mailbox.models import CapturedMail; from replies.models import Message;"
        "ours = Message.objects.filter(direction='out').latest('id');"
        "theirs = Message.objects.filter(direction='in').latest('id');"
        "m = email.message_from_bytes(bytes(CapturedMail.objects.get(message_id=ours.message_id).raw));"
        "print(m['From'], '|', m['In-Reply-To'] == theirs.message_id, '|', m['Reply-To'])"
    )
    sender, threaded, reply_to = (part.strip() for part in threading.split("|"))
    assert sender.startswith("Anna Berger")
    assert threaded == "True"
    assert reply_to.startswith("reply+")
    shot(page, "staff-04-answer-in-mailbox")

    # She writes again, answering the answer: the same conversation, waiting again.
    reply_as_subscriber(page, "Thank you, that helps a lot!\n\n")
    login(page, "anna")

    def second_reply_arrived():
        page.goto(conversation_url)
        return page.locator(".replies-message.in").count() == 2

    wait_for(second_reply_arrived, what="the second reply in the same conversation")
    expect(page.locator(".replies-thread")).to_contain_text("Thank you, that helps a lot!")
    # Her answer shows as sent (a worker sent it after she submitted it).
    expect(page.locator(".replies-message.out [data-testid=send-status]")).to_contain_text("sent")
    conversations = live_system.python(
        "from replies.models import Conversation;"
        f"print(Conversation.objects.filter(subscriber__email='{SUBSCRIBER}').count())"
    )
    assert conversations == "1"
    shot(page, "staff-05-second-reply")

    # Done: she closes it.
    page.get_by_role("button", name="Close", exact=True).click()
    expect(page.locator(".message.success")).to_contain_text("Conversation closed.")
    expect(page.get_by_role("button", name="Reopen")).to_be_visible()
    shot(page, "staff-06-closed")
