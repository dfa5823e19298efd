"""Every view added for issue 14, for every kind of person: anonymous (login), marketers (403),
staff (their own, their teams' and unassigned conversations; others' are 404), managers (all;
reports only for them)."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Permission, User
from django.test import Client
from django.urls import reverse

from replies.models import Conversation, Message, SavedReply, Team
from tests.replies.conftest import ingest, make_staff

pytestmark = pytest.mark.django_db


@pytest.fixture
def setup(world):
    ingest("gmail_reply_en.eml")
    conversation = Conversation.objects.get()  # Anna's (the campaign contact)
    answer = Message.objects.create(
        conversation=conversation, direction="out", author=world.anna_staff, text="x"
    )
    saved = SavedReply.objects.create(title="Mine", body="x", owner=world.anna_staff)
    return conversation, answer, saved


def as_user(user) -> Client:
    client = Client()
    if user is not None:
        client.force_login(user)
    return client


def urls(conversation, answer, saved) -> list[tuple[str, str]]:
    """(method, url) of every new view."""
    c = conversation.pk
    return [
        ("get", reverse("replies:search") + "?q=x"),
        ("get", reverse("replies:queue_live")),
        ("get", reverse("replies:profile")),
        ("get", reverse("replies:saved_replies")),
        ("get", reverse("replies:saved_reply_edit", args=[saved.pk])),
        ("post", reverse("replies:saved_reply_delete", args=[saved.pk])),
        ("get", reverse("replies:reports")),
        ("get", reverse("replies:report_csv")),
        ("post", reverse("replies:conversation_live", args=[c])),
        ("get", reverse("replies:saved_reply_picker", args=[c])),
        ("post", reverse("replies:tags", args=[c])),
        ("post", reverse("replies:follow", args=[c])),
        ("get", reverse("replies:link", args=[c])),
        ("post", reverse("replies:merge", args=[c])),
        ("post", reverse("replies:move", args=[c])),
        ("post", reverse("replies:undo", args=[answer.pk])),
    ]


def test_anonymous_visitors_are_sent_to_the_login(setup):
    for method, url in urls(*setup):
        response = getattr(as_user(None), method)(url)
        assert response.status_code == 302 and "/accounts/login/" in response["Location"], url


def test_marketers_get_403_everywhere(setup):
    marketer = User.objects.create_user("mara")
    marketer.user_permissions.add(
        *Permission.objects.filter(codename__in=["change_campaign", "view_campaign"])
    )
    client = as_user(marketer)
    for method, url in urls(*setup):
        assert getattr(client, method)(url).status_code == 403, url


def test_staff_reach_only_their_own_their_teams_and_unassigned(world, setup):
    conversation, answer, saved = setup
    olga = make_staff("olga")
    client = as_user(olga)
    conversation_urls = [
        (m, u) for m, u in urls(*setup) if f"/{conversation.pk}/" in u or f"/{answer.pk}/undo" in u
    ]
    for method, url in conversation_urls:
        assert getattr(client, method)(url).status_code == 404, url
    # Someone else's personal saved reply: not found either.
    assert client.get(reverse("replies:saved_reply_edit", args=[saved.pk])).status_code == 404
    # Reports: managers only.
    assert client.get(reverse("replies:reports")).status_code == 403
    # Her team's conversation: reachable.
    team = Team.objects.create(name="Redaktion")
    olga.staff_profile.teams.add(team)
    Conversation.objects.filter(pk=conversation.pk).update(team=team)
    assert client.post(reverse("replies:conversation_live", args=[conversation.pk])).status_code == 200
    assert client.get(reverse("replies:saved_reply_picker", args=[conversation.pk])).status_code == 200
    # Unassigned, no team: reachable.
    Conversation.objects.filter(pk=conversation.pk).update(team=None, assignee=None)
    assert client.get(reverse("replies:link", args=[conversation.pk])).status_code == 200


def test_managers_reach_every_conversation_and_the_reports(world, setup):
    conversation, _answer, _saved = setup
    client = as_user(make_staff("mona", group="Managers"))
    assert client.post(reverse("replies:conversation_live", args=[conversation.pk])).status_code == 200
    assert client.get(reverse("replies:link", args=[conversation.pk])).status_code == 200
    assert client.get(reverse("replies:reports")).status_code == 200
    assert client.get(reverse("replies:report_csv")).status_code == 200
    assert [
        c.pk for c in client.get(reverse("replies:search"), {"q": "subsidy"}).context["conversations"]
    ] == [conversation.pk]
