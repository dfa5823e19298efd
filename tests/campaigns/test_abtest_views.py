"""The A/B test in the editor (section, validation like A, preview of B), the campaign page (plan,
figures so far, "Decide now" with a confirmation), the launch confirmation, the test send of B,
and the result on the campaign and stats pages, in English and German."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group
from django.test import TestCase
from django.urls import reverse

from campaigns import abtest
from campaigns.models import ABTest, Campaign, Delivery
from replies.models import Conversation, InboundMessage, Message
from rundbrief.mailbox.models import CapturedMail

from .conftest import BODY, make_subscriber

pytestmark = pytest.mark.django_db

SUBJECT_B = "Was meinen Sie?"


@pytest.fixture
def form(topic, owner) -> dict:
    owner.groups.add(Group.objects.get_or_create(name="Staff")[0])
    return {
        "name": "Herbst",
        "topics": [topic.pk],
        "default_language": "en",
        "subject": "Neues im Herbst",
        "preheader": "",
        "from_name": "Rundbrief",
        "contact": owner.pk,
        "mjml_body": BODY,
        "text_body": "",
    }


def ab_fields(
    enabled: bool = True, kind: str = "subject", percent: str = "20", hours: str = "24", **b
) -> dict:
    data = {"ab-kind": kind, "ab-sample_percent": percent, "ab-wait_hours": hours}
    if enabled:
        data["ab-enabled"] = "on"
    return data | {f"ab-en-{name}": value for name, value in b.items()}


def test_the_editor_section_is_off_by_default_and_saves_a_test(client_marketer, form):
    page = client_marketer.get(reverse("campaigns:create")).content.decode()
    assert 'id="ab-test"' in page and "A/B test by replies" in page
    assert 'name="ab-enabled"' in page and 'name="ab-enabled" checked' not in page
    # Off: no test is stored.
    client_marketer.post(reverse("campaigns:create"), {**form, **ab_fields(enabled=False)})
    campaign = Campaign.objects.get()
    assert not ABTest.objects.exists()
    response = client_marketer.post(
        reverse("campaigns:edit", args=[campaign.pk]),
        {**form, **ab_fields(percent="30", hours="6", subject=SUBJECT_B, preheader="B")},
    )
    assert response.status_code == 302
    test = ABTest.objects.get(campaign=campaign)
    assert (test.enabled, test.kind, test.sample_percent, test.wait_hours) == (True, "subject", 30, 6)
    assert test.variants.get(language="en").subject == SUBJECT_B
    edit = client_marketer.get(reverse("campaigns:edit", args=[campaign.pk])).content.decode()
    assert SUBJECT_B in edit and "<details" in edit and 'id="ab-test" open' in edit


def test_variant_b_is_validated_like_a_and_nothing_is_saved_on_an_error(client_marketer, form, campaign):
    url = reverse("campaigns:edit", args=[campaign.pk])
    missing = client_marketer.post(url, {**form, "name": "Neu", **ab_fields()})
    assert missing.status_code == 200
    assert "Write variant B of the English version, or switch the A/B test off." in missing.content.decode()
    broken = client_marketer.post(url, {**form, "name": "Neu", **ab_fields(subject="Hallo {% if %}")})
    assert broken.status_code == 200 and "errorlist" in broken.content.decode()
    body = client_marketer.post(
        url,
        {
            **form,
            "name": "Neu",
            **ab_fields(kind="body", mjml_body="<mj-section><mj-column><mj-text>x</mj-column>"),
        },
    )
    assert body.status_code == 200 and "errorlist" in body.content.decode()
    out_of_range = client_marketer.post(url, {**form, "name": "Neu", **ab_fields(percent="1", subject="B")})
    assert out_of_range.status_code == 200
    campaign.refresh_from_db()
    assert campaign.name == "Herbst" and not ABTest.objects.exists()
    # Unknown variables in B are said after saving, as for A; the launch refuses them.
    saved = client_marketer.post(
        url, {**form, **ab_fields(subject="Hallo {{ subscriber.nmae }}")}, follow=True
    )
    assert "Variant B of the English version:" in saved.content.decode()


def test_the_preview_shows_variant_b(client_marketer, form):
    data = {**form, **ab_fields(subject=SUBJECT_B), "preview_language": "en"}
    shown_a = client_marketer.post(reverse("campaigns:preview"), data).json()
    shown_b = client_marketer.post(reverse("campaigns:preview"), {**data, "ab-preview_variant": "b"}).json()
    assert shown_a["subject"] == "Neues im Herbst" and shown_b["subject"] == SUBJECT_B
    body_b = client_marketer.post(
        reverse("campaigns:preview"),
        {
            **form,
            **ab_fields(
                kind="body",
                mjml_body="<mj-section><mj-column><mj-text>Text B</mj-text></mj-column></mj-section>",
            ),
            "ab-preview_variant": "b",
        },
    ).json()
    assert "Text B" in body_b["html"] and body_b["subject"] == "Neues im Herbst"


def test_a_test_send_of_variant_b(client_marketer, campaign):
    abtest.save_ab_test(
        campaign=campaign,
        enabled=True,
        kind="subject",
        sample_percent=20,
        wait_hours=24,
        variants={"en": {"subject": SUBJECT_B}},
    )
    detail = client_marketer.get(reverse("campaigns:detail", args=[campaign.pk])).content.decode()
    assert 'name="variant"' in detail
    for variant in ("a", "b"):
        client_marketer.post(
            reverse("campaigns:test_send", args=[campaign.pk]),
            {"addresses": "me@example.org", "variant": variant},
        )
    assert list(CapturedMail.objects.order_by("pk").values_list("subject", flat=True)) == [
        "[TEST] Neues im Herbst",
        f"[TEST] {SUBJECT_B}",
    ]


def test_launch_confirmation_decide_by_hand_and_the_result_on_both_pages(client_marketer, campaign, topic):
    people = [make_subscriber(f"p{i}@example.org", topic) for i in range(40)]
    abtest.save_ab_test(
        campaign=campaign,
        enabled=True,
        kind="subject",
        sample_percent=50,
        wait_hours=24,
        variants={"en": {"subject": SUBJECT_B}},
    )
    sample = abtest.sample_of(campaign.ab_test)
    a = sum(sample.variant(p.pk) == "a" for p in people)
    b = sum(sample.variant(p.pk) == "b" for p in people)
    rest = 40 - a - b
    plan = (
        f"2 x {a} people get A or B now" if a == b else f"{a} people get A and {b} get B now"
    ) + f", the rest ({rest}) in 24 h the variant with more repliers."
    detail = client_marketer.get(reverse("campaigns:detail", args=[campaign.pk])).content.decode()
    assert plan in detail
    confirm = client_marketer.post(reverse("campaigns:launch", args=[campaign.pk]), {}).content.decode()
    assert plan in confirm
    with TestCase.captureOnCommitCallbacks(execute=True):
        client_marketer.post(reverse("campaigns:launch", args=[campaign.pk]), {"confirmed": "1"})
    assert Delivery.objects.filter(campaign=campaign).count() == a + b
    # Two people replied to B, one to A, and an auto-reply to A does not count.
    for delivery, kind in zip(
        [
            *Delivery.objects.filter(campaign=campaign, variant="b")[:2],
            *Delivery.objects.filter(variant="a")[:2],
        ],
        [
            InboundMessage.Kind.HUMAN,
            InboundMessage.Kind.HUMAN,
            InboundMessage.Kind.HUMAN,
            InboundMessage.Kind.AUTO_REPLY,
        ],
        strict=True,
    ):
        conversation = Conversation.objects.create(subscriber=delivery.subscriber, campaign=campaign)
        Message.objects.create(
            conversation=conversation, delivery=delivery, direction=Message.Direction.INBOUND, kind=kind
        )
    running = client_marketer.get(reverse("campaigns:detail", args=[campaign.pk])).content.decode()
    assert f"So far 1 of {a} replied to A and 2 of {b} to B; B would win." in running
    assert 'id="ab-decide"' in running
    asked = client_marketer.post(reverse("campaigns:ab_decide", args=[campaign.pk])).content.decode()
    assert "Decide the A/B test of “Herbst” now?" in asked and 'data-confirm="ab_decide"' in asked
    assert not ABTest.objects.get(campaign=campaign).decided_at
    with TestCase.captureOnCommitCallbacks(execute=True):
        client_marketer.post(reverse("campaigns:ab_decide", args=[campaign.pk]), {"confirmed": "1"})
    test = ABTest.objects.get(campaign=campaign)
    assert (test.winner, test.repliers_a, test.repliers_b, test.decided_by.username) == ("b", 1, 2, "mia")
    assert set(Delivery.objects.exclude(variant__in=["a", "b"]).values_list("variant", flat=True)) == set()
    assert Delivery.objects.filter(campaign=campaign).count() == 40
    assert Delivery.objects.filter(campaign=campaign, variant="b").count() == b + rest
    result = f"B won: 2 of {b} replied vs 1 of {a}."
    for name in ("campaigns:detail", "campaigns:stats"):
        page = client_marketer.get(reverse(name, args=[campaign.pk])).content.decode()
        assert result in page and "Decided by hand by mia" in page
    stats = client_marketer.get(reverse("campaigns:stats", args=[campaign.pk])).content.decode()
    assert 'id="as-sent-b"' in stats and SUBJECT_B in stats  # variant B's content as sent
    german = client_marketer.get(
        reverse("campaigns:stats", args=[campaign.pk]), HTTP_ACCEPT_LANGUAGE="de"
    ).content.decode()
    assert f"B hat gewonnen: 2 von {b} haben geantwortet, bei A 1 von {a}." in german
    # Decided once: a second click changes nothing.
    client_marketer.post(reverse("campaigns:ab_decide", args=[campaign.pk]), {"confirmed": "1"})
    assert ABTest.objects.get(campaign=campaign).decided_at == test.decided_at


def test_a_campaign_without_a_test_shows_no_section(client_marketer, campaign):
    detail = client_marketer.get(reverse("campaigns:detail", args=[campaign.pk])).content.decode()
    assert 'id="ab-test"' not in detail and 'name="variant"' not in detail
    response = client_marketer.post(reverse("campaigns:ab_decide", args=[campaign.pk]), follow=True)
    assert "This campaign has no A/B test." in response.content.decode()


def test_the_editor_section_and_the_plan_in_german(client_marketer, form, campaign, topic):
    make_subscriber("p@example.org", topic)
    abtest.save_ab_test(
        campaign=campaign,
        enabled=True,
        kind="subject",
        sample_percent=100,
        wait_hours=24,
        variants={"en": {"subject": SUBJECT_B}},
    )
    edit = client_marketer.get(
        reverse("campaigns:edit", args=[campaign.pk]), HTTP_ACCEPT_LANGUAGE="de"
    ).content.decode()
    assert "A/B-Test nach Antworten" in edit and "Betreffzeile und Vorschautext" in edit
    assert "Stichprobe (Prozent der Empfänger)" in edit
    assert "Variante B: Englisch" in edit and "Betreff B" in edit and "Die Vorschau zeigt" in edit
    detail = client_marketer.get(
        reverse("campaigns:detail", args=[campaign.pk]), HTTP_ACCEPT_LANGUAGE="de"
    ).content.decode()
    assert "die Stichprobe sind alle Empfänger, die Gewinnerin wird nach 24 h festgehalten." in detail
    assert "Stichprobe: 100 % der Empfänger, entschieden nach 24 h" in detail
