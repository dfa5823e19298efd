"""A/B test by replies: a deterministic, even sample gets A or B; after the wait (time-machine) the
variant more people replied to (human replies through the real inbound pipeline; auto-replies do
not count) wins, recorded once, and the rest of the audience gets it over a real SMTP sink."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta

import pytest
import time_machine
from django.core import mail
from django.test import TestCase

from campaigns import abtest, services
from campaigns.models import ABTest, Campaign, Delivery
from campaigns.sampling import BUCKETS, Sample, bucket
from campaigns.selectors import ab_counts, audience_pages, count_audience, count_sample
from campaigns.tasks import decide_due_ab_tests_task
from dialogue.webview import own_mail
from replies.models import InboundMessage
from replies.services import store_inbound
from rundbrief.mail.addresses import REPLY
from tests.conftest import FROZEN_AT

from .conftest import make_subscriber
from .esp_edge import EDGE

SUBJECT_B = "Was meinen Sie zum Herbst?"
BODY_B = """<mj-section>
  <mj-column>
    <mj-text>Variante B für {{ subscriber.name|default:"dich" }}: schreib uns zurück.</mj-text>
  </mj-column>
</mj-section>"""


def ab(campaign: Campaign, *, kind: str = ABTest.Kind.SUBJECT, percent: int = 50, hours: int = 24) -> ABTest:
    fields = (
        {"subject": SUBJECT_B, "preheader": "B kurz"}
        if kind == ABTest.Kind.SUBJECT
        else {"mjml_body": BODY_B}
    )
    return abtest.save_ab_test(
        campaign=campaign,
        enabled=True,
        kind=kind,
        sample_percent=percent,
        wait_hours=hours,
        variants={campaign.default_language: fields},
    )


def audience(topic, n: int) -> list:
    return [make_subscriber(f"p{i}@example.org", topic, name=f"P{i}") for i in range(n)]


def reply(delivery: Delivery, *, auto: bool = False, n: int = 0) -> InboundMessage:
    """A reply mail from the delivery's subscriber to its reply address, through the real pipeline."""
    headers = "Auto-Submitted: auto-replied\r\n" if auto else ""
    subject = "Abwesenheitsnotiz" if auto else "Re: Herbst"
    body = "Ich bin bis Montag nicht im Büro." if auto else "Gute Frage, hier meine Meinung."
    raw = (
        f"From: {delivery.subscriber.email}\r\nTo: {REPLY.address(delivery.reply_token)}\r\n"
        f"Subject: {subject}\r\nMessage-ID: <r{delivery.pk}.{n}.{int(auto)}@example.org>\r\n{headers}"
        f"Content-Type: text/plain; charset=utf-8\r\n\r\n{body}\r\n"
    ).encode()
    with TestCase.captureOnCommitCallbacks(execute=True):
        inbound = store_inbound(raw, source=InboundMessage.Source.PIPE)
    inbound.refresh_from_db()
    return inbound


def test_the_split_is_deterministic_even_and_differs_per_campaign():
    sample = Sample.of(7, 20)
    variants = Counter(sample.variant(i) for i in range(1, 65537))
    # 65,536 consecutive ids fill every bucket once: exactly 10 % each, the rest outside.
    assert variants["a"] == variants["b"] == round(BUCKETS * 0.1)
    assert Sample.of(7, 20) == sample and [sample.variant(i) for i in range(50)] == [
        Sample.of(7, 20).variant(i) for i in range(50)
    ]
    # Any stretch of ids (early or late subscribers) is split evenly too: no bias by sign-up time.
    for start in (1, 30_001, 1_000_001):
        stretch = Counter(sample.variant(i) for i in range(start, start + 2000))
        assert abs(stretch["a"] - 200) <= 3 and abs(stretch["b"] - 200) <= 3
    other = Sample.of(8, 20)
    picked = {i for i in range(1, 2001) if sample.variant(i)}
    assert picked != {i for i in range(1, 2001) if other.variant(i)}
    assert bucket(7, 5) == bucket(7, 5) != bucket(8, 5)


@pytest.mark.django_db
def test_the_sql_sample_is_the_python_one_and_counted_for_the_confirmation(campaign, topic):
    people = audience(topic, 120)
    ab(campaign, percent=40)
    sample = abtest.sample_of(abtest.test_of(campaign))
    queued = [sid for page in audience_pages(campaign, page_size=25, sample=sample) for sid, _hash in page]
    expected = [p.pk for p in people if sample.variant(p.pk)]
    assert queued == expected and 30 <= len(queued) <= 66
    count = count_sample(campaign, sample, recipients=count_audience(campaign).recipients)
    assert count.a == sum(sample.variant(p.pk) == "a" for p in people)
    assert count.b == sum(sample.variant(p.pk) == "b" for p in people)
    assert count.a + count.b + count.rest == 120


