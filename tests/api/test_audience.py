"""Attributes, segments and CSV import jobs through /api/v1/ (the audience desk's services)."""

from __future__ import annotations

import pytest

from api.models import ApiWrite
from campaigns.models import Campaign
from subscribers.models import Attribute, ConsentEvent, ImportJob, Segment, Subscriber, SubscriberChange
from tests.campaigns.conftest import BODY

pytestmark = pytest.mark.django_db


@pytest.fixture
def plan(db):
    return Attribute.objects.create(
        key="plan", label_en="Plan", label_de="Tarif", kind="choice", choices=["free", "pro"]
    )


def test_attributes_are_listed_and_set_with_their_type_checked(api_as, make_subscriber, plan, manager):
    ada = make_subscriber()
    api = api_as()
    assert api.get("/attributes").json() == [
        {"key": "plan", "label_en": "Plan", "label_de": "Tarif", "kind": "choice", "choices": ["free", "pro"],
         "is_public": False}
    ]  # fmt: skip
    response = api.patch(f"/subscribers/{ada.pk}", {"attributes": {"plan": "pro"}})
    assert response.status_code == 200, response.json()
    assert response.json()["subscriber"]["attributes"] == {"plan": "pro"}
    change = SubscriberChange.objects.get()
    assert (change.changed_by, change.changes) == (manager, {"attributes.plan": [None, "pro"]})
    wrong = api.patch(f"/subscribers/{ada.pk}", {"attributes": {"plan": "gold"}})
    assert wrong.status_code == 400 and "attributes.plan" in wrong.json()["fields"]
    unknown = api.patch(f"/subscribers/{ada.pk}", {"attributes": {"nope": "x"}})
    assert unknown.json()["fields"]["attributes.nope"]["code"] == "unknown_attribute"
    assert Subscriber.objects.get().attributes == {"plan": "pro"}


def test_segments_are_listed_and_a_campaign_keeps_its_segment(api_as, topics, make_key, manager):
    segment = Segment.objects.create(name="Pro users", definition={"attributes": []})
    topics["news"].owner = manager
    topics["news"].save()
    api = api_as()
    assert [s["name"] for s in api.get("/segments").json()["items"]] == ["Pro users"]
    body = {"name": "Herbst", "subject": "S", "topics": ["news"], "mjml_body": BODY, "segment_id": segment.pk}
    campaign = api.post("/campaigns", body).json()
    assert campaign["segment_id"] == segment.pk
    assert api.patch(f"/campaigns/{campaign['id']}", {"subject": "T"}).json()["segment_id"] == segment.pk
    assert api.patch(f"/campaigns/{campaign['id']}", {"segment_id": None}).json()["segment_id"] is None
    assert Campaign.objects.get().segment is None
    bad = api.post("/campaigns", {**body, "segment_id": 999999})
    assert bad.json()["fields"]["segment_id"]["code"] == "not_found"


def test_an_import_is_checked_then_run(api_as, topics, consent, django_capture_on_commit_callbacks):
    api = api_as()
    csv = (
        "E-Mail;Name;consent_date;consent_source\nkim@example.org;Kim;2025-03-01;fair\nlu@example.org;Lu;;\n"
    )
    with django_capture_on_commit_callbacks(execute=True):
        response = api.post("/imports", {"topic": "news", "source": "CRM export", "csv": csv})
    assert response.status_code == 202, response.json()
    job = api.get(f"/imports/{response.json()['id']}").json()
    assert (job["status"], job["total"], job["topic"]) == ("done", 2, "news")
    assert job["report"]["confirmed"] == 1 and job["report"]["requested"] == 1
    assert Subscriber.objects.get(email="kim@example.org").status == "confirmed"
    assert ConsentEvent.objects.filter(kind="imported").count() == 1
    assert [j["id"] for j in api.get("/imports").json()["items"]] == [job["id"]]


def test_an_import_with_bad_rows_imports_nothing(api_as, topics, consent):
    response = api_as().post("/imports", {"topic": "news", "source": "x", "csv": "email\nnot-an-address\n"})
    assert response.status_code == 400
    assert response.json()["fields"]["csv"]["code"] == "bad_rows"
    assert "line 2" in response.json()["fields"]["csv"]["message"]
    assert not Subscriber.objects.exists()
    assert ImportJob.objects.get().status == "draft"
    assert api_as().post("/imports", {"topic": "nope", "source": "x", "csv": "email\n"}).status_code == 400


