"""Every subscriber page in Chromium, on PostgreSQL (pytest-django's live server): no sideways
scroll at 390 × 844 in German and English, the DE/EN switch on the preference and confirm
pages, the frequency number only where it applies, and mails with long names that fit a phone.
Screenshots land in test-artifacts/journeys/subscriber-pages-*.png."""

from __future__ import annotations

import os
import re
from datetime import timedelta

import pytest
import time_machine
from django.utils import timezone
from playwright.sync_api import expect

from campaigns.rendering import compile_campaign
from subscribers import mails, selectors, services, tokens
from subscribers.mailboxes import mailbox_hash
from subscribers.models import ConsentEvent, ConsentText, Subscriber, Subscription, Topic, email_hash
from tests.journeys.harness import shot

# Playwright's sync API keeps an event loop running in this thread; the ORM calls of the test
# itself are plain synchronous ones (the live server runs in its own thread).
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PHONE = {"width": 390, "height": 844}
# Everyday English words that no German page text (names, topics and addresses aside) contains.
ENGLISH_WORDS = re.compile(r"\b(the|your|you|we|and|this|with|from)\b", re.IGNORECASE)
LONG = "Maximiliane-Alexandra-Theodora-von-und-zu-Hohenzollern-Sigmaringen" * 3  # one 200-char word


def _fits(page) -> bool:
    return page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")


@pytest.fixture
def world(db):
    texts = {
        "de": "Ja, ich möchte den Newsletter erhalten.",
        "en": "Yes, I want to receive the newsletter.",
    }
    for language, text in texts.items():
        ConsentText.objects.get_or_create(version="v1", language=language, defaults={"text": text})
    topics = [
        Topic.objects.create(slug=slug, name=name)
        for slug, name in [("news", "Neuigkeiten und Berichte aus dem Verein"), ("events", "Veranstaltungen")]
    ]
    address = f"{LONG[:60]}@example.org"
    subscriber = Subscriber.objects.create(
        email=address,
        email_hash=email_hash(address),
        mailbox_hash=mailbox_hash(address),
        name=LONG[:200],
        language="en",
        status=Subscriber.Status.CONFIRMED,
        confirmed_at=timezone.now(),
    )
    Subscription.objects.create(subscriber=subscriber, topic=topics[0], status="active")
    Subscription.objects.create(
        subscriber=subscriber, topic=topics[1], status="pending", requested_at=timezone.now()
    )
    for index in range(12):
        services.record_event(
            kind=ConsentEvent.Kind.PREFERENCES_CHANGED,
            source=ConsentEvent.Source.PREFERENCE_CENTRE,
            subscriber=subscriber,
            topic_slugs=["news", "events"],
            ip=f"2001:db8:85a3::8a2e:370:{index:04x}",
            user_agent="Mozilla/5.0 (Linux; Android 14; Pixel 8 Pro) AppleWebKit/537.36 (KHTML, like Gecko) "
            "Chrome/126.0.0.0 Mobile Safari/537.36" * 2,
            consent=ConsentText.objects.get(version="v1", language="en"),
        )
    return subscriber


def _pages(subscriber) -> dict[str, str]:
    s = subscriber.pk
    mark = selectors.request_mark(timezone.now())
    with time_machine.travel(timezone.now() - timedelta(days=400)):
        old_preferences = tokens.make_token(tokens.PREFERENCES, s)
    return {
        "signup": "/subscribe/",
        "signup-done": "/subscribe/thanks/",
        "confirm": f"/confirm/{tokens.make_token(tokens.CONFIRM, s, ['events'], request_mark=mark)}/",
        "preferences": f"/preferences/{tokens.make_token(tokens.PREFERENCES, s)}/",
        "erase-request": f"/preferences/{tokens.make_token(tokens.PREFERENCES, s)}/erase/",
        "erase-link": f"/erase/{tokens.make_token(tokens.ERASE, s)}/",
        "export-link": f"/export/{tokens.make_token(tokens.EXPORT, s)}/",
        "unsubscribe": f"/unsubscribe/{tokens.make_token(tokens.UNSUBSCRIBE, s, ['news'])}/",
        "preferences-expired": f"/preferences/{old_preferences}/",
        "invalid-link": "/preferences/not-a-token/",
    }


