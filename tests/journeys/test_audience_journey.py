"""The marketer's audience desk in Chromium (issue #13): create a topic, define a field, import a
CSV through the UI (one bad row reported by the dry run, then the progress bar at 100 %), find a
subscriber by search, open and edit their page, build a segment with its live count, launch a
campaign to it, export the segment. A Staff user without the Marketers group gets 403."""

from __future__ import annotations

import csv
import re

import pytest
from playwright.sync_api import expect

from tests.journeys.harness import login, logout, shot

pytestmark = pytest.mark.browser

# Not "… news": the other journeys pick the demo topic "News" by its label in the same live system.
TOPIC = "Workshop dates"
HEADER = "E-Mail;Name;Sprache;Einwilligung am;Woher\n"
GOOD_ROWS = (
    "kim.keller@example.net;Kim Keller;de;2025-05-01;Fair 2025\n"
    "lou.lang@example.net;Lou Lang;en;2025-05-01;Fair 2025\n"
)
BAD_ROW = "not-an-address;Broken;de;;\n"
BODY = """<mj-section><mj-column>
  <mj-text>Hello {{ subscriber.name|default:"there" }}, news from the workshop.</mj-text>
</mj-column></mj-section>"""


def upload(page, text: str, name: str) -> None:
    page.goto("/audience/import/")
    page.set_input_files(
        "input[name=file]", files=[{"name": name, "mimeType": "text/csv", "buffer": text.encode()}]
    )
    page.select_option("select[name=topic]", label=TOPIC)
    page.fill("input[name=source]", "Fair 2025, paper forms")
    page.get_by_role("button", name="Upload and map the columns").click()
    expect(page.locator("h1")).to_contain_text(f"into “{TOPIC}”")


