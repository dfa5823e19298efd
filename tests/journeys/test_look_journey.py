"""The look: one layout for public pages, editor, inbox and mailbox; usable on a phone; DE and EN."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.journeys.harness import login, shot

pytestmark = pytest.mark.browser

PHONE = {"width": 390, "height": 800}


def _fits_the_screen(page) -> bool:
    return page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")


def test_public_pages_and_mailbox_fit_a_phone_and_switch_language(browser, live_system):
    context = browser.new_context(base_url=live_system.url, locale="en-US", viewport=PHONE)
    page = context.new_page()
    try:
        # Some mail in the mailbox, so the list has rows to lay out.
        live_system.python(
            "from django.core.mail import send_mail;"
            "send_mail('A rather long subject line to check wrapping on small screens', 'Hi',"
            " 'newsletter@localhost', ['someone.with.a.very.long.address@subdomain.example.org'])"
        )
        for path, name in (("/subscribe/", "look-phone-signup"), ("/dev/mailbox/", "look-phone-mailbox")):
            page.goto(path)
            assert _fits_the_screen(page), f"{path} scrolls sideways on a phone"
            shot(page, name)

        # The section in the navigation is marked; the language switch changes the page language.
        expect(page.locator(".mainnav a[aria-current=page]")).to_have_text("Mailbox")
        page.get_by_role("button", name="DE").click()
        expect(page.locator("html")).to_have_attribute("lang", "de")
        expect(page.get_by_role("button", name="DE")).to_have_attribute("aria-current", "true")
        page.get_by_role("button", name="EN").click()
        expect(page.locator("html")).to_have_attribute("lang", "en")
    finally:
        context.close()


@pytest.mark.parametrize(
    ("username", "path", "section"),
    [("marketer", "/campaigns/", "Campaigns"), ("anna", "/inbox/", "Inbox")],
)
def test_staff_pages_share_the_layout_and_mark_their_section(page, username, path, section):
    login(page, username)
    page.goto(path)
    expect(page.locator("header.topbar .brand")).to_have_text("Rundbrief")
    expect(page.locator(".mainnav a[aria-current=page]")).to_have_text(section)
    expect(page.locator("header.topbar .session")).to_contain_text("Log out")
    shot(page, f"look-{section.lower()}")
