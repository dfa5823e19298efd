"""The dialogue report of a campaign, seeded with replies and answers on a frozen clock."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.auth.models import Permission
from django.test import TestCase
from django.urls import reverse

from dialogue.masking import MASK, mask
from dialogue.report import campaign_report
from replies.models import Conversation
from replies.services import queue_staff_answer
from replies.services.collaboration import set_tags
from tests.dialogue.conftest import make_subscriber, reply, send

pytestmark = pytest.mark.django_db

KARLA = (
    "Die Wärmepumpe läuft seit Oktober und wir sparen viel. Rufen Sie mich an: 0228 123456. "
    "Ich wohne in der Lindenstraße 4, 53111 Bonn. Viele Grüße, Karla Meier"
)
BEN = "The heat pump subsidy: does the Wärmepumpe grant also cover tenants? Best, Ben"


@pytest.fixture
def seeded(world, frozen_clock):
    make_subscriber("carl@example.org", world.topic, name="Carl")
    send(world.campaign)
    frozen_clock.shift(timedelta(hours=1))
    karla = reply(world.karla, world.campaign, KARLA)
    frozen_clock.shift(timedelta(hours=1))
    reply(world.ben, world.campaign, BEN)
    frozen_clock.shift(timedelta(hours=1))
    with TestCase.captureOnCommitCallbacks(execute=True):
        queue_staff_answer(conversation=karla, author=world.anna, text="Danke, wir rufen an.")
    frozen_clock.shift(timedelta(hours=1))
    reply(world.karla, world.campaign, "Noch eine Frage zur Wärmepumpe und zur Förderung.")
    return world


def test_people_response_times_and_themes(seeded):
    report = campaign_report(seeded.campaign)
    assert (report.delivered, report.repliers, report.answered) == (3, 2, 1)  # people, not messages
    assert report.reply_rate_percent == 66.7 and report.answered_percent == 50.0
    assert report.median_first_response == timedelta(hours=2)
    assert report.p90_first_response == timedelta(hours=2)
    assert [row.subject for row in report.unanswered] == ["Re: Energie im November"]
    assert "wärmepumpe" in report.keywords
    assert sum(count for _day, (count,) in report.chart.rows) == 3
    joined = " ".join(report.quotes)
    for personal in ("Karla", "Meier", "0228 123456", "Lindenstraße 4", "53111", "Ben"):
        assert personal not in joined
    assert MASK in joined and "Wärmepumpe" in joined


def test_a_marketer_without_inbox_rights_sees_numbers_and_masked_quotes_only(client, seeded):
    client.force_login(seeded.marketer)
    page = client.get(reverse("dialogue:report", args=[seeded.campaign.pk]))
    assert page.status_code == 200
    html = page.content.decode()
    assert 'data-report="repliers">2<' in html
    for personal in ("Karla", "Meier", "0228 123456", "Lindenstraße", "ben@example.com", "karla.meier"):
        assert personal not in html
    assert reverse("replies:conversation", args=[1]).rsplit("/", 2)[0] not in html  # no inbox links


def test_staff_with_inbox_rights_also_see_the_unanswered_conversations(client, seeded):
    seeded.anna.user_permissions.add(
        *Permission.objects.filter(content_type__app_label="campaigns", codename="change_campaign")
    )
    client.force_login(seeded.anna)
    html = client.get(reverse("dialogue:report", args=[seeded.campaign.pk])).content.decode()
    assert "/inbox/conversations/" in html


def test_reply_rates_across_campaigns(client, seeded):
    client.force_login(seeded.marketer)
    html = client.get(reverse("dialogue:reply_rates")).content.decode()
    assert "Energie im November" in html and "66.7" in html


def test_masking():
    assert mask("Schreib an a.b@example.org oder +49 (0)228 98 76 54, www.example.org") == (
        f"Schreib an {MASK} oder {MASK}, {MASK}"
    )
    assert mask("Liebe Anna, danke!") == f"Liebe {MASK}, danke!"


# --- Themes from staff tags (#15) -------------------------------------------------------------


@pytest.fixture
def tagged(seeded):
    karla, ben = Conversation.objects.filter(campaign=seeded.campaign).order_by("pk")
    set_tags(conversation=karla, actor=seeded.anna, names=["Förderung", "Rückruf"])
    set_tags(conversation=ben, actor=seeded.anna, names=["förderung"])
    other = Conversation.objects.create(subject="elsewhere")  # another campaign's tags do not count
    set_tags(conversation=other, actor=seeded.anna, names=["Beschwerde"])
    return seeded


def test_themes_from_staff_tags_beside_the_keywords(tagged):
    report = campaign_report(tagged.campaign)
    assert [(row.name, row.conversations, row.people) for row in report.tags] == [
        ("Förderung", 2, 2),
        ("Rückruf", 1, 1),
    ]
    assert "wärmepumpe" in report.keywords


def test_a_marketer_without_inbox_rights_sees_only_the_tag_counts(client, tagged):
    client.force_login(tagged.marketer)
    html = client.get(reverse("dialogue:report", args=[tagged.campaign.pk])).content.decode()
    table = html.split('data-testid="tag-themes"')[1].split("</table>")[0]
    assert "Förderung" in table and "<td>2</td>" in table
    assert "/inbox/" not in table  # no way into the conversations
    assert "Beschwerde" not in html


def test_staff_with_inbox_rights_reach_the_tagged_conversations(client, tagged):
    tagged.anna.user_permissions.add(
        *Permission.objects.filter(content_type__app_label="campaigns", codename="change_campaign")
    )
    client.force_login(tagged.anna)
    html = client.get(reverse("dialogue:report", args=[tagged.campaign.pk])).content.decode()
    table = html.split('data-testid="tag-themes"')[1].split("</table>")[0]
    assert reverse("replies:search") + "?tag=" in table


def test_the_themes_in_german(client, tagged):
    client.force_login(tagged.marketer)
    html = client.get(
        reverse("dialogue:report", args=[tagged.campaign.pk]), HTTP_ACCEPT_LANGUAGE="de"
    ).content.decode()
    assert "Aus Schlagwörtern der Mitarbeiter" in html
