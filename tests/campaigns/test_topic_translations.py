"""Topic names and descriptions per language (Topic.translations): shown in the visitor's or
subscriber's language on the signup page, the preference centre, the confirmation mail, a
campaign's List-Id and the API; an empty one falls back to the other language."""

from __future__ import annotations

from importlib import import_module

import pytest
from django.contrib.auth.models import Group, Permission, User
from django.urls import reverse

from api import keys
from api.models import Scope
from campaigns import services as campaign_services
from campaigns.messages import build_factory
from subscribers import services, tokens
from subscribers.models import ConsentEvent, ConsentText, Topic

from .conftest import make_subscriber
from .test_versions import ENGLISH_BODY, recipient

pytestmark = pytest.mark.django_db


@pytest.fixture
def events(owner) -> Topic:
    return Topic.objects.create(
        slug="events",
        name="Events",
        description="Dates and places",
        owner=owner,
        translations={"de": {"name": "Termine", "description": "Wann und wo"}},
    )


@pytest.fixture
def consent():
    texts = import_module("subscribers.migrations.0003_initial_consent_texts").TEXTS
    for language, text in texts.items():
        ConsentText.objects.get_or_create(version="2026-11-1", language=language, defaults={"text": text})
    return ConsentText.objects.get(version="2026-11-1", language="en")


def test_the_name_in_a_language_falls_back_when_empty(events):
    assert (events.name_in("de"), events.name_in("en")) == ("Termine", "Events")
    assert events.description_in("de") == "Wann und wo"
    events.translations = {"de": {"name": "", "description": "Nur deutsch"}}
    events.description = ""
    assert events.name_in("de") == "Events"  # empty German name: the English one
    assert events.description_in("en") == "Nur deutsch"  # empty English description: the German one


def test_the_signup_page_shows_topics_in_the_visitors_language(client, events, consent):
    german = client.get(reverse("subscribers:signup"), HTTP_ACCEPT_LANGUAGE="de").content.decode()
    assert "Termine" in german and "Wann und wo" in german and "Dates and places" not in german
    english = client.get(reverse("subscribers:signup"), HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "Events" in english and "Dates and places" in english and "Termine" not in english


def test_confirmation_mail_and_preference_centre_name_topics_in_the_subscribers_language(
    client, events, consent, mailoutbox, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        services.request_subscription(
            email="lena@example.org",
            topics=[events],
            source=ConsentEvent.Source.FORM,
            consent=consent,
            language="de",
        )
    mail = mailoutbox[-1]
    assert "Termine" in mail.body and "Events" not in mail.body
    subscriber = events.subscriptions.get().subscriber
    page = client.get(tokens.preferences_url(subscriber.pk), HTTP_ACCEPT_LANGUAGE="de").content.decode()
    assert "Termine" in page


def test_a_campaigns_list_id_names_the_topic_in_the_recipients_language(events, marketer):
    campaign = campaign_services.save_campaign(
        name="Autumn", topics=[events], subject="Autumn", mjml_body=ENGLISH_BODY, user=marketer
    )
    factory = build_factory(campaign)
    assert factory.build(recipient("de")).headers["List-Id"] == "Termine <events.rundbrief.localhost>"
    assert factory.build(recipient("en")).headers["List-Id"] == "Events <events.rundbrief.localhost>"


def test_the_api_gives_the_topic_in_every_language(client, events):
    manager = User.objects.create_user("clara", first_name="Clara")
    manager.groups.add(Group.objects.get_or_create(name="Managers")[0])
    made = keys.create_key(name="k", scopes=tuple(Scope.values), created_by=manager)
    response = client.get("/api/v1/topics", HTTP_AUTHORIZATION=f"Bearer {made.secret}")
    (item,) = [t for t in response.json()["items"] if t["slug"] == "events"]
    assert item["name"] == "Events"
    assert item["translations"] == {
        "de": {"name": "Termine", "description": "Wann und wo"},
        "en": {"name": "Events", "description": "Dates and places"},
    }


def test_the_audience_desk_edits_the_translations(client, events):
    user = User.objects.create_user("mara")
    group, _ = Group.objects.get_or_create(name="Marketers")
    group.permissions.add(*Permission.objects.all())
    user.groups.add(group)
    client.force_login(user)
    page = client.get(reverse("audience:topic_edit", args=[events.pk])).content.decode()
    assert "Name in German" in page and 'value="Termine"' in page
    client.post(
        reverse("audience:topic_edit", args=[events.pk]),
        {
            "name": "Events",
            "description": "Dates",
            "name_de": "Veranstaltungen",
            "description_de": "",
            "owner": "",
        },
    )
    events.refresh_from_db()
    assert events.translations == {"de": {"name": "Veranstaltungen", "description": ""}}
    assert events.description_in("de") == "Dates"
    make_subscriber("x@example.org", events)  # still a topic like any other
