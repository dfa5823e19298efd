"""The preference centre: change everything, see everything, download it, erase it."""

from __future__ import annotations

import io
import json
import zipfile
from datetime import timedelta

import pytest
from django.utils import timezone

from campaigns.models import Campaign, Delivery
from subscribers import services, tokens
from subscribers.models import ConsentEvent, Subscriber, Subscription, Suppression, email_hash

from .conftest import link_from

pytestmark = pytest.mark.django_db


def path_of(url: str) -> str:
    return url.removeprefix("http://127.0.0.1:8000")


@pytest.fixture
def subscriber(make_subscriber):
    subscriber = make_subscriber("pat@example.org", name="Pat", topic_slugs=("news", "events"))
    services.record_event(
        kind=ConsentEvent.Kind.CONFIRMED,
        source=ConsentEvent.Source.LINK,
        subscriber=subscriber,
        ip="192.0.2.8",
    )
    return subscriber


@pytest.fixture
def prefs(subscriber) -> str:
    return path_of(tokens.preferences_url(subscriber.pk))


def form(topic_map, **overrides):
    data = {
        "topics": [topic_map["news"].pk, topic_map["events"].pk],
        "frequency": "every",
        "frequency_limit": 1,
        "paused_until": "",
        "format": "html",
        "name": "Pat",
        "language": "en",
    }
    data.update(overrides)
    return data


def test_page_shows_all_data_and_the_consent_history(client, subscriber, prefs):
    response = client.get(prefs)
    assert response.status_code == 200
    page = response.content.decode()
    for expected in [
        "pat@example.org",
        "Pat",
        "News",
        "Events",
        "Opt-in confirmed",
        "data.json",
    ]:
        assert expected in page
    assert response["Content-Language"] == "en"


def test_a_forwarded_link_shows_no_network_address_or_browser(client, subscriber, prefs):
    """Whoever holds the link (a forwarded newsletter) sees the history, not where each consent came from;
    that proof is in the download, whose link goes only to the subscriber's address."""
    services.record_event(
        kind=ConsentEvent.Kind.PREFERENCES_CHANGED,
        source=ConsentEvent.Source.PREFERENCE_CENTRE,
        subscriber=subscriber,
        ip="198.51.100.77",
        user_agent="SecretBrowser/9.1",
    )
    page = client.get(prefs).content.decode()
    assert "Opt-in confirmed" in page
    for hidden in ("192.0.2.8", "198.51.100.77", "SecretBrowser"):
        assert hidden not in page


@pytest.mark.usefixtures("frozen_clock")  # compares values signed or dated at two moments
def test_change_frequency_pause_format_name(client, subscriber, prefs, topics):
    until = (timezone.localdate() + timedelta(days=30)).isoformat()
    response = client.post(
        prefs,
        form(topics, frequency="week", frequency_limit=2, paused_until=until, format="text", name="Patricia"),
        REMOTE_ADDR="192.0.2.9",
    )
    assert response.status_code == 302
    subscriber.refresh_from_db()
    assert (subscriber.frequency, subscriber.frequency_limit, subscriber.format, subscriber.name) == (
        "week",
        2,
        "text",
        "Patricia",
    )
    assert subscriber.paused_until.isoformat() == until
    event = ConsentEvent.objects.get(kind=ConsentEvent.Kind.PREFERENCES_CHANGED)
    assert event.ip_address == "192.0.2.9"
    assert event.details["frequency"] == ["every", "week"]
    assert event.details["paused_until"] == [None, until]
    assert "Patricia" not in json.dumps(event.details)
    assert "Your preferences are saved." in client.get(prefs).content.decode()


def test_saving_without_changes_records_nothing(client, subscriber, prefs, topics):
    client.post(prefs, form(topics))
    assert not ConsentEvent.objects.filter(kind=ConsentEvent.Kind.PREFERENCES_CHANGED).exists()


@pytest.mark.usefixtures("frozen_clock")  # compares values signed or dated at two moments
def test_pause_in_the_past_and_bad_numbers_are_refused(client, subscriber, prefs, topics):
    yesterday = (timezone.localdate() - timedelta(days=1)).isoformat()
    response = client.post(prefs, form(topics, paused_until=yesterday, frequency_limit=0))
    assert response.status_code == 200
    page = response.content.decode()
    assert "Please choose a date in the future" in page
    assert "greater than or equal to 1" in page
    subscriber.refresh_from_db()
    assert subscriber.paused_until is None


def test_leaving_a_topic_is_immediate_and_adding_one_needs_confirmation(
    client, subscriber, prefs, topics, commit_hooks, mailoutbox
):
    with commit_hooks():
        client.post(prefs, form(topics, topics=[topics["events"].pk, topics["jobs"].pk]))
    statuses = dict(subscriber.subscriptions.values_list("topic__slug", "status"))
    assert statuses == {"news": "unsubscribed", "events": "active", "jobs": "pending"}
    assert len(mailoutbox) == 1
    assert "Jobs" in mailoutbox[0].body
    event = ConsentEvent.objects.get(kind=ConsentEvent.Kind.PREFERENCES_CHANGED)
    assert event.details["topics_left"] == ["news"]
    assert event.details["topics_awaiting_confirmation"] == ["jobs"]
    client.post(link_from(mailoutbox[0], "/confirm/"))
    assert subscriber.subscriptions.get(topic__slug="jobs").status == Subscription.Status.ACTIVE