def test_a_marketer_runs_the_audience_desk(page, live_system):
    login(page, "marketer")
    page.get_by_role("link", name="Audience", exact=True).click()
    expect(page.locator("h1")).to_have_text("Audience")

    # A topic, owned by the person who answers replies about it.
    page.get_by_role("link", name="Topics", exact=True).click()
    page.get_by_role("link", name="New topic").click()
    page.fill("input[name=name]", TOPIC)
    page.fill("textarea[name=description]", "What happens in the workshop, once a month.")
    page.select_option("select[name=owner]", label="Anna Berger")
    page.get_by_role("button", name="Save").click()
    expect(page.locator(".message.success")).to_contain_text("Topic saved.")
    expect(page.locator("h1")).to_contain_text(TOPIC)

    # A typed field with labels in both languages.
    page.get_by_role("link", name="Fields", exact=True).click()
    page.get_by_role("link", name="New field").click()
    page.fill("input[name=key]", "city")
    page.fill("input[name=label_en]", "City")
    page.fill("input[name=label_de]", "Stadt")
    page.select_option("select[name=kind]", "text")
    page.get_by_label("public").check()
    page.get_by_role("button", name="Save").click()
    expect(page.locator(".message.success")).to_contain_text("Field saved.")
    expect(page.locator("table")).to_contain_text("Stadt")

    # The import: the dry run reports the bad row by line; nothing is imported until it is fixed.
    upload(page, HEADER + GOOD_ROWS + BAD_ROW, "fair-2025.csv")
    expect(page.locator("select[name=column_0]")).to_have_value("email")  # guessed from "E-Mail"
    page.select_option("select[name=column_1]", "name")
    page.select_option("select[name=column_3]", "consent_date")
    page.select_option("select[name=column_4]", "consent_source")
    page.get_by_role("button", name="Dry run: check every row").click()
    errors = page.locator("table.import-errors tbody tr")
    expect(errors).to_have_count(1)
    expect(errors.first.locator("td").first).to_have_text("4")
    expect(page.locator("#import-check")).to_contain_text("1 bad row")
    shot(page, "audience-03-import-dry-run")

    upload(page, HEADER + GOOD_ROWS, "fair-2025-fixed.csv")
    for column, target in (
        ("column_1", "name"),
        ("column_3", "consent_date"),
        ("column_4", "consent_source"),
    ):
        page.select_option(f"select[name={column}]", target)
    page.get_by_role("button", name="Import", exact=True).click()
    bar = page.locator("#import-bar")
    expect(bar).to_have_attribute("aria-valuenow", "100", timeout=60_000)
    expect(page.locator("#import-report")).to_contain_text("imported with prior consent", timeout=30_000)
    expect(page.locator("#import-report .stat").first).to_contain_text("2")
    shot(page, "audience-04-import-done")

    # Find a subscriber by search, open their page, set the field; the change names who made it.
    page.get_by_role("link", name="Show the topic's subscribers").click()
    expect(page.locator("#audience-total")).to_have_text("2 subscribers")
    page.get_by_role("link", name="Subscribers", exact=True).click()
    page.fill("#filter-form input[name=q]", "kim.keller")
    page.get_by_role("button", name="Show").click()
    expect(page.locator("#audience-total")).to_have_text("1 subscriber")
    shot(page, "audience-01-list")
    page.get_by_role("link", name="kim.keller@example.net").click()
    expect(page.locator("#h-consent + p + div")).to_contain_text("Fair 2025")
    page.fill("input[name=attr_city]", "Kiel")
    page.get_by_role("button", name="Save").click()
    expect(page.locator(".message.success")).to_have_text("Saved.")
    expect(page.locator("#h-changes + div")).to_contain_text("attributes.city")
    expect(page.locator("#h-changes + div")).to_contain_text("Mara")
    shot(page, "audience-02-subscriber")

    # A segment: the topic's subscribers in Kiel; the editor counts while the filter changes.
    page.get_by_role("link", name="Segments", exact=True).click()
    page.get_by_role("link", name="New segment").click()
    page.fill("#segment-form input[name=name]", "Workshop, Kiel")
    page.select_option("#segment-form select[name=topic]", label=TOPIC)
    expect(page.locator("#segment-count")).to_have_text("2 subscribers")
    page.fill("#segment-form input[name=attr_city]", "Kiel")
    expect(page.locator("#segment-count")).to_have_text("1 subscriber")
    shot(page, "audience-05-segment-editor")
    page.get_by_role("button", name="Save segment").click()
    expect(page.locator("#segment-total")).to_have_text("1 subscriber")

    # Export the segment: a CSV with the consent proof.
    with page.expect_download() as download_info:
        page.get_by_role("link", name="Export as CSV").click()
    with open(download_info.value.path(), encoding="utf-8") as exported:
        rows = list(csv.DictReader(exported))
    assert [row["email"] for row in rows] == ["kim.keller@example.net"]
    assert rows[0]["prior_consent_source"] == "Fair 2025" and rows[0]["attribute_city"] == "Kiel"

    # A campaign to the segment: the audience page names it and counts one recipient.
    page.get_by_role("link", name="New campaign to this segment").click()
    page.fill("input[name=name]", "Workshop in Kiel")
    page.get_by_label(TOPIC).check()
    page.fill("input[name=subject]", "Workshop news for Kiel")
    page.fill("textarea[name=mjml_body]", BODY)
    page.select_option("select[name=contact]", label="Anna Berger")
    expect(page.locator("select[name=segment]")).to_have_value(re.compile(r"\d+"))
    page.get_by_role("button", name="Save").click()
    expect(page.locator("#audience-segment")).to_contain_text("Workshop, Kiel")
    expect(page.locator("[data-audience=recipients]")).to_have_text("1")
    page.locator("#launch").get_by_role("button", name="Launch").click()
    expect(page.locator("h1")).to_have_text("Send “Workshop in Kiel” to 1 person now?")  # the confirmation
    page.locator("[data-confirm=launch]").click()
    expect(page.locator(".message.success")).to_contain_text("Campaign launched.")
    expect(page.locator("[data-stat=sent]")).to_have_text("1", timeout=45_000)

    # The topic's page: counts and the audience per week, a chart with its table.
    page.goto("/audience/topics/")
    page.get_by_role("link", name=TOPIC).click()
    expect(page.locator(".stat").first).to_contain_text("2")
    expect(page.locator("figure.chart table.chart-data")).to_have_count(1)
    shot(page, "audience-06-topic")
    logout(page)


def test_staff_without_the_marketers_group_get_403(page, live_system):
    login(page, "anna")
    response = page.goto("/audience/")
    assert response.status == 403
    expect(page.get_by_role("link", name="Audience", exact=True)).to_have_count(0)