@pytest.mark.parametrize("language", ["en", "de"])
def test_no_subscriber_page_scrolls_sideways_on_a_phone(browser, live_server, world, language):
    context = browser.new_context(base_url=live_server.url, locale="en-US", viewport=PHONE)
    context.add_cookies([{"name": "django_language", "value": language, "url": live_server.url}])
    page = context.new_page()
    try:
        wide = []
        for name, path in _pages(world).items():
            page.goto(path)
            expect(page.locator("html")).to_have_attribute("lang", language)
            shot(page, f"subscriber-pages-{name}-{language}")
            if language == "de":
                english = ENGLISH_WORDS.findall(page.inner_text("main"))
                assert not english, f"{name}: untranslated text in German ({english})"
            if not _fits(page):
                wide.append((name, page.evaluate("document.documentElement.scrollWidth")))
        assert wide == [], f"pages wider than 390 px: {wide}"
        # The wide consent history scrolls inside its own region instead.
        page.goto(_pages(world)["preferences"])
        region = page.locator(".table-scroll:has(table.consent-history)")
        expect(region).to_have_attribute("role", "region")
        assert region.evaluate("el => el.scrollWidth > el.clientWidth")
    finally:
        context.close()


def test_the_language_switch_works_on_the_preference_and_confirm_pages(browser, live_server, world):
    context = browser.new_context(
        base_url=live_server.url, locale="en-US", viewport={"width": 1280, "height": 900}
    )
    page = context.new_page()
    try:
        pages = _pages(world)
        page.goto(pages["preferences"])
        expect(page.get_by_role("heading", name="Your preferences")).to_be_visible()
        page.get_by_role("button", name="DE", exact=True).click()
        expect(page.locator("html")).to_have_attribute("lang", "de")
        expect(page.get_by_role("heading", name="Ihre Einstellungen")).to_be_visible()
        expect(page.get_by_role("button", name="DE", exact=True)).to_have_attribute("aria-current", "true")
        page.get_by_role("button", name="Deutsch als Sprache für meine E-Mails verwenden").click()
        expect(page.locator(".message.success")).to_contain_text("auf Deutsch")
        world.refresh_from_db()
        assert world.language == "de"

        page.goto(pages["confirm"])
        expect(page.get_by_role("button", name="Ja, Anmeldung bestätigen")).to_be_visible()
        page.get_by_role("button", name="EN", exact=True).click()
        expect(page.get_by_role("button", name="Yes, confirm my subscription")).to_be_visible()
        expect(page.get_by_role("button", name="Make English my language for mails")).to_be_visible()
    finally:
        context.close()


def test_the_number_of_mails_is_asked_only_for_a_limited_frequency(browser, live_server, world):
    context = browser.new_context(base_url=live_server.url, locale="en-US", viewport=PHONE)
    page = context.new_page()
    try:
        page.goto(_pages(world)["preferences"])
        how_many = page.get_by_label("How many mails at most")
        expect(how_many).to_be_hidden()
        page.get_by_label("How often").select_option("week")
        expect(how_many).to_be_visible()
        how_many.fill("2")
        page.get_by_role("button", name="Save preferences").click()
        expect(page.locator("table.subscriber-data")).to_contain_text("At most 2 mails per week")
        shot(page, "subscriber-pages-frequency-week")
    finally:
        context.close()


def test_mails_with_a_long_name_fit_a_phone(browser, world, mailoutbox):
    mails.send_confirmation_mail(subscriber=world, topics=list(Topic.objects.all()), request_mark=1)
    confirmation_html = mailoutbox[-1].alternatives[0][0]
    compiled = compile_campaign(
        mjml_body="<mj-section><mj-column><mj-text>Hallo {{ subscriber.name }},</mj-text>"
        "</mj-column></mj-section>",
        contact_name="Anna",
    )
    campaign_html = compiled.render(
        {
            "subscriber": {"name": world.name, "email": world.email},
            "preferences_url": "https://example.org/preferences/x/",
            "unsubscribe_url": "https://example.org/unsubscribe/x/",
        }
    ).html
    context = browser.new_context(viewport=PHONE)
    page = context.new_page()
    try:
        for name, html in (("confirmation", confirmation_html), ("campaign", campaign_html)):
            page.set_content(html)
            assert LONG[:40] in page.content()
            shot(page, f"subscriber-pages-mail-{name}")
            assert _fits(page), (
                f"the {name} mail is {page.evaluate('document.documentElement.scrollWidth')} px wide"
            )
    finally:
        context.close()
