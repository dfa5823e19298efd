"""Admin: every page works; the consent proof can be read but never changed or deleted."""

from __future__ import annotations

import pytest
from django.urls import reverse

from subscribers import selectors, services
from subscribers.models import ConsentEvent, ConsentText, Subscriber, Suppression

pytestmark = pytest.mark.django_db


@pytest.fixture
def subscriber(make_subscriber):
    subscriber = make_subscriber()
    services.record_event(kind="confirmed", source="link", subscriber=subscriber, ip="192.0.2.5")
    return subscriber


@pytest.mark.parametrize("model", ["topic", "subscriber", "consentevent", "suppression", "consenttext"])
def test_changelists_load(admin_client, subscriber, model):
    assert admin_client.get(reverse(f"admin:subscribers_{model}_changelist")).status_code == 200


def test_subscriber_page_shows_subscriptions_and_history(admin_client, subscriber):
    page = admin_client.get(
        reverse("admin:subscribers_subscriber_change", args=[subscriber.pk])
    ).content.decode()
    assert "News" in page and "Events" in page
    assert "192.0.2.5" in page


def test_consent_events_are_read_only(admin_client, subscriber):
    event = ConsentEvent.objects.get()
    change = reverse("admin:subscribers_consentevent_change", args=[event.pk])
    assert admin_client.get(change).status_code == 200  # viewable
    admin_client.post(change, {"kind": "erased"})
    event.refresh_from_db()
    assert event.kind == "confirmed"
    delete = reverse("admin:subscribers_consentevent_delete", args=[event.pk])
    assert admin_client.post(delete, {"post": "yes"}).status_code == 403
    assert admin_client.get(reverse("admin:subscribers_consentevent_add")).status_code == 403
    assert ConsentEvent.objects.count() == 1


def test_subscribers_cannot_be_added_or_deleted_only_erased(admin_client, subscriber):
    assert admin_client.get(reverse("admin:subscribers_subscriber_add")).status_code == 403
    changelist = reverse("admin:subscribers_subscriber_changelist")
    admin_client.post(changelist, {"action": "erase_selected", "_selected_action": [subscriber.pk]})
    assert not Subscriber.objects.exists()
    assert Suppression.objects.get().reason == "erased"


def test_unsubscribe_action(admin_client, subscriber):
    changelist = reverse("admin:subscribers_subscriber_changelist")
    admin_client.post(changelist, {"action": "unsubscribe_selected", "_selected_action": [subscriber.pk]})
    subscriber.refresh_from_db()
    assert subscriber.status == "unsubscribed"
    assert ConsentEvent.objects.filter(kind="unsubscribed", source="admin").exists()


def test_staff_suppress_an_address_by_typing_it(admin_client):
    response = admin_client.post(
        reverse("admin:subscribers_suppression_add"), {"email": "Spam.Trap@Example.org", "reason": "manual"}
    )
    assert response.status_code == 302
    assert selectors.is_suppressed("spam.trap@example.org")
    found = admin_client.get(
        reverse("admin:subscribers_suppression_changelist"), {"q": "spam.trap@example.org"}
    )
    assert "1 suppression" in found.content.decode()


def test_consent_texts_are_versioned_not_edited(admin_client, consent):
    response = admin_client.post(
        reverse("admin:subscribers_consenttext_add"),
        {"version": "2027-1", "language": "en", "text": "New words."},
    )
    assert response.status_code == 302
    assert selectors.current_consent_text("en").version == "2027-1"
    change = reverse("admin:subscribers_consenttext_change", args=[consent.pk])
    admin_client.post(change, {"version": "x", "language": "en", "text": "Rewritten history"})
    consent.refresh_from_db()
    assert consent.text != "Rewritten history"
    assert ConsentText.objects.filter(version=consent.version).count() == 2