@pytest.mark.django_db(transaction=True)
def test_b_wins_by_repliers_and_the_rest_gets_b_over_smtp(campaign, topic, smtp_settings):
    people = audience(topic, 60)
    ab(campaign, percent=50, hours=24)
    with time_machine.travel(FROZEN_AT) as clock:
        services.launch_campaign(campaign=campaign)
        campaign.refresh_from_db()
        test = campaign.ab_test
        sample = abtest.sample_of(test)
        in_sample = {p.pk for p in people if sample.variant(p.pk)}
        # Only the sample is queued and sent, each with its variant's subject.
        deliveries = list(Delivery.objects.filter(campaign=campaign).select_related("subscriber"))
        assert {d.subscriber_id for d in deliveries} == in_sample
        assert all(d.variant == sample.variant(d.subscriber_id) for d in deliveries)
        assert len(smtp_settings.messages) == len(in_sample)
        subjects = {m["To"].addresses[0].addr_spec: m["Subject"] for m in smtp_settings.messages}
        for d in deliveries:
            assert subjects[d.subscriber.email] == (SUBJECT_B if d.variant == "b" else "Neues im Herbst")
        assert campaign.status == Campaign.Status.SENDING and campaign.queued_all_at is None
        assert test.sample_queued_at is not None

        a = [d for d in deliveries if d.variant == "a"]
        b = [d for d in deliveries if d.variant == "b"]
        # B: three people reply (one of them twice). A: one person, and three auto-replies, which
        # would make A win if they counted.
        for d in b[:3]:
            assert reply(d).kind == InboundMessage.Kind.HUMAN
        reply(b[0], n=1)
        reply(a[0])
        for d in a[1:4]:
            assert reply(d, auto=True).kind == InboundMessage.Kind.AUTO_REPLY

        # Before the wait has passed nothing is decided.
        clock.shift(timedelta(hours=23))
        services.recover_stalled_sends(older_than=timedelta(0))  # the sweeper leaves the waiting test alone
        assert decide_due_ab_tests_task() == 0
        assert Delivery.objects.filter(campaign=campaign).count() == len(in_sample)

        clock.shift(timedelta(hours=1, minutes=1))
        assert decide_due_ab_tests_task() == 1
        test.refresh_from_db()
        assert (test.winner, test.tie, test.decided_by) == ("b", False, None)
        assert (test.repliers_a, test.repliers_b) == (1, 3)
        assert (test.delivered_a, test.delivered_b) == (len(a), len(b))
        decided_at = test.decided_at

        # The rest got B's subject; the campaign is sent.
        rest = [p for p in people if p.pk not in in_sample]
        assert len(smtp_settings.messages) == 60
        subjects = {m["To"].addresses[0].addr_spec: m["Subject"] for m in smtp_settings.messages}
        assert {subjects[p.email] for p in rest} == {SUBJECT_B}
        assert set(Delivery.objects.filter(subscriber__in=rest).values_list("variant", flat=True)) == {"b"}
        campaign.refresh_from_db()
        assert campaign.status == Campaign.Status.SENT

        # The beat task again (or a click): one decision, nothing sent twice.
        clock.shift(timedelta(minutes=1))
        assert decide_due_ab_tests_task() == 0
        again = abtest.decide(campaign=campaign)
        assert again.decided_at == decided_at and again.winner == "b"
        assert len(smtp_settings.messages) == 60
        assert smtp_settings.counts.most_common(1)[0][1] == 1


@pytest.mark.django_db(transaction=True)
def test_a_tie_goes_to_a_and_is_recorded_as_a_tie(campaign, topic, smtp_settings):
    people = audience(topic, 30)
    ab(campaign, percent=60, hours=2)
    with time_machine.travel(FROZEN_AT) as clock:
        services.launch_campaign(campaign=campaign)
        deliveries = list(Delivery.objects.filter(campaign=campaign).select_related("subscriber"))
        reply(next(d for d in deliveries if d.variant == "a"))
        reply(next(d for d in deliveries if d.variant == "b"))
        clock.shift(timedelta(hours=3))
        assert decide_due_ab_tests_task() == 1
    test = ABTest.objects.get(campaign=campaign)
    assert (test.winner, test.tie, test.repliers_a, test.repliers_b) == ("a", True, 1, 1)
    subjects = {m["To"].addresses[0].addr_spec: m["Subject"] for m in smtp_settings.messages}
    rest = [p for p in people if not abtest.sample_of(test).variant(p.pk)]
    assert rest and {subjects[p.email] for p in rest} == {"Neues im Herbst"}


