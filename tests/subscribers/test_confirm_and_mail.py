"""The confirmation mail and the confirm page: GET shows, the button confirms and records the click."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core import signing
from django.utils import timezone

from subscribers import services, tokens
from subscribers.models import ConsentEvent, Subscriber

from .conftest import link_from

pytestmark = pytest.mark.django_db


@pytest.fixture
def requested(topics, consent, commit_hooks, mailoutbox):
    """A pending subscriber whose confirmation mail has been sent."""

    def make(email="max@example.org", language="en", slugs=("news", "events")):
        with commit_hooks():
            services.request_subscription(
                email=email,
                topics=[topics[slug] for slug in slugs],
                source=ConsentEvent.Source.FORM,
                consent=consent,
                language=language,
                name="Max",
            )
        return Subscriber.objects.get(email=email), mailoutbox[-1]

    return make


def test_mail_has_text_and_html_and_is_marked_automatic(requested):
    subscriber, mail = requested()
    assert mail.subject == "Please confirm your subscription"
    assert mail.extra_headers["Auto-Submitted"] == "auto-generated"
    assert "Events" in mail.body and "News" in mail.body
    assert "7 days" in mail.body
    html, mimetype = mail.alternatives[0]
    assert mimetype == "text/html"
    assert link_from(mail, "/confirm/") in html
    message = mail.message()
    assert message["Auto-Submitted"] == "auto-generated"


def test_mail_goes_out_in_the_subscribers_language(requested):
    _subscriber, mail = requested(language="de")
    # German catalogues are compiled at the end; the mail is rendered under the German locale.
    assert mail.message()["To"] == "max@example.org"
    assert 'lang="de"' in mail.alternatives[0][0]


def test_get_shows_the_topics_and_does_not_confirm(client, requested):
    subscriber, mail = requested()
    response = client.get(link_from(mail, "/confirm/"))
    assert response.status_code == 200
    assert "Yes, confirm my subscription" in response.content.decode()
    subscriber.refresh_from_db()
    assert subscriber.status == Subscriber.Status.PENDING


@pytest.mark.usefixtures("frozen_clock")  # compares values signed or dated at two moments
def test_post_confirms_and_records_the_click(client, requested):
    subscriber, mail = requested()
    response = client.post(
        link_from(mail, "/confirm/"), REMOTE_ADDR="198.51.100.3", HTTP_USER_AGENT="Phone/9"
    )
    assert response.status_code == 200
    assert "your subscription is confirmed" in response.content.decode()
    assert (
        tokens.preferences_url(subscriber.pk).removeprefix("http://127.0.0.1:8000")
        in response.content.decode()
    )
    subscriber.refresh_from_db()
    assert subscriber.status == Subscriber.Status.CONFIRMED
    assert subscriber.confirmed_at is not None
    assert set(subscriber.subscriptions.values_list("status", flat=True)) == {"active"}
    event = ConsentEvent.objects.get(kind=ConsentEvent.Kind.CONFIRMED)
    assert (event.ip_address, event.user_agent, event.topics) == (
        "198.51.100.3",
        "Phone/9",
        ["events", "news"],
    )

    again = client.post(link_from(mail, "/confirm/"))
    assert "Already confirmed" in again.content.decode()
    assert ConsentEvent.objects.filter(kind=ConsentEvent.Kind.CONFIRMED).count() == 1


def test_topics_left_meanwhile_are_not_revived_by_an_old_link(client, requested):
    subscriber, mail = requested()
    services.unsubscribe(subscriber=subscriber, topic_slugs=["news"], source=ConsentEvent.Source.LINK)
    client.post(link_from(mail, "/confirm/"))
    assert dict(subscriber.subscriptions.values_list("topic__slug", "status")) == {
        "news": "unsubscribed",
        "events": "active",
    }


def test_tampered_link_gives_a_clear_page(client, requested):
    _subscriber, mail = requested()
    path = link_from(mail, "/confirm/")
    tampered = path[:-5] + ("A" if path[-5] != "A" else "B") + path[-4:]
    for response in (client.get(tampered), client.post(tampered), client.get("/confirm/garbage/")):
        assert response.status_code == 400
        assert "This link is not valid" in response.content.decode()
    assert not ConsentEvent.objects.filter(kind=ConsentEvent.Kind.CONFIRMED).exists()


def test_a_token_for_another_purpose_is_rejected(client, requested):
    subscriber, _mail = requested()
    token = tokens.make_token(tokens.UNSUBSCRIBE, subscriber.pk)
    assert client.post(f"/confirm/{token}/").status_code == 400


def expired_token(subscriber_id: int, slugs=("news",)) -> str:
    """A genuine confirmation token, signed eight days ago."""
    past = timezone.now() - timedelta(days=8)
    signer = signing.TimestampSigner(salt=tokens.SALT_PREFIX + tokens.CONFIRM)
    signer.timestamp = lambda: signing.b62_encode(int(past.timestamp()))
    return signer.sign_object({"s": subscriber_id, "t": sorted(slugs)}, compress=True)


def test_expired_link_offers_a_new_one(client, requested, mailoutbox, commit_hooks):
    subscriber, _mail = requested()
    token = expired_token(subscriber.pk)
    response = client.get(f"/confirm/{token}/")
    assert response.status_code == 410
    page = response.content.decode()
    assert "This confirmation link has expired" in page
    assert f"/confirm/{token}/new-link/" in page
    assert client.post(f"/confirm/{token}/").status_code == 410
    subscriber.refresh_from_db()
    assert subscriber.status == Subscriber.Status.PENDING

    # Within the resend window no second mail; afterwards the button sends a fresh link.
    with commit_hooks():
        client.post(f"/confirm/{token}/new-link/")
    assert len(mailoutbox) == 1
    Subscriber.objects.filter(pk=subscriber.pk).update(
        last_confirmation_sent_at=timezone.now() - timedelta(days=8)
    )
    with commit_hooks():
        response = client.post(f"/confirm/{token}/new-link/")
    assert response.status_code == 200
    assert len(mailoutbox) == 2
    assert client.post(link_from(mailoutbox[-1], "/confirm/")).status_code == 200
    subscriber.refresh_from_db()
    assert subscriber.status == Subscriber.Status.CONFIRMED


def test_link_of_a_purged_subscriber_says_so(client, requested):
    subscriber, mail = requested()
    subscriber.delete()
    response = client.get(link_from(mail, "/confirm/"))
    assert response.status_code == 410
    assert "no longer belongs to a subscription" in response.content.decode()


def test_confirm_page_renders_in_the_subscribers_language(client, requested):
    _subscriber, mail = requested(language="de")
    response = client.get(link_from(mail, "/confirm/"), HTTP_ACCEPT_LANGUAGE="en")
    assert response["Content-Language"] == "de"
    assert 'lang="de"' in response.content.decode()


def test_text_only_subscribers_get_no_html_part(topics, consent, commit_hooks, mailoutbox, make_subscriber):
    subscriber = make_subscriber("plain@example.org", topic_slugs=("news",))
    Subscriber.objects.filter(pk=subscriber.pk).update(format=Subscriber.Format.TEXT)
    with commit_hooks():
        services.request_subscription(
            email="plain@example.org",
            topics=[topics["jobs"]],
            source=ConsentEvent.Source.FORM,
            consent=consent,
        )
    assert mailoutbox[0].alternatives == []


def test_task_skips_subscribers_that_are_gone_or_done(make_subscriber, mailoutbox):
    from subscribers.tasks import send_confirmation

    send_confirmation.delay(999999, ["news"])
    subscriber = make_subscriber()  # confirmed: nothing pending
    send_confirmation.delay(subscriber.pk, ["news"])
    assert mailoutbox == []


def test_link_pages_work_without_cookies(requested, commit_hooks, mailoutbox):
    """People who block cookies can still confirm, change preferences and erase: the link authorises."""
    from django.test import Client

    subscriber, mail = requested()
    strict = Client(enforce_csrf_checks=True)
    assert strict.post(link_from(mail, "/confirm/")).status_code == 200
    subscriber.refresh_from_db()
    assert subscriber.status == Subscriber.Status.CONFIRMED
    prefs = tokens.preferences_url(subscriber.pk).removeprefix("http://127.0.0.1:8000")
    # Erasure is confirmed through a link mailed to the address (a forwarded newsletter cannot erase).
    with commit_hooks():
        assert strict.post(prefs + "erase/").status_code == 200
    assert strict.post(link_from(mailoutbox[-1], "/erase/")).status_code == 200
    assert not Subscriber.objects.exists()
