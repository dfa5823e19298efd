"""Who may use the audience desk: Marketers and Managers; Staff without Marketers get 403."""

from __future__ import annotations

import pytest
from django.urls import reverse

from tests.audience.conftest import make_subscriber, member

PAGES = ["audience:list", "audience:topics", "audience:attributes", "audience:segments", "audience:export"]


@pytest.mark.django_db
@pytest.mark.parametrize("page", PAGES)
def test_staff_without_the_marketers_group_get_403(client, page):
    client.force_login(member("sven", "Staff"))
    assert client.get(reverse(page)).status_code == 403


@pytest.mark.django_db
def test_staff_get_403_on_a_subscribers_page_too(client, topic):
    subscriber = make_subscriber("a@example.org", topic)
    client.force_login(member("sven", "Staff"))
    assert client.get(reverse("audience:subscriber", args=[subscriber.pk])).status_code == 403


@pytest.mark.django_db
def test_anonymous_visitors_are_sent_to_the_login(client):
    response = client.get(reverse("audience:list"))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


@pytest.mark.django_db
@pytest.mark.parametrize("groups", [("Marketers",), ("Managers",), ("Staff", "Managers")])
def test_marketers_and_managers_may(client, groups):
    client.force_login(member("mara", *groups))
    for page in PAGES:
        assert client.get(reverse(page)).status_code == 200, page


@pytest.mark.django_db
def test_the_navigation_shows_the_desk_only_to_those_who_may(client):
    client.force_login(member("sven", "Staff"))
    assert reverse("audience:list") not in client.get(reverse("replies:inbox")).content.decode()
    client.force_login(member("mara", "Marketers"))
    assert reverse("audience:list") in client.get(reverse("campaigns:list")).content.decode()
