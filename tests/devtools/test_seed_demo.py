from __future__ import annotations

import pytest
from django.contrib.auth import authenticate, get_user_model
from django.core.management import call_command

from campaigns.models import Campaign
from replies.models import StaffProfile
from rundbrief.devtools.demo import DEMO_ACCOUNTS, DEMO_PASSWORD, seed_demo
from subscribers.models import ConsentEvent, Subscriber, Topic

pytestmark = pytest.mark.django_db


def test_seed_creates_people_topics_subscribers_and_a_draft_campaign(capsys):
    call_command("seed_demo")
    printed = capsys.readouterr().out
    for account in DEMO_ACCOUNTS:
        assert account.username in printed
        assert authenticate(username=account.username, password=DEMO_PASSWORD) is not None
    assert DEMO_PASSWORD in printed

    User = get_user_model()
    anna, ben, manager = (User.objects.get(username=name) for name in ("anna", "ben", "manager"))
    marketer = User.objects.get(username="marketer")
    assert set(marketer.groups.values_list("name", flat=True)) == {"Marketers"}
    assert marketer.has_perm("campaigns.change_campaign")
    assert set(anna.groups.values_list("name", flat=True)) == {"Staff"}
    assert set(manager.groups.values_list("name", flat=True)) == {"Staff", "Managers"}
    assert manager.has_perm("replies.view_all_conversations")
    team_a = set(anna.staff_profile.teams.all())
    assert team_a and team_a == set(ben.staff_profile.teams.all())
    assert StaffProfile.objects.get(user=anna).deputy == ben

    assert all(topic.owner is not None for topic in Topic.objects.all())
    assert Topic.objects.count() >= 2

    confirmed = Subscriber.objects.filter(status=Subscriber.Status.CONFIRMED)
    assert confirmed.count() >= 5
    for subscriber in confirmed:
        assert subscriber.email_hash
        assert subscriber.subscriptions.filter(status="active").exists()
        assert subscriber.consent_events.filter(kind=ConsentEvent.Kind.IMPORTED).exists()

    campaign = Campaign.objects.get()
    assert campaign.status == Campaign.Status.DRAFT
    assert campaign.contact == anna and campaign.topics.exists()
    assert "{{" in campaign.mjml_body  # personalised


def test_seed_runs_only_on_a_database_without_users(capsys):
    get_user_model().objects.create_user("someone", password="x")
    assert seed_demo().created is False
    call_command("seed_demo")
    assert "no demo data added" in capsys.readouterr().out
    assert not Subscriber.objects.exists() and not Campaign.objects.exists()


def test_seed_twice_adds_nothing_the_second_time():
    assert seed_demo().created is True
    counts = (get_user_model().objects.count(), Subscriber.objects.count(), Campaign.objects.count())
    assert seed_demo().created is False
    assert counts == (get_user_model().objects.count(), Subscriber.objects.count(), Campaign.objects.count())
