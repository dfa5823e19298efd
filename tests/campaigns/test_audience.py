"""Audience rules, counts by exclusion reason, keyset paging."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from campaigns.models import Delivery
from campaigns.selectors import audience_pages, count_audience
from subscribers.models import Subscriber, Suppression, Topic, email_hash

from .conftest import make_subscriber

pytestmark = pytest.mark.django_db


@pytest.mark.usefixtures("frozen_clock")  # compares values signed or dated at two moments
def test_audience_honours_every_rule(campaign, topic, owner):
    other = Topic.objects.create(slug="other", name="Other")
    today = timezone.localdate()
    ok = make_subscriber("ok@example.org", topic)
    make_subscriber("pending@example.org", topic, status=Subscriber.Status.PENDING)
    make_subscriber("left-topic@example.org", topic, sub_status="unsubscribed")
    make_subscriber("other-topic@example.org", other)
    suppressed = make_subscriber("bounced@example.org", topic)
    Suppression.objects.create(email_hash=email_hash(suppressed.email), reason="hard_bounce")
    make_subscriber("paused@example.org", topic, paused_until=today)
    pause_over = make_subscriber("pause-over@example.org", topic, paused_until=today - timedelta(days=1))
    capped = make_subscriber("capped@example.org", topic, frequency="week", frequency_limit=1)
    under_cap = make_subscriber("under@example.org", topic, frequency="month", frequency_limit=2)
    earlier = campaign.__class__.objects.create(name="Earlier", subject="x", mjml_body="")
    for n, subscriber in enumerate([capped, under_cap]):
        Delivery.objects.create(
            campaign=earlier,
            subscriber=subscriber,
            reply_token=f"t{n}",
            message_id=f"<m{n}@x>",
            status=Delivery.Status.SENT,
            sent_at=timezone.now() - timedelta(days=2),
        )
    already = make_subscriber("already@example.org", topic)
    Delivery.objects.create(campaign=campaign, subscriber=already, reply_token="t9", message_id="<m9@x>")

    ids = [sid for page in audience_pages(campaign, page_size=2) for sid, _hash in page]
    recipients = set(Subscriber.objects.filter(pk__in=ids).values_list("email", flat=True))
    assert recipients == {ok.email, pause_over.email, under_cap.email}
    count = count_audience(campaign)
    assert count.recipients == 3
    assert count.excluded == {"suppressed": 1, "already_delivered": 1, "paused": 1, "frequency_cap": 1}
    assert count.candidates == 7


def test_audience_pages_are_keyset_paged(campaign, topic):
    created = [make_subscriber(f"s{n}@example.org", topic).pk for n in range(7)]
    pages = list(audience_pages(campaign, page_size=3))
    assert [len(p) for p in pages] == [3, 3, 1]
    assert [sid for page in pages for sid, _h in page] == sorted(created)
