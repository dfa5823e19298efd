"""Subscriber journey: sign up, confirm from the mailbox, manage preferences, download the data,
and leave with a one-click unsubscribe, all in Chromium against the running system."""

from __future__ import annotations

import json
import re
import zipfile

import pytest
from playwright.sync_api import expect

from tests.journeys.harness import click_link_in_html, open_newest_mail, shot

pytestmark = pytest.mark.browser

EMAIL = "jula.journey@example.org"


def test_subscriber_signs_up_confirms_manages_preferences_and_unsubscribes(page, browser, live_system):
    # Signup page: the public front door.
    page.goto("/")
    expect(page).to_have_url(re.compile(r"/subscribe/$"))
    page.get_by_label("Email address").fill(EMAIL)
    page.get_by_label("Name (optional)").fill("Jula Journey")
    page.get_by_label("News").check()
    page.get_by_label("Events").check()
    page.get_by_label("Language of our mails").select_option("en")
    shot(page, "subscriber-01-signup")
    page.get_by_role("button", name="Subscribe").click()
    expect(page.get_by_role("heading", name="Almost done: check your inbox")).to_be_visible()

    # The confirmation mail arrives in the local mailbox (sent by a Celery worker).
    open_newest_mail(page, EMAIL, subject_contains="confirm your subscription")
    assert page.get_by_test_id("mail-to").inner_text() == EMAIL
    shot(page, "subscriber-02-confirmation-mail")

    # Confirm from the mail's HTML part; the link opens in a new tab. A GET alone confirms nothing.
    confirm = click_link_in_html(page, "Confirm subscription")
    expect(confirm.get_by_role("heading", name="Confirm your subscription")).to_be_visible()
    shot(confirm, "subscriber-03-confirm")
    confirm.get_by_role("button", name="Yes, confirm my subscription").click()
    expect(confirm.get_by_role("heading", name="Thank you, your subscription is confirmed")).to_be_visible()
    shot(confirm, "subscriber-04-confirmed")

    # Preference centre: leave one topic.
    confirm.get_by_role("link", name="Open your preferences").click()
    expect(confirm.get_by_role("heading", name="Your preferences")).to_be_visible()
    confirm.get_by_label("Events").uncheck()
    confirm.get_by_role("button", name="Save preferences").click()
    expect(confirm.locator(".message.success")).to_have_text("Your preferences are saved.")
    history = confirm.locator("table.consent-history")
    expect(history.get_by_text("Opt-in confirmed")).to_be_visible()
    expect(history.get_by_text("Preferences changed")).to_be_visible()
    shot(confirm, "subscriber-05-preferences")

    # Download everything we store: the link comes by mail (a forwarded newsletter's link cannot).
    confirm.get_by_role("button", name="Send me a download link").click()
    expect(confirm.get_by_role("heading", name="Check your inbox")).to_be_visible()
    open_newest_mail(page, EMAIL, subject_contains="Your data download")
    export = click_link_in_html(page, "Download my data")
    with export.expect_download() as download_info:
        export.get_by_role("button", name="Download (ZIP)").click()
    with zipfile.ZipFile(download_info.value.path()) as archive:
        data = json.loads(archive.read("data.json"))
    export.close()
    assert EMAIL in json.dumps(data)
    assert "news" in json.dumps(data)
    confirm.go_back()

    # One-click unsubscribe (RFC 8058): the mail program POSTs, without cookies, to the link.
    confirm.get_by_role("link", name="Unsubscribe from everything").click()
    expect(confirm.get_by_role("heading", name="Unsubscribe")).to_be_visible()
    unsubscribe_url = confirm.url
    mail_client = browser.new_context()
    try:
        response = mail_client.request.post(
            unsubscribe_url,
            headers={"Content-Type": "application/x-www-form-urlencoded"},
            data="List-Unsubscribe=One-Click",
        )
        assert response.status == 200, response.text()
    finally:
        mail_client.close()

    # Back in the preference centre the subscriber sees the result.
    confirm.go_back()
    confirm.reload()
    expect(confirm.locator("table.subscriber-data")).to_contain_text("Unsubscribed")
    expect(confirm.get_by_text("on the suppression list")).to_be_visible()
    expect(confirm.locator("table.consent-history").get_by_text("One-click unsubscribe")).to_be_visible()
    shot(confirm, "subscriber-06-unsubscribed")

    state = live_system.python(
        "from subscribers.models import Subscriber, Suppression;"
        f"s = Subscriber.objects.get(email='{EMAIL}');"
        "print(s.status, Suppression.objects.filter(email_hash=s.email_hash).exists())"
    )
    assert state == "unsubscribed True"