def test_language_change_renders_the_page_in_the_new_language(client, subscriber, prefs, topics):
    client.post(prefs, form(topics, language="de"))
    response = client.get(prefs, HTTP_ACCEPT_LANGUAGE="en")
    assert response["Content-Language"] == "de"


def test_json_download_contains_everything(client, subscriber, prefs, commit_hooks, mailoutbox):
    # The download is a ZIP behind a short-lived link mailed to the address; data.json is in it.
    with commit_hooks():
        client.post(prefs + "export/")
    response = client.post(link_from(mailoutbox[-1], "/export/"))
    assert response.status_code == 200
    assert response["Content-Disposition"].startswith("attachment;")
    with zipfile.ZipFile(io.BytesIO(b"".join(response.streaming_content))) as archive:
        data = json.loads(archive.read("data.json"))
    assert data["subscriber"]["email"] == "pat@example.org"
    assert data["subscriber"]["name"] == "Pat"
    assert {s["topic"] for s in data["subscriptions"]} == {"news", "events"}
    assert data["consent_history"][0]["ip_address"] == "192.0.2.8"
    assert data["on_suppression_list"] is False


def test_erase_leaves_only_the_hash(
    client, subscriber, prefs, topics, make_subscriber, commit_hooks, mailoutbox
):
    other = make_subscriber("other@example.org")
    campaign = Campaign.objects.create(name="Autumn", subject="Autumn news", mjml_body="<mjml></mjml>")
    delivery = Delivery.objects.create(
        campaign=campaign, subscriber=subscriber, reply_token="tok-1", message_id="<m1@example.org>"
    )
    address_hash = email_hash("pat@example.org")

    # The preference page only mails a fresh erasure link to the address; that link's page erases.
    with commit_hooks():
        client.post(prefs + "erase/")
    erase_link = link_from(mailoutbox[-1], "/erase/")
    confirm_page = client.get(erase_link)
    assert "Yes, erase everything" in confirm_page.content.decode()
    assert Subscriber.objects.filter(pk=subscriber.pk).exists()  # GET never erases

    response = client.post(erase_link, REMOTE_ADDR="192.0.2.10", HTTP_USER_AGENT="Browser/1")
    assert response.status_code == 200
    assert "Your data is erased" in response.content.decode()
    assert not Subscriber.objects.filter(pk=subscriber.pk).exists()
    assert not Subscription.objects.filter(subscriber_id=subscriber.pk).exists()
    suppression = Suppression.objects.get(email_hash=address_hash)
    assert (suppression.reason, suppression.details) == ("erased", {})
    remaining = ConsentEvent.objects.filter(email_hash=address_hash)
    assert [
        (e.kind, e.subscriber_id, e.ip_address, e.user_agent, e.topics, e.details) for e in remaining
    ] == [("erased", None, None, "", [], {})]
    delivery.refresh_from_db()
    assert delivery.subscriber_id is None  # campaign stats stay true, without the person
    assert Subscriber.objects.filter(pk=other.pk).exists()

    # The preference link is dead now, and says so.
    assert client.get(prefs).status_code == 410
    assert client.get(prefs + "data.json").status_code == 410


def test_erasure_signal_lets_other_apps_delete_their_data(subscriber):
    from subscribers.signals import subscriber_erasing

    seen = []

    def receiver(sender, subscriber, email_hash, **kwargs):
        seen.append((subscriber.email, email_hash))

    subscriber_erasing.connect(receiver)
    try:
        services.erase(subscriber=subscriber, source=ConsentEvent.Source.ADMIN)
    finally:
        subscriber_erasing.disconnect(receiver)
    assert seen == [("pat@example.org", email_hash("pat@example.org"))]


@pytest.mark.parametrize("suffix", ["", "data.json", "erase/"])
def test_tampered_preference_links(client, subscriber, prefs, suffix):
    response = client.get(prefs[:-6] + "xxxxx/" + suffix)
    assert response.status_code == 400
    assert (
        client.get(f"/preferences/{tokens.make_token(tokens.CONFIRM, subscriber.pk)}/{suffix}").status_code
        == 400
    )


def test_private_topics_are_offered_only_to_their_subscribers(client, subscriber, prefs, topics):
    topics["events"].is_public = False
    topics["events"].save()
    topics["jobs"].is_public = False
    topics["jobs"].save()
    page = client.get(prefs).content.decode()
    assert f'value="{topics["events"].pk}"' in page  # subscribed: still offered, so it can be left
    assert f'value="{topics["jobs"].pk}"' not in page
