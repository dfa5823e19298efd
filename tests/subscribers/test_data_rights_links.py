"""Forwarded preference links: they change preferences, but cannot erase or download; links expire.

The attack from the issue: a newsletter forwarded to a stranger carries the preference link.
Before, one POST to `preferences/<token>/erase/` erased the subscriber and
`preferences/<token>/data.json` handed out their data (IPs, user agents), and a three-year-old
link still worked.
"""

from __future__ import annotations

import io
import json
import zipfile
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.test import Client

from subscribers import tokens
from subscribers.models import ConsentEvent, Subscriber

from .conftest import link_from

pytestmark = pytest.mark.django_db

START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def path_of(url: str) -> str:
    return url.removeprefix("http://127.0.0.1:8000")


@pytest.fixture
def clock():
    with time_machine.travel(START, tick=False) as traveller:
        yield traveller


@pytest.fixture
def subscriber(make_subscriber):
    subscriber = make_subscriber("pat@example.org", name="Pat")
    ConsentEvent.objects.create(
        subscriber=subscriber,
        email_hash=subscriber.email_hash,
        kind="confirmed",
        source="link",
        ip_address="192.0.2.8",
    )
    return subscriber


def test_a_forwarded_link_cannot_erase_or_download(clock, subscriber, commit_hooks, mailoutbox):
    stranger = Client(enforce_csrf_checks=True)
    prefs = path_of(tokens.preferences_url(subscriber.pk))

    with commit_hooks():
        erase = stranger.post(prefs + "erase/")
    assert erase.status_code == 200
    assert Subscriber.objects.filter(pk=subscriber.pk).exists()
    assert "We have sent a link to" in erase.content.decode()
    old_download = stranger.get(prefs + "data.json")
    assert old_download.status_code == 302  # to the page: no data without the mailed link
    assert b"192.0.2.8" not in old_download.content
    with commit_hooks():
        export = stranger.post(prefs + "export/")
    assert export.status_code == 200
    assert export.get("Content-Disposition") is None

    # The links went to the subscriber's own address, not to whoever pressed the buttons.
    assert [mail.to for mail in mailoutbox] == [["pat@example.org"], ["pat@example.org"]]
    assert "erase" in mailoutbox[0].subject.lower() and "/erase/" in mailoutbox[0].body
    assert "/export/" in mailoutbox[1].body
    assert mailoutbox[0].extra_headers["Auto-Submitted"] == "auto-generated"


def test_the_preference_page_says_how_erasure_and_download_work(clock, client, subscriber):
    page = client.get(path_of(tokens.preferences_url(subscriber.pk))).content.decode()
    assert "the download link is sent to" in page
    assert "Erasure is confirmed through a link we mail to your address." in page
    erase_page = client.get(path_of(tokens.preferences_url(subscriber.pk)) + "erase/").content.decode()
    assert "erasure is confirmed by mail" in erase_page
    assert "works for 60 minutes" in erase_page


def test_mailed_data_links_are_short_lived(clock, client, subscriber, commit_hooks, mailoutbox):
    prefs = path_of(tokens.preferences_url(subscriber.pk))
    with commit_hooks():
        client.post(prefs + "erase/")
        client.post(prefs + "export/")
    erase_link, export_link = link_from(mailoutbox[0], "/erase/"), link_from(mailoutbox[1], "/export/")

    clock.shift(timedelta(minutes=59))
    assert client.get(erase_link).status_code == 200
    assert client.get(export_link).status_code == 200
    clock.shift(timedelta(minutes=2))
    for link in (erase_link, export_link):
        response = client.post(link)
        assert response.status_code == 410
        assert "This link has expired" in response.content.decode()
    assert Subscriber.objects.filter(pk=subscriber.pk).exists()


def test_data_links_are_not_mailed_again_and_again(clock, client, subscriber, commit_hooks, mailoutbox):
    prefs = path_of(tokens.preferences_url(subscriber.pk))
    with commit_hooks():
        for _ in range(5):
            again = client.post(prefs + "erase/")
    assert len(mailoutbox) == 1
    assert "We already sent you this link at" in again.content.decode()


