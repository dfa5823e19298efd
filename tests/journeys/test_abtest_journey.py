"""A/B test by replies in Chromium: the marketer switches the test on in the editor and writes
subject B, the preview shows B; the launch confirmation says who gets what; each subscriber's mail
in the mailbox has their variant's subject; one replies (as a person, over SMTP); the campaign
page shows the figures so far and, decided by hand after a confirmation, the winner with its
counts, also on the stats page."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.journeys.harness import login, open_newest_mail, reply_as_subscriber, shot, wait_for

pytestmark = pytest.mark.browser

SUBJECT_A = "A/B journey: winter issue"
SUBJECT_B = "A/B journey: what do you think of winter?"
MJML = """<mj-section>
  <mj-column>
    <mj-text>Hello {{ subscriber.name|default:"there" }}, our winter issue.</mj-text>
  </mj-column>
</mj-section>"""
# The demo subscribers of News and Events (rundbrief.devtools.demo).
AUDIENCE = (
    "lena.fischer@example.org",
    "tom.meyer@example.org",
    "sara.jones@example.com",
    "jonas.wolf@example.net",
    "maria.rossi@example.com",
)


def test_marketer_runs_an_ab_test_decided_by_replies(page, live_system):
    login(page, "marketer")
    page.goto("/campaigns/new/")
    page.fill("input[name=name]", "A/B journey")
    page.get_by_label("News").check()
    page.get_by_label("Events").check()
    page.fill("input[name=subject]", SUBJECT_A)
    page.fill("input[name=from_name]", "Rundbrief")
    page.get_by_label("Contact person").select_option(label="Anna Berger")
    page.fill("textarea[name=mjml_body]", MJML)

    # The section is closed and off until the marketer opens it.
    section = page.locator("details#ab-test")
    expect(section).not_to_have_attribute("open", "")
    section.locator("summary").click()
    page.get_by_label("Run an A/B test by replies").check()
    page.get_by_label("Subject line and preheader").check()
    page.fill("input[name=ab-sample_percent]", "100")
    page.fill("input[name=ab-wait_hours]", "24")
    page.fill("input[name=ab-en-subject]", SUBJECT_B)
    page.fill("input[name=ab-de-subject]", SUBJECT_B)
    page.fill("#preview-subscriber", "sara.jones@example.com")
    expect(page.locator("#preview-subject")).to_have_text(SUBJECT_A)
    section.get_by_label("Variant B", exact=True).check()
    expect(page.locator("#preview-subject")).to_have_text(SUBJECT_B)
    shot(page, "abtest-01-editor")
    page.get_by_role("button", name="Save").click()
    expect(page.locator("h1")).to_have_text("A/B journey")
    campaign_url = page.url
    expect(page.locator("#ab-plan")).to_contain_text("now; the sample is the whole audience")

    page.locator("#launch").get_by_role("button", name="Launch").click()
    expect(page.locator("h1")).to_have_text(re.compile(r"^Send “A/B journey” to \d+ people now\?$"))
    expect(page.locator("#confirm-launch")).to_contain_text("the winner is recorded after 24 h")
    page.locator("[data-confirm=launch]").click()
    expect(page.locator(".message.success")).to_contain_text("Campaign launched.")

    # Each got the subject of their variant; one of B's (else one of A's) replies as a person.
    subjects = {}
    for address in AUDIENCE:
        try:
            open_newest_mail(page, address, subject_contains="A/B journey", timeout=15)
        except AssertionError:  # left the topics in an earlier journey
            continue
        subjects[address] = page.locator("h1").inner_text().strip()
    assert subjects
    assert set(subjects.values()) <= {SUBJECT_A, SUBJECT_B}
    got_b = [a for a, s in subjects.items() if s == SUBJECT_B]
    got_a = [a for a, s in subjects.items() if s == SUBJECT_A]
    replier, winner = (got_b[0], "B") if got_b else (got_a[0], "A")
    open_newest_mail(page, replier, subject_contains="A/B journey")
    reply_as_subscriber(page, "Winter is my favourite season, thank you!\n\n")

    page.goto(campaign_url)

    def counted() -> bool:
        page.reload()
        return f"{winner} would win." in page.locator("#ab-so-far").inner_text()

    wait_for(counted, what="the reply counted for its variant")
    shot(page, "abtest-02-running")
    page.locator("#ab-decide").click()
    expect(page.locator("h1")).to_have_text("Decide the A/B test of “A/B journey” now?")
    page.locator("[data-confirm=ab_decide]").click()
    result = page.locator("#ab-result")
    expect(result).to_contain_text(re.compile(rf"^{winner} won: 1 of \d replied vs 0 of \d\.$"))
    expect(page.locator("#ab-decided")).to_contain_text("Decided by hand by")
    page.get_by_role("link", name="Stats").click()
    expect(page.locator("#ab-result")).to_contain_text(f"{winner} won: 1 of")
    expect(page.locator("#as-sent-b")).to_be_visible()
    shot(page, "abtest-03-stats")
