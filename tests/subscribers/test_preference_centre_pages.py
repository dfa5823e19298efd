"""The preference and confirm pages: the visitor's language, readable frequency, leaving, long names."""

from __future__ import annotations

import json

import pytest

from subscribers import services, tokens
from subscribers.importing import ImportInvalid, parse
from subscribers.models import ConsentEvent, Subscriber

from .conftest import link_from

pytestmark = pytest.mark.django_db

LONG_NAME = "N" * 5000


def path_of(url: str) -> str:
    return url.removeprefix("http://127.0.0.1:8000")


def form(topics, **overrides):
    data = {
        "topics": [topics["news"].pk, topics["events"].pk],
        "frequency": "every",
        "paused_until": "",
        "format": "html",
        "name": "Ada",
        "language": "en",
    }
    data.update(overrides)
    return data


# --- Unsubscribe from the preference centre: its real source --------------------------------


def test_unsubscribe_from_the_preference_centre_is_recorded_as_such(client, make_subscriber):
    subscriber = make_subscriber()
    page = client.get(path_of(tokens.preferences_url(subscriber.pk))).content.decode()
    unsubscribe = page.split('href="')[1:]
    link = next(part.split('"')[0] for part in unsubscribe if "/unsubscribe/" in part)
    client.post(link, {"scope": "everything"})
    event = ConsentEvent.objects.get(kind=ConsentEvent.Kind.UNSUBSCRIBED)
    assert event.source == ConsentEvent.Source.PREFERENCE_CENTRE
    # The same link used by a mail client's one-click POST is still "one-click".
    subscriber2 = make_subscriber("b@example.org")
    url = path_of(tokens.unsubscribe_url(subscriber2.pk, via=tokens.VIA_PREFERENCE_CENTRE))
    client.post(url, "List-Unsubscribe=One-Click", content_type="application/x-www-form-urlencoded")
    assert ConsentEvent.objects.filter(subscriber=subscriber2).get().source == ConsentEvent.Source.ONE_CLICK


def test_no_unsubscribe_button_after_unsubscribing(client, make_subscriber):
    subscriber = make_subscriber()
    prefs = path_of(tokens.preferences_url(subscriber.pk))
    assert "Unsubscribe from everything" in client.get(prefs).content.decode()
    services.unsubscribe(subscriber=subscriber, source=ConsentEvent.Source.ONE_CLICK)
    page = client.get(prefs).content.decode()
    assert "Unsubscribe from everything" not in page
    assert "You are unsubscribed from everything." in page
    unsubscribe_page = client.get(path_of(tokens.unsubscribe_url(subscriber.pk))).content.decode()
    assert 'value="everything"' not in unsubscribe_page
    assert "is unsubscribed from everything" in unsubscribe_page


def test_leave_a_single_topic_from_a_mails_link(client, make_subscriber):
    subscriber = make_subscriber(topic_slugs=("news", "events", "jobs"))
    url = path_of(tokens.unsubscribe_url(subscriber.pk, ["news", "events"], campaign_id=9))
    page = client.get(url).content.decode()
    assert "Or leave a single topic" in page
    for slug in ("news", "events", "jobs"):
        assert f'name="topic" value="{slug}"' in page
    response = client.post(url, {"scope": "topic", "topic": "events"})
    assert "You have left these topics" in response.content.decode()
    assert dict(subscriber.subscriptions.values_list("topic__slug", "status")) == {
        "news": "active",
        "events": "unsubscribed",
        "jobs": "active",
    }
    event = ConsentEvent.objects.get()
    assert (event.topics, event.details) == (["events"], {"scope": "topics", "campaign_id": 9})
    # A topic the subscriber does not receive (or a made-up one) is refused.
    assert client.post(url, {"scope": "topic", "topic": "events"}).status_code == 400
    assert client.post(url, {"scope": "topic", "topic": "nope"}).status_code == 400


# --- The visitor's language -----------------------------------------------------------------


def test_the_language_switch_wins_on_the_preference_page(client, make_subscriber):
    subscriber = make_subscriber(language="en")
    prefs = path_of(tokens.preferences_url(subscriber.pk))
    client.post("/i18n/setlang/", {"language": "de", "next": prefs})
    response = client.get(prefs)
    assert response["Content-Language"] == "de"
    page = response.content.decode()
    assert 'lang="de"' in page
    assert "Ihre Einstellungen" in page
    assert "Deutsch als Sprache für meine E-Mails verwenden" in page
    subscriber.refresh_from_db()
    assert subscriber.language == "en"  # the page language is not the mail language


def test_make_german_my_language_for_mails(client, make_subscriber):
    subscriber = make_subscriber(language="en")
    token = tokens.make_token(tokens.PREFERENCES, subscriber.pk)
    client.post("/i18n/setlang/", {"language": "de", "next": "/"})
    response = client.post(f"/preferences/{token}/language/", {"language": "de"}, follow=True)
    assert "Von nun an erreichen Sie unsere E-Mails auf Deutsch." in response.content.decode()
    subscriber.refresh_from_db()
    assert subscriber.language == "de"
    event = ConsentEvent.objects.get()
    assert (event.kind, event.source, event.details) == (
        "preferences_changed",
        "preference_centre",
        {"language": ["en", "de"]},
    )
    assert "Deutsch als Sprache" not in response.content.decode()  # nothing left to offer
    assert client.post(f"/preferences/{token}/language/", {"language": "xx"}).status_code == 400
    for elsewhere in ("https://evil.example/", "//evil.example/", "/\\evil.example/"):
        response = client.post(f"/preferences/{token}/language/", {"language": "en", "next": elsewhere})
        assert response["Location"] == f"/preferences/{token}/"


