"""The editor pages: permission, live preview with errors, save, audience panel, test send, launch."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group, User
from django.urls import reverse

from campaigns.models import Campaign, Delivery
from rundbrief.mailbox.models import CapturedMail

from .conftest import BODY, make_subscriber

pytestmark = pytest.mark.django_db(transaction=True)


def test_pages_need_the_marketer_permission(client, db):
    assert client.get(reverse("campaigns:list")).status_code == 302
    client.force_login(User.objects.create_user("nobody"))
    assert client.get(reverse("campaigns:list")).status_code == 403


def test_preview_renders_for_a_chosen_subscriber(client_marketer, topic):
    make_subscriber("eva@example.org", topic, name="Eva")
    response = client_marketer.post(
        reverse("campaigns:preview"),
        {"mjml_body": BODY, "name": "Herbst", "topics": [topic.pk], "preview_subscriber": "eva@example.org"},
    )
    data = response.json()
    assert data["errors"] == []
    assert "Hallo Eva" in data["html"] and "Hallo Eva" in data["text"]
    assert "Anna Ansprech" in data["text"]  # the footer, in the subscriber's language


def test_preview_reports_errors_with_lines_never_500(client_marketer):
    broken = "<mj-section>\n  <mj-column>\n    <mj-text>{% if x %}hi</mj-text>\n  </mj-column>\n</mj-section>"
    data = client_marketer.post(reverse("campaigns:preview"), {"mjml_body": broken}).json()
    assert data["html"] == ""
    assert data["errors"][0]["part"] == "template" and data["errors"][0]["line"] == 3
    unclosed = "<mj-section>\n  <mj-column>\n    <mj-text>hi\n  </mj-column>\n</mj-section>"
    data = client_marketer.post(reverse("campaigns:preview"), {"mjml_body": unclosed}).json()
    assert data["errors"][0] == {
        "part": "mjml",
        "line": 4,
        "message": "</mj-column> found, but <mj-text> from line 3 is still open.",
    }


def test_create_validates_then_saves_with_the_chosen_contact(client_marketer, topic, owner):
    owner.groups.add(Group.objects.get_or_create(name="Staff")[0])
    url = reverse("campaigns:create")
    assert client_marketer.get(url).status_code == 200
    form = {
        "name": "Herbst",
        "topics": [topic.pk],
        "subject": "Hi",
        "contact": owner.pk,
        "mjml_body": "<mj-section><mj-colum>",
    }
    response = client_marketer.post(url, form)
    assert response.status_code == 200 and "Unknown MJML element" in response.content.decode()
    response = client_marketer.post(url, {**form, "mjml_body": BODY})
    campaign = Campaign.objects.get()
    assert response.url == reverse("campaigns:detail", args=[campaign.pk])
    assert campaign.contact == owner


def test_detail_shows_audience_then_test_send_and_launch(client_marketer, campaign, topic):
    make_subscriber("eva@example.org", topic)
    make_subscriber("paused@example.org", topic, paused_until="2999-01-01")
    page = client_marketer.get(reverse("campaigns:detail", args=[campaign.pk])).content.decode()
    assert 'data-audience="recipients">1<' in page and 'data-excluded="paused">1<' in page

    client_marketer.post(reverse("campaigns:test_send", args=[campaign.pk]), {"addresses": "me@example.org"})
    assert CapturedMail.objects.get().subject == "[TEST] Neues im Herbst"

    client_marketer.post(reverse("campaigns:launch", args=[campaign.pk]), {"at": "", "confirmed": "1"})
    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.SENT
    progress = client_marketer.get(reverse("campaigns:progress", args=[campaign.pk])).json()
    assert progress["sent"] == 1 and progress["progress_percent"] == 100
    page = client_marketer.get(reverse("campaigns:detail", args=[campaign.pk])).content.decode()
    assert 'data-stat="sent">1<' in page and 'data-stat-note="unconfirmed"' not in page
    # A mail handed over while a sending process was killed: counted as sent, and said so.
    Delivery.objects.filter(campaign=campaign).update(handover_unconfirmed=True)
    for name in ("campaigns:detail", "campaigns:stats"):
        page = client_marketer.get(reverse(name, args=[campaign.pk])).content.decode()
        assert 'data-stat-note="unconfirmed"' in page and "may or may not have taken it" in page
    assert client_marketer.get(reverse("campaigns:list")).status_code == 200
