"""The unsubscribe URL: GET never unsubscribes; RFC 8058 one-click POST does, without cookies or CSRF."""

from __future__ import annotations

import pytest
from django.test import Client

from subscribers import tokens
from subscribers.models import ConsentEvent, Subscriber, Suppression

pytestmark = pytest.mark.django_db


def path_of(url: str) -> str:
    return url.removeprefix("http://127.0.0.1:8000")


@pytest.fixture
def strict_client() -> Client:
    """Like a mail provider's one-click POST: no session, no CSRF cookie, CSRF checks on."""
    return Client(enforce_csrf_checks=True)


def statuses(subscriber):
    return dict(subscriber.subscriptions.values_list("topic__slug", "status"))


@pytest.mark.usefixtures("frozen_clock")  # compares values signed or dated at two moments
def test_get_shows_choices_and_never_unsubscribes(client, make_subscriber):
    subscriber = make_subscriber()
    url = path_of(tokens.unsubscribe_url(subscriber.pk, ["news"], campaign_id=5))
    for _ in range(3):  # link scanners fetch it again and again
        response = client.get(url)
        assert response.status_code == 200
    page = response.content.decode()
    assert 'value="topics"' in page and 'value="everything"' in page
    assert path_of(tokens.preferences_url(subscriber.pk)) in page
    subscriber.refresh_from_db()
    assert subscriber.status == Subscriber.Status.CONFIRMED
    assert set(statuses(subscriber).values()) == {"active"}
    assert not ConsentEvent.objects.exists()


def test_one_click_post_from_everything(strict_client, make_subscriber):
    subscriber = make_subscriber()
    url = path_of(tokens.unsubscribe_url(subscriber.pk, campaign_id=42))
    response = strict_client.post(
        url,
        "List-Unsubscribe=One-Click",
        content_type="application/x-www-form-urlencoded",
        REMOTE_ADDR="192.0.2.77",
    )
    assert response.status_code == 200
    assert response.content == b"Unsubscribed.\n"
    assert "Location" not in response
    assert not response.cookies
    subscriber.refresh_from_db()
    assert subscriber.status == Subscriber.Status.UNSUBSCRIBED
    assert Suppression.objects.filter(email_hash=subscriber.email_hash, reason="unsubscribed").exists()
    event = ConsentEvent.objects.get()
    assert (event.kind, event.source, event.ip_address) == ("unsubscribed", "one_click", "192.0.2.77")
    assert event.details == {"scope": "everything", "campaign_id": 42}


def test_one_click_post_with_topics_leaves_only_those(strict_client, make_subscriber):
    subscriber = make_subscriber()
    url = path_of(tokens.unsubscribe_url(subscriber.pk, ["news"]))
    response = strict_client.post(url, {"List-Unsubscribe": "One-Click"})  # multipart works too
    assert response.status_code == 200
    assert statuses(subscriber) == {"news": "unsubscribed", "events": "active"}


def test_one_click_body_without_form_content_type(strict_client, make_subscriber):
    subscriber = make_subscriber()
    url = path_of(tokens.unsubscribe_url(subscriber.pk))
    response = strict_client.post(url, b"List-Unsubscribe=One-Click", content_type="text/plain")
    assert response.status_code == 200
    subscriber.refresh_from_db()
    assert subscriber.status == Subscriber.Status.UNSUBSCRIBED


def test_one_click_is_idempotent_and_survives_erasure(strict_client, make_subscriber):
    subscriber = make_subscriber()
    url = path_of(tokens.unsubscribe_url(subscriber.pk))
    for _ in range(2):
        assert strict_client.post(url, {"List-Unsubscribe": "One-Click"}).status_code == 200
    assert ConsentEvent.objects.count() == 1
    subscriber.delete()
    assert strict_client.post(url, {"List-Unsubscribe": "One-Click"}).status_code == 200


def test_one_click_with_a_tampered_token_is_refused(strict_client, make_subscriber):
    subscriber = make_subscriber()
    url = path_of(tokens.unsubscribe_url(subscriber.pk))
    response = strict_client.post(url[:-3] + "zz/", {"List-Unsubscribe": "One-Click"})
    assert response.status_code == 400
    subscriber.refresh_from_db()
    assert subscriber.status == Subscriber.Status.CONFIRMED


def test_page_buttons_work_without_a_csrf_token(strict_client, make_subscriber):
    subscriber = make_subscriber()
    url = path_of(tokens.unsubscribe_url(subscriber.pk, ["events"]))
    response = strict_client.post(url, {"scope": "topics"})
    assert response.status_code == 200
    assert "You have left these topics" in response.content.decode()
    assert statuses(subscriber) == {"news": "active", "events": "unsubscribed"}
    event = ConsentEvent.objects.get()
    assert (event.source, event.topics) == ("link", ["events"])

    response = strict_client.post(url, {"scope": "everything"})
    assert "You are unsubscribed" in response.content.decode()
    subscriber.refresh_from_db()
    assert subscriber.status == Subscriber.Status.UNSUBSCRIBED


def test_post_without_a_choice_changes_nothing(client, make_subscriber):
    subscriber = make_subscriber()
    response = client.post(path_of(tokens.unsubscribe_url(subscriber.pk)), {"scope": "nonsense"})
    assert response.status_code == 400
    subscriber.refresh_from_db()
    assert subscriber.status == Subscriber.Status.CONFIRMED


def test_page_in_the_subscribers_language(client, make_subscriber):
    subscriber = make_subscriber(language="de")
    response = client.get(path_of(tokens.unsubscribe_url(subscriber.pk)), HTTP_ACCEPT_LANGUAGE="en")
    assert response["Content-Language"] == "de"


def test_tampered_and_gone_links_get_clear_pages(client, make_subscriber):
    subscriber = make_subscriber()
    url = path_of(tokens.unsubscribe_url(subscriber.pk))
    assert client.get(url[:-3] + "zz/").status_code == 400
    assert (
        client.get(
            path_of(tokens.preferences_url(subscriber.pk)).replace("preferences", "unsubscribe")
        ).status_code
        == 400
    )
    subscriber.delete()
    response = client.get(url)
    assert response.status_code == 410
    assert "no longer belongs to a subscription" in response.content.decode()