@pytest.mark.django_db(transaction=True)
def test_a_body_variant_is_sent_as_its_body_and_shown_in_the_web_view(campaign, topic, smtp_settings):
    audience(topic, 20)
    ab(campaign, kind=ABTest.Kind.BODY, percent=100)
    services.launch_campaign(campaign=campaign)
    by_address = {m["To"].addresses[0].addr_spec: m for m in smtp_settings.messages}
    for d in Delivery.objects.filter(campaign=campaign).select_related("subscriber", "campaign"):
        text = by_address[d.subscriber.email].get_body(("plain",)).get_content()
        assert by_address[d.subscriber.email]["Subject"] == "Neues im Herbst"
        assert ("Variante B für" in text) == (d.variant == "b")
        assert ("Variante B für" in own_mail(d).html) == (d.variant == "b")


@pytest.mark.django_db
def test_a_paused_test_waits_and_the_counts_ignore_bounces(campaign, topic, settings):
    audience(topic, 20)
    ab(campaign, percent=100, hours=1)
    with time_machine.travel(FROZEN_AT) as clock:
        with TestCase.captureOnCommitCallbacks(execute=True):
            services.launch_campaign(campaign=campaign)
        services.pause_campaign(campaign=campaign)
        delivery = (
            Delivery.objects.filter(campaign=campaign, variant="a").select_related("subscriber").first()
        )
        Delivery.objects.filter(pk=delivery.pk).update(status=Delivery.Status.BOUNCED)
        clock.shift(timedelta(hours=2))
        assert decide_due_ab_tests_task() == 0  # paused: it waits for the resume
        counts = ab_counts(campaign)
        assert counts.repliers_a == counts.repliers_b == 0
        assert counts.delivered_a + counts.delivered_b == 20  # a bounced mail was delivered first
        with TestCase.captureOnCommitCallbacks(execute=True):
            services.resume_campaign(campaign=campaign)
        assert decide_due_ab_tests_task() == 1
    campaign.refresh_from_db()
    assert campaign.ab_test.winner == "a" and campaign.ab_test.tie


@pytest.mark.django_db
def test_a_launch_is_refused_without_a_sendable_variant_b(campaign, topic):
    audience(topic, 3)
    abtest.save_ab_test(
        campaign=campaign,
        enabled=True,
        kind=ABTest.Kind.SUBJECT,
        sample_percent=20,
        wait_hours=24,
        variants={},
    )
    with pytest.raises(services.CampaignStateError, match="Variant B of the English version is missing"):
        services.launch_campaign(campaign=campaign)
    abtest.save_ab_test(
        campaign=campaign,
        enabled=True,
        kind=ABTest.Kind.SUBJECT,
        sample_percent=20,
        wait_hours=24,
        variants={"en": {"subject": "Hallo {{ subscriber.nmae }}"}},
    )
    with pytest.raises(services.CampaignStateError, match="uses variables no mail has"):
        services.launch_campaign(campaign=campaign)
    abtest.save_ab_test(
        campaign=campaign,
        enabled=True,
        kind=ABTest.Kind.BODY,
        sample_percent=20,
        wait_hours=24,
        variants={"en": {"mjml_body": "<mj-section><mj-column><mj-text>x</mj-column></mj-section>"}},
    )
    with pytest.raises(services.CampaignStateError, match="cannot be rendered"):
        services.launch_campaign(campaign=campaign)
    assert not Delivery.objects.exists()
    # Switched off, the campaign launches as usual and B is kept.
    abtest.save_ab_test(
        campaign=campaign,
        enabled=False,
        kind=ABTest.Kind.BODY,
        sample_percent=20,
        wait_hours=24,
        variants={"en": {"mjml_body": "kept"}},
    )
    with TestCase.captureOnCommitCallbacks(execute=True):
        services.launch_campaign(campaign=campaign)
    assert Delivery.objects.filter(campaign=campaign, variant="").count() == 3
    assert campaign.ab_test.variants.get().mjml_body == "kept"


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("percent", "hours", "message"),
    [
        (1, 24, "between 2 and 100 percent"),
        (101, 24, "between 2 and 100 percent"),
        (20, 0, "between 1 and 720"),
    ],
)
def test_settings_out_of_range_are_refused(campaign, percent, hours, message):
    with pytest.raises(abtest.ABTestError, match=message):
        abtest.save_ab_test(
            campaign=campaign,
            enabled=True,
            kind=ABTest.Kind.SUBJECT,
            sample_percent=percent,
            wait_hours=hours,
            variants={},
        )
    assert not ABTest.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_each_language_gets_its_own_variant_b_and_a_language_without_a_version_the_defaults(
    topic, marketer, smtp_settings
):
    campaign = services.save_campaign(
        name="Autumn",
        topics=[topic],
        subject="Autumn news",
        mjml_body=BODY_B.replace("Variante B für", "Autumn for"),
        user=marketer,
        default_language="en",
        versions={
            "de": {"subject": "Neues im Herbst", "mjml_body": BODY_B.replace("Variante B für", "Herbst für")}
        },
    )
    abtest.save_ab_test(
        campaign=campaign,
        enabled=True,
        kind=ABTest.Kind.SUBJECT,
        sample_percent=100,
        wait_hours=24,
        variants={"en": {"subject": "What do you think?"}, "de": {"subject": "Was meinen Sie?"}},
    )
    people = [make_subscriber(f"de{i}@example.org", topic, language="de") for i in range(8)]
    people += [make_subscriber(f"en{i}@example.org", topic, language="en") for i in range(8)]
    services.launch_campaign(campaign=campaign)
    subjects = {m["To"].addresses[0].addr_spec: m["Subject"] for m in smtp_settings.messages}
    variants = dict(Delivery.objects.filter(campaign=campaign).values_list("subscriber__email", "variant"))
    expected = {
        ("de", "a"): "Neues im Herbst",
        ("de", "b"): "Was meinen Sie?",
        ("en", "a"): "Autumn news",
        ("en", "b"): "What do you think?",
    }
    assert {p.email: subjects[p.email] for p in people} == {
        p.email: expected[(p.language, variants[p.email])] for p in people
    }
    assert set(variants.values()) == {"a", "b"}


