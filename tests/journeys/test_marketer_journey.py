"""Marketer journey: write an MJML campaign with a personalisation variable, watch the live preview
(and an error for broken MJML), add a German version, test-send it, see the audience per language,
launch it, watch progress and stats; German subscribers get the German mail (subject, body, footer),
English ones the English mail, with their headers, and a one-click unsubscribe POST to the header's
URL counts."""

from __future__ import annotations

import re
import urllib.request

import pytest
from playwright.sync_api import expect

from tests.journeys.harness import login, open_newest_mail, shot, wait_for

pytestmark = pytest.mark.browser

SUBJECT = "Marketer journey: autumn issue"
GOOD_MJML = """<mj-section>
  <mj-column>
    <mj-text font-size="20px">Hello {{ subscriber.name|default:"there" }}!</mj-text>
    <mj-text>Our autumn issue: three stories from the workshop.</mj-text>
  </mj-column>
</mj-section>"""
GERMAN_SUBJECT = "Marketer-Reise: Herbstausgabe"
GERMAN_MJML = """<mj-section>
  <mj-column>
    <mj-text font-size="20px">Hallo {{ subscriber.name|default:"zusammen" }}!</mj-text>
    <mj-text>Unsere Herbstausgabe: drei Geschichten aus der Werkstatt.</mj-text>
  </mj-column>
</mj-section>"""
BROKEN_MJML = """<mj-section>
  <mj-column>
    <mj-text>Hello {{ subscriber.name }}!
  </mj-column>
</mj-section>"""


def header(page, name: str) -> str:
    """A header of the open mail in the local mailbox (its "All headers" table)."""
    page.locator("details", has=page.locator("table.mail-headers")).evaluate("d => { d.open = true; }")
    cell = page.locator("table.mail-headers tr", has=page.locator(f"th:text-is('{name}')")).locator("td")
    return cell.first.inner_text().strip()


