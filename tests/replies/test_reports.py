"""Reports for managers: per day, first-response and resolution time (median, p90) per person,
team, topic and campaign, backlog, SLA breaches in the queue; CSV; managers only."""

from __future__ import annotations

import csv
import io
from datetime import time, timedelta

import pytest
from django.contrib.auth.models import Permission, User
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from replies.models import Conversation, ConversationEvent, Message, Team
from replies.reports import business_minutes
from tests.replies.conftest import make_staff

pytestmark = pytest.mark.django_db


def as_user(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def answered(world, frozen_clock):
    """Two conversations today: answered after 30 and 90 minutes, one closed after 2 hours."""
    now = timezone.now()
    team = Team.objects.create(name="Redaktion")
    made = []
    for minutes in (30, 90):
        conversation = Conversation.objects.create(
            subscriber=world.anna,
            campaign=world.campaign,
            team=team,
            assignee=world.anna_staff,
            subject="Frage",
        )
        Conversation.objects.filter(pk=conversation.pk).update(created_at=now - timedelta(hours=3))
        asked = Message.objects.create(conversation=conversation, direction="in", kind="human", text="?")
        answer = Message.objects.create(
            conversation=conversation, direction="out", author=world.anna_staff, text="!", send_status="sent"
        )
        Message.objects.filter(pk=asked.pk).update(created_at=now - timedelta(hours=3))
        Message.objects.filter(pk=answer.pk).update(
            created_at=now - timedelta(hours=3) + timedelta(minutes=minutes)
        )
        made.append(conversation)
    closed = ConversationEvent.objects.create(conversation=made[0], kind="closed", actor=world.anna_staff)
    ConversationEvent.objects.filter(pk=closed.pk).update(created_at=now - timedelta(hours=1))
    return made


def test_manager_sees_first_response_and_resolution(world, answered):
    manager = make_staff("mona", group="Managers")
    response = as_user(manager).get(reverse("replies:reports"))
    assert response.status_code == 200
    report = response.context["report"]
    first = report.first_response
    assert first["all"]["all"].values == [30.0, 90.0]
    assert first["all"]["all"].median == 60.0 and first["all"]["all"].p90 == 90.0
    assert first["person"]["Anna Berg"].count == 2
    assert first["team"]["Redaktion"].count == 2
    assert first["campaign"]["November"].count == 2
    assert first["topic"]["Energie"].count == 2
    assert report.resolution["all"]["all"].values == [120.0]
    body = response.content.decode()
    assert 'data-testid="first-response"' in body and "60.0" in body
    today = timezone.localdate()
    assert (today - timedelta(days=0),) and report.days[-1][0] == today
    assert report.days[-1][1] == 2  # opened today


def test_csv_has_the_same_numbers(world, answered):
    manager = make_staff("mona", group="Managers")
    response = as_user(manager).get(reverse("replies:report_csv"))
    assert response["Content-Type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(response.content.decode())))
    assert ["first_response", "all", "all", "", "", "", "", "2", "60.0", "90.0"] in rows
    assert ["first_response", "person", "Anna Berg", "", "", "", "", "2", "60.0", "90.0"] in rows


def test_reports_are_for_managers_only(world, answered):
    assert as_user(world.anna_staff).get(reverse("replies:reports")).status_code == 403
    assert as_user(world.anna_staff).get(reverse("replies:report_csv")).status_code == 403
    marketer = User.objects.create_user("mara")
    marketer.user_permissions.add(Permission.objects.get(codename="change_campaign"))
    assert as_user(marketer).get(reverse("replies:reports")).status_code == 403


def test_business_minutes_and_sla_breach_in_the_queue(world, frozen_clock):
    team = Team.objects.create(
        name="Support",
        sla_minutes=60,
        business_days="1234567",
        business_start=time(0, 0),
        business_end=time(23, 59),
    )
    now = timezone.now()
    weekdays = Team(name="x", business_days="12345", business_start=time(9), business_end=time(17))
    # Sunday 22 November 2026: no business minutes on a weekday-only team.
    assert business_minutes(now - timedelta(hours=2), now, weekdays) == 0
    assert business_minutes(now - timedelta(hours=2), now, team) == 120
    late = Conversation.objects.create(
        subscriber=world.anna,
        team=team,
        assignee=world.anna_staff,
        subject="Late",
        waiting_since=now - timedelta(hours=2),
    )
    Conversation.objects.create(
        subscriber=world.ben,
        team=team,
        assignee=world.anna_staff,
        subject="Fresh",
        waiting_since=now - timedelta(minutes=5),
    )
    body = as_user(world.anna_staff).get(reverse("replies:inbox")).content.decode()
    assert body.count('data-testid="sla-breach"') == 1
    row = body.split(f'data-conversation="{late.pk}"')[1].split("</tr>")[0]
    assert "over SLA" in row
    manager = make_staff("mona", group="Managers")
    assert as_user(manager).get(reverse("replies:reports")).context["report"].breaches == 1
