"""Subject and preheader are templates rendered per recipient, like the body: over SMTP, in ESP
batches (anymail's real Mailgun and Mailjet backends, only the HTTP request replaced), in the preview."""

from __future__ import annotations

import json

import pytest
import requests
from django.urls import reverse

from campaigns import services
from campaigns.models import Delivery
from campaigns.rendering import CampaignRenderError, compile_campaign

from .conftest import BODY, make_subscriber

pytestmark = pytest.mark.django_db(transaction=True)

SUBJECT = "Hello {{ subscriber.name|default:'friend' }}, our winter news"
PREHEADER = "Picked for {{ subscriber.name|default:'you' }}"
PEOPLE = [("eva@example.org", "Eva"), ("nn@example.org", ""), ("amp@example.org", "A & B")]
EXPECTED = {
    "eva@example.org": "Hello Eva, our winter news",
    "nn@example.org": "Hello friend, our winter news",
    "amp@example.org": "Hello A & B, our winter news",
}


@pytest.fixture
def personal(campaign, topic):
    campaign.subject, campaign.preheader = SUBJECT, PREHEADER
    campaign.save()
    for address, name in PEOPLE:
        make_subscriber(address, topic, name=name)
    return campaign


def test_compiled_campaign_renders_subject_and_preheader_per_recipient():
    compiled = compile_campaign(mjml_body=BODY, subject=SUBJECT, preheader=PREHEADER)
    rendered = compiled.render(
        {"subscriber": {"name": "A & B", "email": "a@x"}, "preferences_url": "p", "unsubscribe_url": "u"}
    )
    assert rendered.subject == "Hello A & B, our winter news"  # a header: not HTML-escaped
    assert rendered.preheader == "Picked for A & B"
    assert "Picked for A &amp; B" in rendered.html  # in the HTML it is escaped like any value
    assert "<title>Hello A &amp; B, our winter news</title>" in rendered.html


def test_broken_subject_is_a_problem_of_the_subject():
    with pytest.raises(CampaignRenderError) as caught:
        compile_campaign(mjml_body=BODY, subject="Hi {% if subscriber.name %}")
    assert [p.part for p in caught.value.problems] == ["subject"]


def test_smtp_mail_carries_each_recipients_subject_and_preheader(personal, smtp_settings):
    services.launch_campaign(campaign=personal)
    by_address = {m["To"].addresses[0].addr_spec: m for m in smtp_settings.messages}
    assert {address: m["Subject"] for address, m in by_address.items()} == EXPECTED
    html = by_address["eva@example.org"].get_body(("html",)).get_content()
    assert "Picked for Eva" in html and "{{" not in html


class HTTPEdge:
    """Stands in for requests' HTTP call only: anymail builds and parses everything else."""

    def __init__(self, answer):
        self.answer = answer
        self.calls: list[dict] = []

    def __call__(self, method, url, **kwargs):
        self.calls.append({"url": url, **kwargs})
        response = requests.Response()
        response.status_code = 200
        response.headers["Content-Type"] = "application/json"
        response._content = json.dumps(self.answer(kwargs)).encode()
        response.url = url
        return response


def _mailjet_answer(kwargs):
    payload = json.loads(kwargs["data"])
    return {
        "Messages": [
            {
                "Status": "success",
                "To": [{"Email": m["To"][0]["Email"], "MessageID": n, "MessageUUID": str(n)}],
            }
            for n, m in enumerate(payload["Messages"])
        ]
    }


def _fill(template: str, values: dict, marker: str) -> str:
    for key, value in values.items():
        template = template.replace(marker.format(key), value)
    return template


@pytest.fixture
def real_esp(settings, monkeypatch):
    def configure(esp: str, answer) -> HTTPEdge:
        settings.EMAIL_DELIVERY = "esp"
        settings.ANYMAIL_ESP = esp
        settings.EMAIL_BACKEND = f"anymail.backends.{esp}.EmailBackend"
        settings.ANYMAIL = {
            "MAILGUN_API_KEY": "key-test",
            "MAILGUN_SENDER_DOMAIN": "example.org",
            "MAILJET_API_KEY": "key",
            "MAILJET_SECRET_KEY": "secret",
        }
        edge = HTTPEdge(answer)
        monkeypatch.setattr(
            requests.Session, "request", lambda _session, method, url, **kw: edge(method, url, **kw)
        )
        return edge

    return configure


def test_mailgun_batch_personalises_the_subject(personal, real_esp):
    edge = real_esp("mailgun", lambda kwargs: {"id": "<1@mg.example.org>", "message": "Queued. Thank you."})
    services.launch_campaign(campaign=personal)
    (call,) = edge.calls  # one API call for all three
    data = dict(call["data"]) if not isinstance(call["data"], dict) else call["data"]
    variables = json.loads(data["recipient-variables"])
    assert set(variables) == set(EXPECTED)
    assert "%recipient.v" in data["subject"]
    for address, subject in EXPECTED.items():
        assert _fill(data["subject"], variables[address], "%recipient.{}%") == subject
    assert "Picked for" not in data["html"]  # the whole preheader is this recipient's value
    assert (
        _fill(data["html"], variables["amp@example.org"], "%recipient.{}%").count("Picked for A &amp; B") == 1
    )
    assert Delivery.objects.filter(status=Delivery.Status.SENT).count() == 3


def test_mailjet_batch_personalises_the_subject(personal, real_esp):
    edge = real_esp("mailjet", _mailjet_answer)
    services.launch_campaign(campaign=personal)
    (call,) = edge.calls
    payload = json.loads(call["data"])
    subject = payload["Globals"]["Subject"]
    assert "[[var:v" in subject
    for message in payload["Messages"]:
        address = message["To"][0]["Email"]
        assert _fill(subject, message["Variables"], "[[var:{}]]") == EXPECTED[address]
    assert Delivery.objects.filter(status=Delivery.Status.SENT).count() == 3


def test_subject_branching_on_recipient_data_goes_mail_by_mail(personal, real_esp):
    personal.subject = "{% if subscriber.name %}Hi {{ subscriber.name }}{% else %}Hello{% endif %}"
    personal.save()
    edge = real_esp("mailgun", lambda kwargs: {"id": "<1@mg.example.org>", "message": "Queued. Thank you."})
    services.launch_campaign(campaign=personal)
    subjects = sorted(dict(call["data"])["subject"] for call in edge.calls)
    assert subjects == ["Hello", "Hi A & B", "Hi Eva"]


def test_preview_shows_the_subject_and_preheader(client, marketer, topic, settings):
    settings.EMAIL_DELIVERY = "mailbox"
    client.force_login(marketer)
    make_subscriber("eva@example.org", topic, name="Eva")
    data = client.post(
        reverse("campaigns:preview"),
        {
            "mjml_body": BODY,
            "subject": SUBJECT,
            "preheader": PREHEADER,
            "topics": [topic.pk],
            "preview_subscriber": "eva@example.org",
        },
    ).json()
    assert (data["subject"], data["preheader"]) == ("Hello Eva, our winter news", "Picked for Eva")