@pytest.mark.django_db(transaction=True)
def test_on_an_esp_each_mail_of_a_test_is_sent_on_its_own_with_its_variant(campaign, topic, settings):
    settings.EMAIL_DELIVERY = "esp"
    settings.EMAIL_BACKEND = "tests.campaigns.esp_edge.EmailBackend"
    settings.ANYMAIL_ESP = "mailgun"
    EDGE.reset()
    mail.outbox = []
    audience(topic, 10)
    ab(campaign, percent=100)
    services.launch_campaign(campaign=campaign)
    assert len(mail.outbox) == 10 and not any(m.anymail_test_params.get("is_batch_send") for m in mail.outbox)
    variants = dict(Delivery.objects.filter(campaign=campaign).values_list("subscriber__name", "variant"))
    assert set(variants.values()) == {"a", "b"}
    for message in mail.outbox:
        name = message.to[0].split(" <")[0]
        assert message.subject == (SUBJECT_B if variants[name] == "b" else "Neues im Herbst")
    EDGE.reset()


@pytest.mark.django_db
def test_a_duplicate_keeps_the_test_but_not_its_decision(campaign, marketer):
    test = ab(campaign)
    ABTest.objects.filter(pk=test.pk).update(decided_at=FROZEN_AT, winner="b", repliers_b=3)
    copy = services.duplicate_campaign(campaign=campaign, user=marketer)
    copied = copy.ab_test
    assert (copied.enabled, copied.kind, copied.sample_percent, copied.winner, copied.decided_at) == (
        True,
        "subject",
        50,
        "",
        None,
    )
    assert copied.variants.get().subject == SUBJECT_B


@pytest.mark.django_db
def test_a_test_cancelled_during_the_wait_is_never_decided(campaign, topic):
    audience(topic, 20)
    ab(campaign, percent=50, hours=1)
    with time_machine.travel(FROZEN_AT) as clock:
        with TestCase.captureOnCommitCallbacks(execute=True):
            services.launch_campaign(campaign=campaign)
        sampled = Delivery.objects.filter(campaign=campaign).count()
        services.cancel_campaign(campaign=campaign)
        clock.shift(timedelta(hours=2))
        assert decide_due_ab_tests_task() == 0
        with pytest.raises(abtest.ABTestError, match="Only an A/B test that is running"):
            abtest.decide(campaign=campaign)
    assert Delivery.objects.filter(campaign=campaign).count() == sampled
    assert ABTest.objects.get(campaign=campaign).decided_at is None