def test_attributes_are_defined_changed_and_deleted(api_as, make_subscriber):
    api = api_as("audience:read", "audience:write")
    body = {
        "key": "plan",
        "label_en": "Plan",
        "label_de": "Tarif",
        "kind": "choice",
        "choices": ["free", " pro "],
    }
    created = api.post("/attributes", body)
    assert created.status_code == 201, created.json()
    assert created.json()["choices"] == ["free", "pro"]
    assert api.get("/attributes/plan").json()["label_de"] == "Tarif"
    # Bad input names its field; nothing is saved.
    assert api.post("/attributes", body).json()["fields"]["key"]["code"] == "unique"
    assert (
        api.post("/attributes", {**body, "key": "Kein Schlüssel"}).json()["fields"]["key"]["code"]
        == "invalid"
    )
    assert "choices" in api.post("/attributes", {**body, "key": "tier", "choices": []}).json()["fields"]
    text = {**body, "key": "note", "kind": "text"}
    assert api.post("/attributes", text).json()["fields"]["choices"]["code"] == "not_allowed"
    assert "label_en" in api.post("/attributes", {**body, "key": "x", "label_en": "  "}).json()["fields"]
    assert api.post("/attributes", {**body, "kind": "colour"}).json()["fields"]["kind"]
    assert list(Attribute.objects.values_list("key", flat=True)) == ["plan"]

    changed = api.patch("/attributes/plan", {"label_en": "Pricing plan", "choices": ["free", "pro", "team"]})
    assert changed.status_code == 200, changed.json()
    assert (changed.json()["label_en"], changed.json()["choices"]) == (
        "Pricing plan",
        ["free", "pro", "team"],
    )
    assert changed.json()["kind"] == "choice" and changed.json()["label_de"] == "Tarif"
    assert api.patch("/attributes/plan", {"choices": ["a\nb"]}).status_code == 400

    ada = make_subscriber()
    ada.attributes = {"plan": "pro"}
    ada.save()
    deleted = api.delete("/attributes/plan")
    assert deleted.json() == {"key": "plan", "values_removed": 1}
    assert Subscriber.objects.get().attributes == {}
    assert api.get("/attributes/plan").status_code == 404
    # Every write is recorded with the key that made it.
    writes = ApiWrite.objects.order_by("pk")
    assert {w.key.name for w in writes} == {"test key"}
    assert [(w.method, w.path, w.status_code) for w in writes][0] == ("POST", "/api/v1/attributes", 201)
    assert ("DELETE", "/api/v1/attributes/plan", 200) in [(w.method, w.path, w.status_code) for w in writes]


def test_audience_scopes(api_as, plan):
    assert api_as("subscribers:read").get("/attributes").json()["error"] == "missing_scope"
    reader = api_as("audience:read")
    assert reader.get("/attributes").status_code == 200
    assert reader.delete("/attributes/plan").status_code == 403
    segment = Segment.objects.create(name="All", definition={})
    refused = reader.get(f"/segments/{segment.pk}/members")
    assert refused.status_code == 403 and "subscribers:read" in refused.json()["message"]
    assert (
        api_as("audience:read", "subscribers:read").get(f"/segments/{segment.pk}/members").status_code == 200
    )
    assert Attribute.objects.exists()


def test_segments_are_saved_counted_and_paged(api_as, make_subscriber, plan, topics, manager):
    pros = []
    for name in ("a", "b", "c"):
        subscriber = make_subscriber(f"{name}@example.org", topic_slugs=("news",))
        subscriber.attributes = {"plan": "pro"}
        subscriber.save()
        pros.append(subscriber.pk)
    free = make_subscriber("free@example.org", topic_slugs=("news",))
    free.attributes = {"plan": "free"}
    free.save()
    elsewhere = make_subscriber("events@example.org", topic_slugs=("events",))  # not in the topic
    elsewhere.attributes = {"plan": "pro"}
    elsewhere.save()
    api = api_as()
    definition = {"topic": "news", "attributes": [{"key": "plan", "value": "pro"}]}
    created = api.post("/segments", {"name": " Pro readers ", "definition": definition})
    assert created.status_code == 201, created.json()
    segment = created.json()
    assert segment["name"] == "Pro readers"
    assert segment["definition"]["topic"] == "news"
    assert segment["definition"]["attributes"] == [
        {"key": "plan", "value": "pro", "minimum": "", "maximum": ""}
    ]
    stored = Segment.objects.get()
    assert stored.definition["topic"] == topics["news"].pk and stored.created_by == manager

    assert api.get(f"/segments/{stored.pk}/count").json() == {"count": 3, "exact": True}
    first = api.get(f"/segments/{stored.pk}/members", limit=2).json()
    assert [s["id"] for s in first["items"]] == pros[:2]
    rest = api.get(f"/segments/{stored.pk}/members", limit=2, after=first["next_after"]).json()
    assert ([s["id"] for s in rest["items"]], rest["next_after"]) == (pros[2:], None)
    assert rest["items"][0]["attributes"] == {"plan": "pro"}

    renamed = api.patch(f"/segments/{stored.pk}", {"name": "Pros"}).json()
    assert renamed["name"] == "Pros" and renamed["definition"]["topic"] == "news"
    widened = api.patch(
        f"/segments/{stored.pk}", {"definition": {"attributes": [{"key": "plan", "value": "free"}]}}
    )
    assert widened.json()["definition"]["topic"] is None
    assert api.get(f"/segments/{stored.pk}/count").json()["count"] == 1
    assert api.get(f"/segments/{stored.pk}").json()["name"] == "Pros"