def test_marketer_writes_previews_tests_and_launches_a_campaign(page, live_system):
    login(page, "marketer")
    expect(page).to_have_url(re.compile(r"/campaigns/$"))
    page.get_by_role("link", name="New campaign").click()
    # Never an empty editor: a starter layout or a saved template.
    expect(page.locator("#starters")).to_contain_text("Personal letter")
    page.locator("[data-starter=letter]").click()
    expect(page.locator("textarea[name=mjml_body]")).to_contain_text("Write your letter here")

    page.fill("input[name=name]", "Autumn issue")
    page.get_by_label("News").check()
    page.fill("input[name=subject]", SUBJECT)
    page.fill("input[name=preheader]", "Three stories from the workshop")
    page.fill("input[name=from_name]", "Rundbrief")
    page.get_by_label("Contact person").select_option(label="Anna Berger")  # people who answer, by name
    page.fill("textarea[name=mjml_body]", GOOD_MJML)

    # Live preview for a chosen subscriber: HTML in the sandboxed iframe, text beside it.
    page.fill("#preview-subscriber", "sara.jones@example.com")
    preview = page.frame_locator("#preview-html")
    expect(preview.get_by_text("Hello Sara Jones!")).to_be_visible()
    expect(page.locator("#preview-text")).to_contain_text("Hello Sara Jones!")
    expect(page.locator("#preview-text")).to_contain_text("Anna Berger")  # the fixed footer
    expect(page.locator("#preview-html")).to_have_attribute("sandbox", "")
    expect(page.locator("details.variables")).to_contain_text("subscriber.name")
    shot(page, "marketer-01-editor-preview")

    # Broken MJML: an error with its line, not a server error.
    page.fill("textarea[name=mjml_body]", BROKEN_MJML)
    expect(page.locator("#preview-errors")).to_contain_text("Line 4")
    expect(page.locator("#preview-errors")).to_contain_text("<mj-text> from line 3 is still open")
    shot(page, "marketer-02-editor-error")
    page.fill("textarea[name=mjml_body]", GOOD_MJML)
    expect(page.locator("#preview-errors")).to_be_hidden()

    # A German version, started as a copy of the (English) default one, then translated.
    # One panel at a time; the default language (English) has no second panel of its own.
    expect(page.locator("[data-version-tab=en]")).to_be_hidden()
    expect(page.locator("[data-version-panel=de]")).to_be_hidden()
    page.locator("[data-version-tab=de]").click()
    expect(page.locator("[data-version-panel=default]")).to_be_hidden()
    expect(page.locator("[data-version-panel=de]")).to_be_visible()
    page.locator("[data-copy-default=de]").click()
    expect(page.locator("input[name=v-de-subject]")).to_have_value(SUBJECT)
    page.fill("input[name=v-de-subject]", GERMAN_SUBJECT)
    page.fill("input[name=v-de-preheader]", "Drei Geschichten aus der Werkstatt")
    page.fill("textarea[name=v-de-mjml_body]", GERMAN_MJML)
    # The preview as a German subscriber shows the German version with the German footer...
    page.fill("#preview-subscriber", "tom.meyer@example.org")
    expect(preview.get_by_text("Hallo Tom Meyer!")).to_be_visible()
    expect(page.locator("#preview-text")).to_contain_text("Abmelden")
    expect(page.locator("#preview-version")).to_contain_text("German")
    shot(page, "marketer-02b-editor-german-version")
    # ... and as an English one the English version, whichever panel is shown.
    page.fill("#preview-subscriber", "sara.jones@example.com")
    expect(preview.get_by_text("Hello Sara Jones!")).to_be_visible()
    expect(page.locator("#preview-text")).to_contain_text("Unsubscribe")
    expect(page.locator("#preview-version")).to_contain_text("English")
    page.locator("[data-version-tab=default]").click()
    page.get_by_role("button", name="Save").click()

    # The audience before launch: the four News subscribers of the demo data, two German, two
    # English, each group getting its own version.
    expect(page.locator("h1")).to_have_text("Autumn issue")
    expect(page.locator("[data-audience=recipients]")).to_have_text("4")
    expect(page.locator("[data-language-count=de]")).to_have_text("2")
    expect(page.locator("[data-language-count=en]")).to_have_text("2")
    expect(page.locator(".audience-languages tr[data-language=de]")).to_contain_text("German")
    expect(page.locator("[data-fallback]")).to_have_count(0)
    shot(page, "marketer-03-audience")

    # Test send, marked as a test, to the marketer's own address.
    page.fill("input[name=addresses]", "mara.keller@example.org")
    page.get_by_role("button", name="Send test").click()
    expect(page.locator(".message.success")).to_contain_text("Test sent to mara.keller@example.org")
    campaign_url = page.url
    open_newest_mail(page, "mara.keller@example.org", subject_contains="[TEST]")
    expect(page.locator("h1")).to_have_text(f"[TEST] {SUBJECT}")
    # A test as a German subscriber is the German version, as the preview showed it.
    page.goto(campaign_url)
    page.fill("input[name=addresses]", "mara.keller@example.org")
    page.fill("input[name=as_subscriber]", "tom.meyer@example.org")
    page.get_by_role("button", name="Send test").click()
    expect(page.locator(".message.success")).to_contain_text("Test sent to mara.keller@example.org")
    open_newest_mail(page, "mara.keller@example.org", subject_contains=f"[TEST] {GERMAN_SUBJECT}")
    expect(page.locator("[data-testid=mail-text]")).to_contain_text("Hallo Tom Meyer!")

    # Launch, then watch the progress bar reach 100 % (the page polls the progress JSON).
    page.goto(campaign_url)
    page.locator("#launch").get_by_role("button", name="Launch").click()
    # First the question naming the audience size; nothing has gone out yet.
    expect(page.locator("h1")).to_have_text("Send “Autumn issue” to 4 people now?")
    expect(page.locator("#confirm-languages tr[data-language=de]")).to_contain_text("2")
    expect(page.locator("#confirm-languages tr[data-language=de]")).to_contain_text("German")
    expect(page.locator("#confirm-languages tr[data-language=en]")).to_contain_text("English")
    page.locator("[data-confirm=launch]").click()
    expect(page.locator(".message.success")).to_contain_text("Campaign launched.")
    expect(page.locator("[data-stat=sent]")).to_have_text("4", timeout=45_000)
    expect(page.locator("[data-stat=progress_percent]")).to_have_text("100")
    shot(page, "marketer-04-progress-stats")

    # The English subscriber's mail is English: subject, body and footer.
    open_newest_mail(page, "sara.jones@example.com", subject_contains=SUBJECT)
    expect(page.locator("h1")).to_have_text(SUBJECT)
    expect(page.locator("[data-testid=mail-text]")).to_contain_text("Hello Sara Jones!")
    expect(page.locator("[data-testid=mail-text]")).to_contain_text("Unsubscribe")
    expect(page.locator("[data-testid=mail-text]")).to_contain_text("Change your preferences")

    # The German subscriber's mail is German (subject, body, footer), personalised, with the
    # per-recipient headers.
    open_newest_mail(page, "tom.meyer@example.org", subject_contains=GERMAN_SUBJECT)
    expect(page.locator("h1")).to_have_text(GERMAN_SUBJECT)
    mail_text = page.locator("[data-testid=mail-text]")
    expect(mail_text).to_contain_text("Hallo Tom Meyer!")
    expect(mail_text).to_contain_text("drei Geschichten aus der Werkstatt")
    expect(mail_text).to_contain_text("Abmelden")
    expect(mail_text).to_contain_text("Einstellungen ändern")
    expect(mail_text).not_to_contain_text("Hello")
    expect(mail_text).not_to_contain_text("Unsubscribe")
    assert re.fullmatch(r"reply\+[0-9a-f]{32}@.+", header(page, "Reply-To"))
    assert header(page, "List-Unsubscribe-Post") == "List-Unsubscribe=One-Click"
    assert header(page, "List-Id").startswith("News <news.")
    unsubscribe = header(page, "List-Unsubscribe").strip("<>")
    shot(page, "marketer-05-mail")

    # RFC 8058: a mail program POSTs to that URL, without cookies; the campaign's stats count it.
    request = urllib.request.Request(unsubscribe, data=b"List-Unsubscribe=One-Click", method="POST")
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.status == 200

    def unsubscribes_counted():
        page.goto(campaign_url)
        return page.locator("[data-stat=unsubscribes]").inner_text() == "1"

    wait_for(unsubscribes_counted, what="the unsubscribe in the campaign's stats")

    # The stats page: when and how long, the send timeline and replies as charts with their numbers.
    page.locator("#stats-link").click()
    expect(page.locator("#send-timeline canvas")).to_be_visible()
    expect(page.locator("#send-timeline table.chart-data td[data-value]").first).to_be_attached()
    expect(page.locator("#replies-timeline")).to_contain_text("Replies over time")
    expect(page.locator("[data-time=duration]")).not_to_have_text("—")
    expect(page.locator("#recipients tr[data-recipient-status]")).to_have_count(4)
    expect(page.locator("#as-sent")).to_contain_text(SUBJECT)
    expect(page.locator("[data-language-delivered=de]")).to_have_text("2")
    expect(page.locator("[data-language-delivered=en]")).to_have_text("2")
    shot(page, "marketer-06-stats")
    page.goto(campaign_url)

    # The sent campaign saved as a template, and a new campaign started from it.
    page.fill("#save-template input[name=template_name]", "Autumn template")
    page.locator("#save-template").get_by_role("button", name="Save as template").click()
    expect(page.locator(".message.success")).to_contain_text("Saved as the template “Autumn template”")
    page.goto(page.url.split("/campaigns/")[0] + "/campaigns/start/")
    page.get_by_role("link", name="Autumn template").click()
    expect(page.locator("input[name=subject]")).to_have_value(SUBJECT)
    expect(page.locator("textarea[name=mjml_body]")).to_contain_text("three stories from the workshop")
    expect(page.locator("input[name=v-de-subject]")).to_have_value(GERMAN_SUBJECT)

    # A duplicate of the sent campaign: a draft with the same content, in the editor.
    page.goto(campaign_url)
    page.locator("#duplicate").click()
    expect(page.locator(".message.success")).to_contain_text("Campaign duplicated")
    expect(page.locator("input[name=name]")).to_have_value("Autumn issue (copy)")
    expect(page.locator("input[name=subject]")).to_have_value(SUBJECT)
    expect(page.locator("input[name=v-de-subject]")).to_have_value(GERMAN_SUBJECT)
    page.fill("input[name=name]", "Autumn issue, second send")
    page.get_by_role("button", name="Save").click()
    expect(page.locator("h1")).to_have_text("Autumn issue, second send")
