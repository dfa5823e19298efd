"""The signup page and request_subscription: double opt-in, consent proof, abuse protection."""

from __future__ import annotations

import re

import pytest
from django.test import override_settings
from django.urls import reverse

from subscribers import services
from subscribers.models import ConsentEvent, Subscriber, Subscription, Suppression

from .conftest import link_from

pytestmark = pytest.mark.django_db

SIGNUP = "/subscribe/"


def form_data(consent, **overrides):
    data = {
        "email": "grace@example.org",
        "name": "Grace",
        "language": "en",
        "topics": [],
        "consent_version": consent.version,
        "website": "",
    }
    data.update(overrides)
    return data


def post_signup(client, commit_hooks, consent, topic_ids, **overrides):
    with commit_hooks():
        return client.post(
            SIGNUP,
            form_data(consent, topics=topic_ids, **overrides),
            REMOTE_ADDR="198.51.100.7",
            HTTP_USER_AGENT="TestBrowser/1.0",
        )


def test_signup_url_name_and_page(client, topics, consent):
    assert reverse("subscribers:signup") == SIGNUP
    response = client.get(SIGNUP)
    assert response.status_code == 200
    page = response.content.decode()
    assert consent.text in page
    assert f'name="consent_version" value="{consent.version}"' in page
    for topic in topics.values():
        assert topic.name in page
    assert 'class="honeypot"' in page


def test_signup_creates_pending_subscriber_with_consent_proof_and_mails_once(
    client, topics, consent, commit_hooks, mailoutbox
):
    response = post_signup(client, commit_hooks, consent, [topics["news"].pk, topics["events"].pk])
    assert response.status_code == 302
    assert response["Location"] == reverse("subscribers:signup_done")

    subscriber = Subscriber.objects.get()
    assert subscriber.email == "grace@example.org"
    assert subscriber.status == Subscriber.Status.PENDING
    assert subscriber.email_hash
    assert set(subscriber.subscriptions.values_list("status", flat=True)) == {Subscription.Status.PENDING}

    event = ConsentEvent.objects.get()
    assert event.kind == ConsentEvent.Kind.REQUESTED
    assert event.source == ConsentEvent.Source.FORM
    assert event.ip_address == "198.51.100.7"
    assert event.user_agent == "TestBrowser/1.0"
    assert event.topics == ["events", "news"]
    assert event.consent_text == consent.text
    assert event.consent_text_version == consent.version

    assert len(mailoutbox) == 1
    assert mailoutbox[0].to == ["grace@example.org"]


def test_invalid_email_gets_a_clear_error(client, topics, consent, commit_hooks, mailoutbox):
    response = post_signup(client, commit_hooks, consent, [topics["news"].pk], email="grace@@example")
    assert response.status_code == 200
    assert "This is not a valid email address" in response.content.decode()
    assert not Subscriber.objects.exists()
    assert mailoutbox == []


def test_no_topic_chosen_gets_a_clear_error(client, topics, consent, commit_hooks):
    response = post_signup(client, commit_hooks, consent, [])
    assert "Please choose at least one topic." in response.content.decode()
    assert not Subscriber.objects.exists()


def test_private_topics_cannot_be_chosen(client, topics, consent, commit_hooks):
    topics["jobs"].is_public = False
    topics["jobs"].save()
    response = post_signup(client, commit_hooks, consent, [topics["jobs"].pk])
    assert response.status_code == 200
    assert not Subscriber.objects.exists()


def test_unknown_consent_version_asks_to_read_the_current_text(client, topics, consent, commit_hooks):
    response = post_signup(client, commit_hooks, consent, [topics["news"].pk], consent_version="old-1")
    page = response.content.decode()
    assert "The consent text has changed meanwhile" in page
    assert f'name="consent_version" value="{consent.version}"' in page
    assert not Subscriber.objects.exists()


def test_honeypot_looks_like_success_but_does_nothing(client, topics, consent, commit_hooks, mailoutbox):
    response = post_signup(client, commit_hooks, consent, [topics["news"].pk], website="http://spam.example")
    assert response.status_code == 302
    assert response["Location"] == reverse("subscribers:signup_done")
    assert not Subscriber.objects.exists()
    assert mailoutbox == []


def test_answers_are_the_same_for_known_and_unknown_addresses(
    client, topics, consent, commit_hooks, make_subscriber
):
    make_subscriber("known@example.org")
    answers = []
    for email in ["known@example.org", "unknown@example.org"]:
        response = post_signup(client, commit_hooks, consent, [topics["news"].pk], email=email)
        followed = client.get(response["Location"]).content.decode()
        # The CSRF token in the language switcher is masked differently on every render.
        followed = re.sub(r'name="csrfmiddlewaretoken" value="[^"]+"', "", followed)
        answers.append((response.status_code, response["Location"], followed))
    assert answers[0] == answers[1]


def test_repeated_signups_send_at_most_one_mail_per_window(client, topics, consent, commit_hooks, mailoutbox):
    for _ in range(3):
        post_signup(client, commit_hooks, consent, [topics["news"].pk])
    assert len(mailoutbox) == 1
    assert Subscriber.objects.count() == 1
    mails = list(ConsentEvent.objects.values_list("details__confirmation_mail", flat=True))
    assert mails == ["sent", "throttled", "throttled"]


