"""The help-desk inbox with two people at once (issue 14): Anna and Ben, two browser contexts.

A reply arrives and appears in both queues without a reload; Anna opens it, Ben sees that Anna
is viewing and typing; Ben answers first; Anna's send asks for confirmation, showing Ben's
answer; Anna's answer comes from a saved reply with a variable, with an attachment; a search
finds the conversation by a word from the reply; the manager's report shows the first-response
time."""

from __future__ import annotations

import re
import smtplib
import uuid
from email.message import EmailMessage

import pytest
from playwright.sync_api import expect

from tests.journeys.harness import login, shot

pytestmark = pytest.mark.browser

# Not a known subscriber: the mail is unmatched and lands in the shared queue both of them see.
SENDER = ("Jonas Wolf", "jonas.private@example.net")
WORD = "Wärmetauscher"

SAVED_REPLY = """
from django.contrib.auth import get_user_model
from replies.models import SavedReply
SavedReply.objects.get_or_create(
    title="Grant for heat exchangers",
    defaults=dict(
        body="Hallo {{ subscriber_name }},\\n\\nja, der Zuschuss gilt auch dafür.\\n\\n{{ staff_name }}",
        scope="shared",
        owner=get_user_model().objects.get(username="manager"),
    ),
)
print("ok")
"""


def send_reply(live_system, subject: str) -> None:
    """Someone writes to the reply domain from their own mail program (SMTP, no reply token)."""
    mail = EmailMessage()
    mail["From"] = f"{SENDER[0]} <{SENDER[1]}>"
    mail["To"] = "dialog@reply.localhost"
    mail["Subject"] = subject
    mail["Message-ID"] = f"<{uuid.uuid4().hex}@example.net>"
    mail.set_content(f"Guten Tag, gilt die Förderung auch für einen neuen {WORD}?\n\nJonas Wolf\n")
    with smtplib.SMTP("127.0.0.1", live_system.smtp_port, timeout=30) as smtp:
        smtp.send_message(mail)


def test_two_people_one_conversation(page, browser, live_system, tmp_path):
    live_system.python(SAVED_REPLY)
    subject = f"Frage zum Zuschuss {uuid.uuid4().hex[:6]}"

    anna = page
    ben_context = browser.new_context(
        base_url=live_system.url, locale="en-US", viewport={"width": 1280, "height": 900}
    )
    ben_context.set_default_timeout(15_000)
    ben = ben_context.new_page()
    try:
        login(anna, "anna")
        login(ben, "ben")
        for person in (anna, ben):
            person.goto("/inbox/?queue=unmatched")

        # The reply arrives: both queues show it without a reload (the queues poll every 15 s).
        send_reply(live_system, subject)
        for person in (anna, ben):
            expect(person.get_by_role("link", name=subject)).to_be_visible(timeout=60_000)
        shot(anna, "inbox-01-arrived-anna")
        shot(ben, "inbox-01-arrived-ben")

        # Anna opens it; Ben opens it too and sees her there, then typing.
        anna.get_by_role("link", name=subject).click()
        anna.wait_for_load_state()
        ben.get_by_role("link", name=subject).click()
        ben.wait_for_load_state()
        expect(ben.get_by_test_id("presence")).to_contain_text("Also viewing: Anna Berger", timeout=20_000)
        anna.locator("#id_text").press_sequentially("Hallo Herr Wolf, ")
        expect(ben.get_by_test_id("presence")).to_contain_text(
            "Typing an answer: Anna Berger", timeout=20_000
        )
        shot(ben, "inbox-02-ben-sees-anna-typing")

        # Ben answers first.
        ben.locator("#id_text").fill(f"Ja, der {WORD} ist förderfähig. Ben")
        ben.get_by_role("button", name="Send answer").click()
        expect(ben.locator(".message.success")).to_contain_text("Your answer is being sent.")

        # Anna takes a saved reply with a variable, attaches a file, and sends.
        anna.locator("#id_text").fill("")
        anna.get_by_text("Insert a saved reply").click()
        anna.locator("#id_saved_reply_search").fill("heat exchangers")
        anna.get_by_role("button", name="Grant for heat exchangers").click()
        expect(anna.locator("#id_text")).to_have_value(re.compile(r"^Hallo Jonas Wolf,.*Anna Berger$", re.S))
        attachment = tmp_path / "merkblatt.txt"
        attachment.write_text("Merkblatt Wärmetauscher\n", encoding="utf-8")
        anna.locator("input[name=attachments]").set_input_files(str(attachment))
        anna.get_by_role("button", name="Send answer").click()
        # Someone answered since she opened it: she is asked first, with Ben's answer shown.
        dialog = anna.get_by_test_id("collision-dialog")
        expect(dialog).to_be_visible()
        expect(dialog).to_contain_text(f"Ja, der {WORD} ist förderfähig.")
        shot(anna, "inbox-03-anna-asked-first")
        dialog.get_by_role("button", name="Send my answer as well").click()
        expect(anna.locator(".message.success")).to_contain_text("Your answer is being sent.")
        thread = anna.locator(".replies-thread")
        expect(thread).to_contain_text("Hallo Jonas Wolf,")
        expect(thread).to_contain_text("merkblatt.txt")
        expect(thread.locator(".replies-message.out")).to_have_count(2)
        shot(anna, "inbox-04-two-answers")

        # A search finds the conversation by a word from the reply.
        anna.locator("#id_inbox_search").fill(WORD)
        anna.locator("#id_inbox_search").press("Enter")
        anna.wait_for_load_state()
        expect(anna.get_by_role("link", name=subject)).to_be_visible()
        shot(anna, "inbox-05-search")

        # The manager's report shows the first-response time.
        manager = ben
        manager.click("form[action$='/accounts/logout/'] button")
        login(manager, "manager")
        manager.goto("/inbox/reports/")
        expect(manager.get_by_test_id("first-response")).to_contain_text(re.compile(r"median \d+(\.\d)? min"))
        expect(manager.get_by_test_id("report-person")).to_contain_text("Ben")
        shot(manager, "inbox-06-report")
    finally:
        ben_context.close()