def test_the_language_switch_wins_on_the_confirm_page(client, topics, consent, commit_hooks, mailoutbox):
    with commit_hooks():
        services.request_subscription(
            email="max@example.org", topics=[topics["news"]], source="form", consent=consent, language="en"
        )
    link = link_from(mailoutbox[0], "/confirm/")
    client.post("/i18n/setlang/", {"language": "de", "next": link})
    page = client.get(link)
    assert page["Content-Language"] == "de"
    assert "Ja, Anmeldung bestätigen" in page.content.decode()
    assert "Deutsch als Sprache für meine E-Mails verwenden" in page.content.decode()


# --- Frequency ----------------------------------------------------------------------------------


def test_frequency_reads_as_a_sentence_and_n_only_where_it_applies(client, make_subscriber, topics):
    subscriber = make_subscriber()
    prefs = path_of(tokens.preferences_url(subscriber.pk))
    client.post(prefs, form(topics, frequency="week", frequency_limit=2))
    page = client.get(prefs).content.decode()
    assert "At most 2 mails per week" in page
    assert "(N = " not in page and "At most N" not in page
    client.post(prefs, form(topics, frequency="month", frequency_limit=1))
    assert "At most 1 mail per month" in client.get(prefs).content.decode()

    # "Every issue" asks no number, and keeps the one chosen before for later.
    response = client.post(prefs, form(topics, frequency="every", frequency_limit=""))
    assert response.status_code == 302
    subscriber.refresh_from_db()
    assert (subscriber.frequency, subscriber.frequency_limit) == ("every", 1)
    # A limit without a number is a clear error.
    response = client.post(prefs, form(topics, frequency="week", frequency_limit=""))
    assert "Please say how many mails at most." in response.content.decode()


def test_frequency_sentence_in_german(client, make_subscriber, topics):
    subscriber = make_subscriber(language="de")
    Subscriber.objects.filter(pk=subscriber.pk).update(frequency="week", frequency_limit=3)
    page = client.get(path_of(tokens.preferences_url(subscriber.pk))).content.decode()
    assert "Höchstens 3 E-Mails pro Woche" in page


# --- Long names are refused with a clear error, never cut ---------------------------------------


def test_signup_refuses_a_5000_character_name(client, topics, consent, commit_hooks, mailoutbox):
    with commit_hooks():
        response = client.post(
            "/subscribe/",
            {
                "email": "long@example.org",
                "name": LONG_NAME,
                "language": "en",
                "topics": [topics["news"].pk],
                "consent_version": consent.version,
                "website": "",
            },
        )
    assert response.status_code == 200
    page = response.content.decode()
    assert "The name may have at most 200 characters; this one has 5000." in page
    assert 'maxlength="200"' not in page  # the browser must not cut it silently either
    assert not Subscriber.objects.exists()
    assert mailoutbox == []


def test_preference_centre_refuses_a_long_name_and_control_characters(client, make_subscriber, topics):
    subscriber = make_subscriber()
    prefs = path_of(tokens.preferences_url(subscriber.pk))
    response = client.post(prefs, form(topics, name=LONG_NAME))
    assert "The name may have at most 200 characters; this one has 5000." in response.content.decode()
    assert "maxlength" not in response.content.decode().split('name="name"')[1].split(">")[0]
    response = client.post(prefs, form(topics, name="Ada\r\nBcc: evil@example.org"))
    assert "must not contain line breaks" in response.content.decode()
    subscriber.refresh_from_db()
    assert subscriber.name == "Ada"


@pytest.mark.parametrize(
    ("name", "code"),
    [(LONG_NAME, "too_long"), ("Nul\x00byte", "control_characters"), ("A\nB", "control_characters")],
)
def test_api_refuses_bad_names(client, topics, consent, name, code):
    response = client.post(
        "/api/subscribe",
        json.dumps({"email": "a@example.org", "topics": ["news"], "name": name}),
        content_type="application/json",
    )
    assert response.status_code == 400
    assert response.json()["fields"]["name"]["code"] == code
    assert not Subscriber.objects.exists()


def test_import_refuses_a_long_name_with_its_line(topics):
    with pytest.raises(ImportInvalid) as info:
        parse(f"email,name\nok@example.org,Ok\nlong@example.org,{LONG_NAME}\n")
    [error] = info.value.errors
    assert error.line == 3
    assert "5000 characters; at most 200 are allowed" in error.message


def test_the_service_refuses_rather_than_cuts(topics, consent):
    from django.core.exceptions import ValidationError

    with pytest.raises(ValidationError):
        services.request_subscription(
            email="svc@example.org", topics=[topics["news"]], source="api", consent=consent, name=LONG_NAME
        )
    assert not Subscriber.objects.exists()


def test_the_confirmation_mail_lets_a_long_name_wrap(topics, consent, commit_hooks, mailoutbox):
    with commit_hooks():
        services.request_subscription(
            email="wide@example.org", topics=[topics["news"]], source="form", consent=consent, name="W" * 200
        )
    html = mailoutbox[0].alternatives[0][0]
    assert "overflow-wrap:anywhere" in html  # rendered in Chromium at phone width: tests/journeys