def test_the_mailed_export_link_downloads_a_zip(clock, client, subscriber, commit_hooks, mailoutbox):
    prefs = path_of(tokens.preferences_url(subscriber.pk))
    with commit_hooks():
        client.post(prefs + "export/")
    link = link_from(mailoutbox[0], "/export/")
    page = client.get(link)
    assert "Download (ZIP)" in page.content.decode()  # a GET (link scanners) downloads nothing
    response = client.post(link)
    assert response["Content-Type"] == "application/zip"
    assert response["Cache-Control"] == "no-store"
    with zipfile.ZipFile(io.BytesIO(b"".join(response.streaming_content))) as archive:
        data = json.loads(archive.read("data.json"))
        assert "README.txt" in archive.namelist()
    assert data["consent_history"][0]["ip_address"] == "192.0.2.8"


def test_a_preference_link_expires_and_offers_a_new_one(
    settings, clock, client, subscriber, commit_hooks, mailoutbox
):
    settings.PREFERENCES_LINK_MAX_AGE = timedelta(days=180)
    prefs = path_of(tokens.preferences_url(subscriber.pk))
    clock.shift(timedelta(days=179))
    assert client.get(prefs).status_code == 200
    clock.shift(timedelta(days=2))
    for suffix in ("", "erase/", "data.json"):
        response = client.get(prefs + suffix)
        assert response.status_code == 410
    page = response.content.decode()
    assert "This link to your preferences has expired" in page
    assert "pat@example.org" not in page  # an old forwarded link reveals nothing
    assert client.post(prefs, {"frequency": "week"}).status_code == 410

    with commit_hooks():
        sent = client.post(prefs + "new-link/")
    assert sent.status_code == 200
    assert "a new link to its preferences is on its way" in sent.content.decode()
    [mail] = mailoutbox
    assert mail.to == ["pat@example.org"]
    fresh = link_from(mail, "/preferences/")
    assert client.get(fresh).status_code == 200


def test_an_expired_link_for_an_erased_subscriber_says_gone(clock, client, subscriber):
    prefs = path_of(tokens.preferences_url(subscriber.pk))
    subscriber.delete()
    clock.shift(timedelta(days=400))
    assert client.get(prefs).status_code == 410
    assert "no longer belongs to a subscription" in client.get(prefs).content.decode()
    assert client.post(prefs + "new-link/").status_code == 410


def test_unsubscribe_links_keep_working_for_years(clock, subscriber):
    url = path_of(tokens.unsubscribe_url(subscriber.pk, campaign_id=3))
    clock.shift(timedelta(days=3 * 365))
    strict = Client(enforce_csrf_checks=True)
    assert strict.get(url).status_code == 200
    response = strict.post(
        url, "List-Unsubscribe=One-Click", content_type="application/x-www-form-urlencoded"
    )
    assert response.status_code == 200
    subscriber.refresh_from_db()
    assert subscriber.status == Subscriber.Status.UNSUBSCRIBED


def test_an_old_unsubscribe_page_does_not_hand_out_a_fresh_preference_link(
    clock, client, subscriber, commit_hooks, mailoutbox
):
    url = path_of(tokens.unsubscribe_url(subscriber.pk))
    assert "/preferences/" in client.get(url).content.decode()
    clock.shift(timedelta(days=400))
    page = client.get(url).content.decode()
    assert "/preferences/" not in page
    assert "Send me a link to my preferences" in page
    with commit_hooks():
        client.post(url + "preferences-link/")
    assert mailoutbox[0].to == ["pat@example.org"]
    assert client.get(link_from(mailoutbox[0], "/preferences/")).status_code == 200


def test_erasure_through_the_mailed_link_is_recorded_from_the_preference_centre(
    clock, client, subscriber, commit_hooks, mailoutbox
):
    prefs = path_of(tokens.preferences_url(subscriber.pk))
    with commit_hooks():
        client.post(prefs + "erase/")
    client.post(link_from(mailoutbox[0], "/erase/"))
    assert list(ConsentEvent.objects.values_list("kind", "source")) == [("erased", "preference_centre")]
    # A second copy of the link (mail forwarded after all) finds nobody.
    assert client.post(link_from(mailoutbox[0], "/erase/")).status_code == 410
