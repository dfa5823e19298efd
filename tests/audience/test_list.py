"""The subscriber list: search, filters, sorting, keyset pagination and counts."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db.models import BooleanField
from django.db.models.expressions import RawSQL
from django.urls import reverse
from django.utils import timezone

from audience import selectors
from audience.filters import AttributeCondition, AudienceFilter, subscribers_matching
from subscribers.models import Attribute, ConsentEvent, Subscriber, Suppression, Topic, email_hash
from tests.audience.conftest import make_subscriber

pytestmark = pytest.mark.django_db


def emails(spec: AudienceFilter) -> set[str]:
    return set(subscribers_matching(spec).values_list("email", flat=True))


def test_search_finds_address_and_name_in_any_case(topic):
    make_subscriber("anna.berg@example.org", topic, name="Anna Berg")
    make_subscriber("carl@example.org", topic, name="Carl Dorn")
    assert emails(AudienceFilter(q="BERG")) == {"anna.berg@example.org"}
    assert emails(AudienceFilter(q="dorn")) == {"carl@example.org"}
    assert emails(AudienceFilter(q="example")) == {"anna.berg@example.org", "carl@example.org"}


def test_filters_status_topic_language_and_suppression(topic):
    other = Topic.objects.create(slug="events", name="Events")
    make_subscriber("a@example.org", topic, language="en")
    make_subscriber("b@example.org", other)
    make_subscriber("c@example.org", topic, status=Subscriber.Status.PENDING)
    make_subscriber("d@example.org", topic)
    Suppression.objects.create(email_hash=email_hash("d@example.org"), reason=Suppression.Reason.HARD_BOUNCE)
    assert emails(AudienceFilter(status="pending")) == {"c@example.org"}
    assert emails(AudienceFilter(topic=other.pk)) == {"b@example.org"}
    assert emails(AudienceFilter(language="en")) == {"a@example.org"}
    assert emails(AudienceFilter(suppression="any")) == {"d@example.org"}
    assert emails(AudienceFilter(suppression="hard_bounce")) == {"d@example.org"}
    assert emails(AudienceFilter(suppression="complaint")) == set()
    assert "d@example.org" not in emails(AudienceFilter(suppression="none"))


def test_filters_source_and_consent_dates(topic):
    now = timezone.now()
    old = make_subscriber("old@example.org", topic, confirmed_at=now - timedelta(days=400))
    new = make_subscriber("new@example.org", topic, confirmed_at=now - timedelta(days=2))
    ConsentEvent.objects.create(subscriber=old, email_hash=old.email_hash, kind="imported", source="import")
    ConsentEvent.objects.create(subscriber=new, email_hash=new.email_hash, kind="requested", source="form")
    assert emails(AudienceFilter(source="import")) == {"old@example.org"}
    assert emails(AudienceFilter(consent_from=(now - timedelta(days=10)).date())) == {"new@example.org"}
    assert emails(AudienceFilter(consent_to=(now - timedelta(days=300)).date())) == {"old@example.org"}
    assert emails(AudienceFilter(consent_older_than_days=365)) == {"old@example.org"}
    assert emails(AudienceFilter(consent_newer_than_days=30)) == {"new@example.org"}


def test_filters_typed_attributes(topic):
    Attribute.objects.create(key="city", label_en="City", label_de="Stadt", kind="text")
    Attribute.objects.create(key="age", label_en="Age", label_de="Alter", kind="number")
    Attribute.objects.create(key="member", label_en="Member", label_de="Mitglied", kind="yes_no")
    Attribute.objects.create(key="since", label_en="Since", label_de="Seit", kind="date")
    make_subscriber(
        "a@example.org", topic, attributes={"city": "Köln", "age": 34, "member": True, "since": "2020-05-01"}
    )
    make_subscriber("b@example.org", topic, attributes={"city": "Bonn", "age": 61, "member": False})
    make_subscriber("c@example.org", topic)
    assert emails(AudienceFilter(attributes=(AttributeCondition("city", "Köln"),))) == {"a@example.org"}
    assert emails(AudienceFilter(attributes=(AttributeCondition("age", "61"),))) == {"b@example.org"}
    assert emails(AudienceFilter(attributes=(AttributeCondition("age", minimum="40"),))) == {"b@example.org"}
    assert emails(AudienceFilter(attributes=(AttributeCondition("age", maximum="40"),))) == {"a@example.org"}
    assert emails(AudienceFilter(attributes=(AttributeCondition("member", "yes"),))) == {"a@example.org"}
    assert emails(AudienceFilter(attributes=(AttributeCondition("member", "no"),))) == {"b@example.org"}
    assert emails(AudienceFilter(attributes=(AttributeCondition("since", minimum="2020-01-01"),))) == {
        "a@example.org"
    }
    # A condition on a field that no longer exists narrows nothing.
    assert len(emails(AudienceFilter(attributes=(AttributeCondition("gone", "x"),)))) == 3


def test_the_list_page_filters_through_the_query_string(marketer_client, topic):
    make_subscriber("anna@example.org", topic, name="Anna")
    make_subscriber("bert@example.org", topic, language="en")
    page = marketer_client.get(reverse("audience:list"), {"q": "anna"}).content.decode()
    assert "anna@example.org" in page and "bert@example.org" not in page
    assert "1 subscriber<" in page
    page = marketer_client.get(reverse("audience:list"), {"language": "en"}).content.decode()
    assert "bert@example.org" in page and "anna@example.org" not in page


@pytest.mark.parametrize("sort", [s.key for s in selectors.SORTS])
def test_every_sort_order_pages_through_everyone_once_in_order(topic, sort):
    now = timezone.now()
    for index in range(7):
        make_subscriber(
            f"s{index}@example.org",
            topic,
            name=["Zoe", "Anna", "Anna", "", "Mia", "Bo", "Anna"][index],
            status=Subscriber.Status.PENDING if index in (2, 5) else Subscriber.Status.CONFIRMED,
            confirmed_at=now - timedelta(days=index % 3) if index not in (2, 5) else None,
        )
    qs = Subscriber.objects.all()
    seen, cursor = [], ""
    while True:
        page = selectors.subscriber_page(qs, sort=sort, cursor=cursor, limit=2)
        seen += [row.subscriber for row in page.rows]
        if not page.next_cursor:
            break
        cursor = page.next_cursor
    assert len(seen) == 7 and len({s.pk for s in seen}) == 7
    keys = {
        "newest": lambda s: -s.pk,
        "oldest": lambda s: s.pk,
        "email": lambda s: s.email,
        "email_desc": lambda s: s.email,
        "name": lambda s: (s.name, s.pk),
        "confirmed": lambda s: (
            s.confirmed_at is None,
            -(s.confirmed_at.timestamp() if s.confirmed_at else 0),
            -s.pk,
        ),
    }
    assert seen == sorted(seen, key=keys[sort], reverse=sort == "email_desc")


def test_a_cursor_made_by_hand_shows_the_first_page(marketer_client, topic):
    make_subscriber("a@example.org", topic)
    response = marketer_client.get(reverse("audience:list"), {"cursor": "not-a-cursor"}, follow=True)
    assert response.status_code == 200
    assert "a@example.org" in response.content.decode()


def test_the_next_page_link_continues_after_the_last_row(marketer_client, topic, monkeypatch):
    for index in range(selectors.PAGE_SIZE + 3):
        make_subscriber(f"p{index:03}@example.org", topic)
    first = marketer_client.get(reverse("audience:list"), {"sort": "email"})
    next_query = first.context["next_query"]
    assert "p000@example.org" in first.content.decode()
    second = marketer_client.get(f"{reverse('audience:list')}?{next_query}").content.decode()
    assert f"p{selectors.PAGE_SIZE:03}@example.org" in second and "p000@example.org" not in second


def test_counts_are_exact_when_quick_and_estimated_when_slow(topic):
    for index in range(5):
        make_subscriber(f"c{index}@example.org", topic)
    assert selectors.count(Subscriber.objects.all()) == selectors.Total(5, exact=True)
    slow = Subscriber.objects.filter(
        RawSQL("(SELECT pg_sleep(0.2)) IS NULL", [], output_field=BooleanField())
    )
    total = selectors.count(slow, budget_ms=50)
    assert total.exact is False and total.value >= 0


def test_an_estimate_says_so():
    assert selectors.Total(1000000, exact=False).label == (
        "about 1,000,000 subscribers (estimated: counting them exactly would take too long)"
    )
    assert selectors.Total(1, exact=True).label == "1 subscriber"


@pytest.mark.parametrize("sort", [s.key for s in selectors.SORTS])
def test_the_replanned_page_query_returns_the_same_page(topic, sort):
    """When the index walk runs out of time, the page is asked for with fenced sort keys (same rows)."""
    for index in range(6):
        make_subscriber(f"f{index}@example.org", topic, name=["B", "A", "B", "", "C", "A"][index])
    qs = Subscriber.objects.all()
    first = selectors._keyset(qs, sort, None, 3)
    cursor = selectors._cursor_of(first[-1], sort)
    for fenced in (False, True):
        assert selectors._keyset(qs, sort, None, 3, fenced) == first
    assert selectors._keyset(qs, sort, cursor, 3, True) == selectors._keyset(qs, sort, cursor, 3, False)


def test_a_result_too_big_to_count_in_time_gets_the_estimate_at_once(topic, monkeypatch):
    for index in range(5):
        make_subscriber(f"e{index}@example.org", topic)
    monkeypatch.setattr(selectors, "COUNTABLE_IN_BUDGET", 2)  # as if five were millions
    total = selectors.count(Subscriber.objects.all())
    assert total.exact is False and total.value > 2


def test_a_list_page_and_its_count_share_one_estimate(topic, monkeypatch):
    for index in range(4):
        make_subscriber(f"l{index}@example.org", topic)
    qs = Subscriber.objects.order_by()
    page, total = selectors.list_page(qs, sort="email")
    assert [row.subscriber.email for row in page.rows] == [f"l{index}@example.org" for index in range(4)]
    assert total == selectors.Total(4, exact=True)
    with pytest.raises(selectors.BadCursor):
        selectors.list_page(qs, sort="email", cursor="not-a-cursor")


def test_a_small_expected_result_gets_a_short_walk_then_the_fenced_query(topic, monkeypatch):
    """The walk is cut at SHORT_WALK_MS (here: a filter that sleeps), the fenced query answers."""
    for index in range(3):
        make_subscriber(f"w{index}@example.org", topic)
    slow = Subscriber.objects.filter(
        RawSQL("(SELECT true FROM pg_sleep(0.1))", [], output_field=BooleanField())
    )
    asked = []
    real = selectors._keyset

    def keyset(*args):
        asked.append(args[-1])
        return real(*args)

    monkeypatch.setattr(selectors, "_keyset", keyset)
    monkeypatch.setattr(selectors, "SHORT_WALK_MS", 20)
    page = selectors.subscriber_page(slow, sort="newest", expected=3)
    assert asked == [False, True]
    assert [row.subscriber.email for row in page.rows] == [
        "w2@example.org",
        "w1@example.org",
        "w0@example.org",
    ]
