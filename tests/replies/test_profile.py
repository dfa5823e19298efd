"""The staff profile outside the admin (name, signature, absence with dates and a deputy,
notifications), keyboard shortcuts listed on every inbox page, the customer history sidebar."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.auth.models import Permission, User
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from replies.models import Conversation, StaffProfile
from replies.routing import Decision, with_deputy
from tests.replies.conftest import ingest

pytestmark = pytest.mark.django_db


def as_user(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_staff_edit_their_own_profile(world):
    client = as_user(world.anna_staff)
    assert client.get(reverse("replies:profile")).status_code == 200
    today = timezone.localdate()
    response = client.post(
        reverse("replies:profile"),
        {
            "display_name": "Anna B.",
            "signature": "Anna B.\nRedaktion",
            "away_from": today.isoformat(),
            "away_until": (today + timedelta(days=3)).isoformat(),
            "deputy": world.topic_owner.pk,
            "notify_by_email": "on",
            "notify_on_follow": "on",
        },
    )
    assert response.status_code == 302
    profile = StaffProfile.objects.get(user=world.anna_staff)
    assert profile.display_name == "Anna B." and profile.deputy == world.topic_owner
    assert profile.notify_on_mention is False and profile.notify_on_follow is True
    assert profile.is_away_now and not profile.is_away  # away by the dates
    # Routing honours the dates: her new conversations go to the deputy.
    decision = with_deputy(Decision(rule="campaign_contact", reasons=[], user=world.anna_staff))
    assert decision.user == world.topic_owner
    assert b'data-testid="away"' in client.get(reverse("replies:profile")).content


def test_profile_refuses_an_absence_without_deputy_or_backwards(world):
    client = as_user(world.anna_staff)
    today = timezone.localdate()
    response = client.post(reverse("replies:profile"), {"display_name": "A", "is_away": "on"})
    assert response.status_code == 400
    response = client.post(
        reverse("replies:profile"),
        {
            "display_name": "A",
            "away_from": today.isoformat(),
            "away_until": (today - timedelta(days=1)).isoformat(),
            "deputy": world.topic_owner.pk,
        },
    )
    assert response.status_code == 400
    assert not StaffProfile.objects.get(user=world.anna_staff).is_away_now


def test_a_marketer_has_no_staff_profile_page(world):
    marketer = User.objects.create_user("mara")
    marketer.user_permissions.add(Permission.objects.get(codename="change_campaign"))
    assert as_user(marketer).get(reverse("replies:profile")).status_code == 403


def test_shortcuts_are_listed_and_their_targets_exist(world):
    ingest("gmail_reply_en.eml")
    conversation = Conversation.objects.get()
    other = Conversation.objects.create(
        subscriber=world.ben, assignee=world.anna_staff, subject="Next one", waiting_since=timezone.now()
    )
    client = as_user(world.anna_staff)
    for url in [
        reverse("replies:inbox"),
        reverse("replies:search"),
        reverse("replies:conversation", args=[conversation.pk]),
    ]:
        body = client.get(url).content.decode()
        assert 'id="replies-shortcuts"' in body and "<kbd>?</kbd>" in body, url
    body = client.get(reverse("replies:conversation", args=[conversation.pk])).content.decode()
    assert 'data-shortcut="close"' in body and 'id="id_note_text"' in body and 'id="id_text"' in body
    assert f'href="/inbox/conversations/{other.pk}/" data-shortcut="next"' in body
    # "Assign to me" keeps them on the conversation.
    Conversation.objects.filter(pk=conversation.pk).update(assignee=None)
    body = client.get(reverse("replies:conversation", args=[conversation.pk])).content.decode()
    assert 'data-shortcut="assign-me"' in body
    response = client.post(
        reverse("replies:assign", args=[conversation.pk]), {"assignee": world.anna_staff.pk}
    )
    assert response["Location"] == reverse("replies:conversation", args=[conversation.pk])


def test_customer_history_in_the_sidebar(world):
    ingest("gmail_reply_en.eml")
    conversation = Conversation.objects.get()
    older = Conversation.objects.create(
        subscriber=world.anna,
        subject="Last year's question",
        status="closed",
        last_message_at=timezone.now() - timedelta(days=300),
    )
    body = (
        as_user(world.anna_staff)
        .get(reverse("replies:conversation", args=[conversation.pk]))
        .content.decode()
    )
    history = body.split('data-testid="history"')[1].split("</section>")[0]
    assert "Last year&#x27;s question" in history or "Last year's question" in history
    assert "November" in history  # the campaign she received
    assert older.pk