@override_settings(CONFIRMATION_RESEND_WINDOW=__import__("datetime").timedelta(0))
def test_after_the_window_a_new_mail_is_sent(client, topics, consent, commit_hooks, mailoutbox):
    post_signup(client, commit_hooks, consent, [topics["news"].pk])
    post_signup(client, commit_hooks, consent, [topics["news"].pk])
    assert len(mailoutbox) == 2


def test_existing_subscribers_name_and_language_are_not_changed_by_a_stranger(
    client, topics, consent, commit_hooks, make_subscriber
):
    subscriber = make_subscriber("known@example.org", name="Known", language="de")
    post_signup(
        client,
        commit_hooks,
        consent,
        [topics["jobs"].pk],
        email="KNOWN@example.org",
        name="Evil",
        language="en",
    )
    subscriber.refresh_from_db()
    assert (subscriber.name, subscriber.language) == ("Known", "de")


def test_adding_topics_for_a_confirmed_subscriber_needs_confirmation(
    client, topics, consent, commit_hooks, make_subscriber, mailoutbox
):
    subscriber = make_subscriber("known@example.org", topic_slugs=("news",))
    post_signup(
        client, commit_hooks, consent, [topics["news"].pk, topics["jobs"].pk], email="known@example.org"
    )
    statuses = dict(subscriber.subscriptions.values_list("topic__slug", "status"))
    assert statuses == {"news": "active", "jobs": "pending"}
    subscriber.refresh_from_db()
    assert subscriber.status == Subscriber.Status.CONFIRMED
    assert len(mailoutbox) == 1
    assert "Jobs" in mailoutbox[0].body and "News" not in mailoutbox[0].body


def test_asking_for_topics_already_received_does_nothing(
    client, topics, consent, commit_hooks, make_subscriber, mailoutbox
):
    make_subscriber("known@example.org", topic_slugs=("news",))
    post_signup(client, commit_hooks, consent, [topics["news"].pk], email="known@example.org")
    assert mailoutbox == []
    assert not ConsentEvent.objects.exists()


def test_erased_address_signing_up_again_goes_through_opt_in(
    client, topics, consent, commit_hooks, make_subscriber, mailoutbox
):
    services.erase(
        subscriber=make_subscriber("gone@example.org"), source=ConsentEvent.Source.PREFERENCE_CENTRE
    )
    post_signup(client, commit_hooks, consent, [topics["news"].pk], email="gone@example.org")
    subscriber = Subscriber.objects.get()
    assert subscriber.status == Subscriber.Status.PENDING
    # Still suppressed until the new confirmation: a signup alone must not re-add the address.
    assert Suppression.objects.filter(email_hash=subscriber.email_hash, reason="erased").exists()

    client.post(link_from(mailoutbox[0], "/confirm/"))
    subscriber.refresh_from_db()
    assert subscriber.status == Subscriber.Status.CONFIRMED
    assert not Suppression.objects.exists()
    confirmed = ConsentEvent.objects.get(kind=ConsentEvent.Kind.CONFIRMED)
    assert confirmed.details == {"lifted_suppression": "erased"}


def test_unsubscribed_address_signing_up_again_stays_unsubscribed_until_confirmed(
    client, topics, consent, commit_hooks, make_subscriber, mailoutbox
):
    subscriber = make_subscriber("back@example.org")
    services.unsubscribe(subscriber=subscriber, source=ConsentEvent.Source.LINK)
    post_signup(client, commit_hooks, consent, [topics["news"].pk], email="back@example.org")
    subscriber.refresh_from_db()
    assert subscriber.status == Subscriber.Status.UNSUBSCRIBED
    assert Suppression.objects.exists()
    client.post(link_from(mailoutbox[0], "/confirm/"))
    subscriber.refresh_from_db()
    assert subscriber.status == Subscriber.Status.CONFIRMED
    assert dict(subscriber.subscriptions.values_list("topic__slug", "status")) == {
        "news": "active",
        "events": "unsubscribed",
    }
    assert not Suppression.objects.exists()


@pytest.mark.usefixtures("frozen_clock")
@override_settings(SUBSCRIBE_RATE_LIMIT="3/m")
def test_rate_limit_per_ip_answers_429(client, topics, consent, commit_hooks):
    codes = [
        post_signup(client, commit_hooks, consent, [topics["news"].pk], email=f"p{i}@example.org").status_code
        for i in range(5)
    ]
    assert codes == [302, 302, 302, 429, 429]
    assert Subscriber.objects.count() == 3
    # Another IP is not affected; GET is not limited.
    assert client.get(SIGNUP).status_code == 200
    other = client.post(SIGNUP, form_data(consent, topics=[topics["news"].pk]), REMOTE_ADDR="203.0.113.9")
    assert other.status_code == 302


def test_signup_page_in_german(client, topics, consent):
    response = client.get(SIGNUP, HTTP_ACCEPT_LANGUAGE="de")
    german = response.content.decode()
    assert 'lang="de"' in german
    assert "Ja, ich möchte" in german
