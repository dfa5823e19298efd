"""Attributes, segments and CSV import jobs through /api/v1/ (the audience desk's services)."""

from __future__ import annotations

import pytest

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