@pytest.mark.parametrize(
    ("definition", "field"),
    [
        ({"topic": "nope"}, "definition.topic"),
        ({"attributes": [{"key": "plan", "value": "gold"}]}, "definition.attributes.plan.value"),
        ({"attributes": [{"key": "plan", "minimum": "1"}]}, "definition.attributes.plan.minimum"),
        ({"attributes": [{"key": "nope", "value": "x"}]}, "definition.attributes.nope"),
        ({"status": "asleep"}, "definition.status"),
        ({"received_last": 0}, "definition.received_last"),
        ({"received_campaign": 4711}, "definition.received_campaign"),
        ({"consent_from": "2026-02-01", "consent_to": "2026-01-01"}, "definition.consent_to"),
    ],
)
def test_a_bad_filter_is_refused_naming_its_field(api_as, plan, topics, definition, field):
    response = api_as().post("/segments", {"name": "S", "definition": definition})
    assert response.status_code == 400
    assert field in response.json()["fields"], response.json()
    assert not Segment.objects.exists()


def test_number_and_date_bounds_are_checked(api_as):
    Attribute.objects.create(key="age", label_en="Age", label_de="Alter", kind="number")
    Attribute.objects.create(key="since", label_en="Since", label_de="Seit", kind="date")
    api = api_as()
    for bad in ("NaN", "1e400", "zwölf"):
        body = {"name": "S", "definition": {"attributes": [{"key": "age", "minimum": bad}]}}
        assert "definition.attributes.age.minimum" in api.post("/segments", body).json()["fields"]
    body = {"name": "S", "definition": {"attributes": [{"key": "since", "maximum": "1.1.2020"}]}}
    assert "definition.attributes.since.maximum" in api.post("/segments", body).json()["fields"]
    good = [{"key": "age", "minimum": "18", "maximum": "65.5"}, {"key": "since", "minimum": "2020-01-01"}]
    assert api.post("/segments", {"name": "S", "definition": {"attributes": good}}).status_code == 201


def test_a_segment_in_use_is_not_deleted(api_as, topics, manager):
    segment = Segment.objects.create(name="Pro users", definition={})
    api = api_as()
    topics["news"].owner = manager
    topics["news"].save()
    body = {"name": "Herbst", "subject": "S", "topics": ["news"], "mjml_body": BODY, "segment_id": segment.pk}
    assert api.post("/campaigns", body).status_code == 201
    assert api.delete(f"/segments/{segment.pk}").status_code == 409
    Campaign.objects.all().delete()
    assert api.delete(f"/segments/{segment.pk}").status_code == 204
    assert api.get(f"/segments/{segment.pk}").status_code == 404


def test_a_subscriber_is_created_with_attribute_values(api_as, plan, topics, consent, commit_hooks, manager):
    api = api_as("subscribers:write")
    body = {"email": "kim@example.org", "topics": ["news"], "attributes": {"plan": "pro"}}
    with commit_hooks():
        created = api.post("/subscribers", body)
    assert created.status_code == 201, created.json()
    assert created.json()["subscriber"]["attributes"] == {"plan": "pro"}
    # Checked before anything is written: a bad value or an unknown field creates nobody.
    wrong = api.post("/subscribers", {**body, "email": "lu@example.org", "attributes": {"plan": "gold"}})
    assert wrong.status_code == 400 and "attributes.plan" in wrong.json()["fields"]
    unknown = api.post("/subscribers", {**body, "email": "lu@example.org", "attributes": {"nope": 1}})
    assert unknown.json()["fields"]["attributes.nope"]["code"] == "unknown_attribute"
    assert not Subscriber.objects.filter(email="lu@example.org").exists()
    # An existing subscriber's values are not changed by a create (PATCH changes them).
    with commit_hooks():
        again = api.post("/subscribers", {**body, "attributes": {"plan": "free"}})
    assert again.status_code == 202 and again.json()["subscriber"]["attributes"] == {"plan": "pro"}
    # With prior consent, too; recorded like the audience desk's change, by the key's owner.
    proof = {"date": "2025-01-01", "source": "fair"}
    with commit_hooks():
        confirmed = api.post("/subscribers", {**body, "email": "mo@example.org", "prior_consent": proof})
    assert confirmed.json()["subscriber"]["attributes"] == {"plan": "pro"}
    change = SubscriberChange.objects.get(subscriber__email="mo@example.org")
    assert change.changed_by == manager and change.changes == {"attributes.plan": [None, "pro"]}


def test_a_change_with_one_bad_field_changes_nothing(api_as, make_subscriber, plan):
    ada = make_subscriber()
    api = api_as()
    response = api.patch(f"/subscribers/{ada.pk}", {"attributes": {"plan": "pro"}, "topics": ["nope"]})
    assert response.status_code == 400 and "topics" in response.json()["fields"]
    assert Subscriber.objects.get().attributes == {}
    assert not SubscriberChange.objects.exists()
