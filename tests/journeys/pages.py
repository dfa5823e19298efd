"""Every page of the three journeys, in one list: what the every-page check visits.

To check a new page, add a `Page` here: a unique name (the screenshot's file name), the journey,
how to reach it (a path, or a function of the prepared data: see every_page_data.py), who is
logged in, the status it answers with, and, for a page that only a form leads to, what a person
does first (`act`). The check (test_every_page.py) visits each page in German and English, at
desktop and phone width, and fails on sideways scroll, axe violations (serious, critical),
duplicate ids and English left in the German pages.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

Data = dict[str, Any]  # what every_page_data.prepare printed, with "run" set to this run's links


@dataclass(frozen=True)
class Page:
    name: str
    journey: str
    url: str | Callable[[Data], str]
    user: str | None = None  # a demo account (seed_demo); None: nobody logged in
    status: int = 200
    act: Callable[[Any, Data], None] | None = None  # (playwright page, data): a person's step first

    def address(self, data: Data) -> str:
        return self.url(data) if callable(self.url) else self.url


def _submit(selector: str) -> Callable[[Any, Data], None]:
    def act(page, data: Data) -> None:
        with page.expect_navigation():
            page.click(selector)

    return act


def _preview_for_sara(page, data: Data) -> None:
    body = page.locator("textarea[name=mjml_body]")
    if not body.input_value().strip():
        body.fill(
            "<mj-section><mj-column><mj-text>Hello {{ subscriber.name }}!</mj-text></mj-column></mj-section>"
        )
    page.fill("#preview-subscriber", "sara.jones@example.com")
    page.wait_for_function("document.querySelector('#preview-text').textContent.includes('Sara')")


def _run(key: str) -> Callable[[Data], str]:
    return lambda data: data["run"][key]


PAGES: list[Page] = [
    # Subscriber
    Page("subscriber-signup", "subscriber", "/subscribe/"),
    Page("subscriber-signup-done", "subscriber", "/subscribe/thanks/"),
    Page("subscriber-confirm", "subscriber", _run("confirm")),
    Page(
        "subscriber-confirmed", "subscriber", _run("confirm"), act=_submit("form button[type=submit].primary")
    ),
    Page("subscriber-preferences", "subscriber", _run("preferences")),
    Page("subscriber-unsubscribe", "subscriber", _run("unsubscribe")),
    Page(
        "subscriber-unsubscribed",
        "subscriber",
        _run("unsubscribe"),
        act=_submit("button[name=scope][value=topics]"),
    ),
    Page("subscriber-erase-confirm", "subscriber", lambda d: d["run"]["preferences"] + "erase/"),
    Page(
        "subscriber-erased",
        "subscriber",
        lambda d: d["run"]["preferences"] + "erase/",
        act=_submit("form button[type=submit].danger"),
    ),
    Page("subscriber-link-expired", "subscriber", _run("expired"), status=410),
    Page(
        "subscriber-new-link-sent",
        "subscriber",
        _run("expired"),
        status=410,
        act=_submit("form button[type=submit].primary"),
    ),
    Page("subscriber-link-gone", "subscriber", _run("gone"), status=410),
    Page("subscriber-link-invalid", "subscriber", "/confirm/not-a-real-token/", status=400),
    # Dialogue (issue 15): the public archive and the subscriber's own signed pages
    Page("dialogue-archive-index", "subscriber", "/archive/"),
    Page("dialogue-archive", "subscriber", lambda d: d["dialogue"]["archive"]),
    Page("dialogue-issue", "subscriber", lambda d: d["dialogue"]["issue"]),
    Page("dialogue-web-view", "subscriber", _run("dialogue_web")),
    Page("dialogue-talk", "subscriber", _run("dialogue_talk")),
    Page("dialogue-conversation", "subscriber", _run("dialogue_conversation")),
    Page("dialogue-letter", "subscriber", _run("dialogue_letter")),
    # Marketer
    Page("marketer-login", "marketer", "/accounts/login/"),
    Page("marketer-campaigns", "marketer", "/campaigns/", user="marketer"),
    Page("marketer-campaign-start", "marketer", "/campaigns/start/", user="marketer"),
    Page("marketer-images", "marketer", "/campaigns/images/", user="marketer"),
    Page("marketer-editor-new", "marketer", "/campaigns/new/", user="marketer", act=_preview_for_sara),
    Page(
        "marketer-editor-edit",
        "marketer",
        lambda d: f"/campaigns/{d['draft_campaign']}/edit/",
        user="marketer",
        act=_preview_for_sara,
    ),
    Page(
        "marketer-campaign-draft", "marketer", lambda d: f"/campaigns/{d['draft_campaign']}/", user="marketer"
    ),
    Page(
        "marketer-campaign-progress",
        "marketer",
        lambda d: f"/campaigns/{d['sent_campaign']}/",
        user="marketer",
    ),
    Page(
        "marketer-dialogue-report",
        "marketer",
        lambda d: f"/dialogue/campaigns/{d['sent_campaign']}/report/",
        user="marketer",
    ),
    Page("marketer-reply-rates", "marketer", "/dialogue/reply-rates/", user="marketer"),
    Page(
        "marketer-campaign-stats",
        "marketer",
        lambda d: f"/campaigns/{d['sent_campaign']}/stats/",
        user="marketer",
    ),
    Page("marketer-opens-inbox-403", "errors", "/inbox/", user="marketer", status=403),
    # The audience desk (issue 13)
    Page("audience-list", "marketer", "/audience/", user="marketer"),
    Page(
        "audience-subscriber",
        "marketer",
        lambda d: f"/audience/subscribers/{d['audience_subscriber']}/",
        user="marketer",
    ),
    Page("audience-topics", "marketer", "/audience/topics/", user="marketer"),
    Page("audience-topic-new", "marketer", "/audience/topics/new/", user="marketer"),
    Page("audience-fields", "marketer", "/audience/fields/", user="marketer"),
    Page("audience-field-new", "marketer", "/audience/fields/new/", user="marketer"),
    Page("audience-segments", "marketer", "/audience/segments/", user="marketer"),
    Page("audience-segment-new", "marketer", "/audience/segments/new/", user="marketer"),
    Page("audience-import", "marketer", "/audience/import/", user="marketer"),
    # Managers: API keys and webhooks
    Page("manager-integrations", "manager", "/integrations/", user="manager"),
    # Staff
    Page("staff-inbox", "staff", "/inbox/?queue=all", user="anna"),
    Page("staff-inbox-mine", "staff", "/inbox/", user="anna"),
    Page("staff-conversation", "staff", lambda d: f"/inbox/conversations/{d['conversation']}/", user="anna"),
    Page(
        "staff-show-original",
        "staff",
        lambda d: f"/inbox/messages/{d['html_message']}/original/",
        user="anna",
    ),
    Page("staff-inbound-automatic", "staff", "/inbox/inbound/?show=automatic", user="anna"),
    Page("staff-inbound-failed", "staff", "/inbox/inbound/?show=failed", user="anna"),
    Page("staff-inbound-detail", "staff", lambda d: f"/inbox/inbound/{d['automatic_inbound']}/", user="anna"),
    Page("staff-inbound-refused", "staff", "/inbox/inbound/?show=refused", user="anna"),
    Page(
        "staff-write-to-subscriber",
        "staff",
        lambda d: f"/inbox/subscribers/{d['audience_subscriber']}/write/",
        user="anna",
    ),
    Page("manager-routing-rules", "staff", "/inbox/rules/", user="manager"),
    Page("manager-routing-rule-new", "staff", "/inbox/rules/new/", user="manager"),
    Page("manager-teams", "staff", "/inbox/teams/", user="manager"),
    Page("staff-restricted-conversations", "staff", "/dialogue/restricted/", user="manager"),
    Page("staff-two-factor", "staff", "/accounts/two-factor/", user="ben"),
    Page("manager-suppressions", "staff", "/subscribers/suppressions/", user="manager"),
    Page("staff-two-factor-set-up", "staff", "/accounts/two-factor/set-up/", user="ben"),
    # The local mailbox (development)
    Page("dev-mailbox", "dev", "/dev/mailbox/"),
    Page("dev-mailbox-mail", "dev", lambda d: f"/dev/mailbox/{d['mail']}/"),
    Page("dev-mailbox-reply", "dev", lambda d: f"/dev/mailbox/{d['mail']}/reply/"),
    # Error pages as visitors see them outside DEBUG (the live system runs with DEBUG on)
    Page("error-400", "errors", "/dev/errors/400/", status=400),
    Page("error-403", "errors", "/dev/errors/403/", status=403),
    Page("error-404", "errors", "/dev/errors/404/", status=404),
    Page("error-500", "errors", "/dev/errors/500/", status=500),
]

# Words that are the same in German and English, or names: never "untranslated".
SAME_IN_GERMAN = {
    "Rundbrief", "Admin", "DE", "EN", "E-Mail", "HTML", "JSON", "MJML", "SMTP", "CSV", "Newsletter",
    "Name", "Status", "Team", "Link", "Links", "Tab", "Login", "Format", "Text", "ID", "Bounces",
}  # fmt: skip
