"""ESP batch sends end to end (Celery eager), only the ESP's HTTP edge simulated (esp_edge.py)."""

from __future__ import annotations

from datetime import timedelta

import pytest
import requests
from anymail.exceptions import AnymailRequestsAPIError
from django.core import mail

from campaigns import services
from campaigns.models import Acceptance, Campaign, Delivery
from campaigns.sending.loop import send_deliveries
from campaigns.tracking import record_tracking_event
from rundbrief.mail.addresses import REPLY
from subscribers.models import Subscriber

from .conftest import make_subscriber
from .esp_edge import EDGE

pytestmark = pytest.mark.django_db(transaction=True)
S = Delivery.Status


@pytest.fixture
def esp(settings):
    settings.EMAIL_DELIVERY = "esp"
    settings.EMAIL_BACKEND = "tests.campaigns.esp_edge.EmailBackend"
    settings.ANYMAIL_ESP = "mailgun"
    EDGE.reset()
    mail.outbox = []
    yield settings
    EDGE.reset()


def http_error(status: int, body: bytes) -> AnymailRequestsAPIError:
    response = requests.Response()
    response.status_code, response.reason, response._content = status, "Bad Request", body
    return AnymailRequestsAPIError("Mailgun API response 400", status_code=status, response=response)


def calls() -> list:
    return list(mail.outbox)


def params(message) -> dict:
    return message.anymail_test_params


def merged(body: str, values: dict, marker: str = "%recipient.{}%") -> str:
    for key, value in values.items():
        body = body.replace(marker.format(key), value)
    return body


def test_batchable_campaign_is_one_call_with_merge_fields_and_headers(campaign, topic, esp):
    for address, name in [
        ("eva@example.org", "Eva"),
        ("amp@example.org", 'A & B <"x">'),
        ("nn@example.org", ""),
    ]:
        make_subscriber(address, topic, name=name)
    services.launch_campaign(campaign=campaign)

    (message,) = calls()
    sent = params(message)
    assert sent["is_batch_send"] and len(sent["to"]) == 3
    assert "%recipient.v" in message.body and "Hallo" in message.body
    html = message.alternatives[0][0]
    assert "%recipient.v" in html
    # Global headers once; per-recipient ones through merge_headers.
    assert sent["extra_headers"]["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert sent["extra_headers"]["List-Id"] == "News <news.rundbrief.localhost>"
    assert sent["extra_headers"]["Feedback-ID"].startswith(f"{campaign.pk}:news:")
    for delivery in Delivery.objects.select_related("subscriber"):
        email = delivery.subscriber.email
        headers = sent["merge_headers"][email]
        assert REPLY.token_of(headers["Reply-To"]) == delivery.reply_token
        assert (
            headers["List-Unsubscribe"].startswith("<http") and "/unsubscribe/" in headers["List-Unsubscribe"]
        )
        assert headers["Message-ID"] == delivery.message_id
        assert delivery.status == S.SENT and delivery.attempts == 1
        assert delivery.esp_message_id == f"call-0-{email}"
        # What the ESP makes of it: the greeting and this recipient's own unsubscribe link.
        text = merged(message.body, sent["merge_data"][email])
        assert headers["List-Unsubscribe"][1:-1] in text
    eva = merged(html, sent["merge_data"]["eva@example.org"])
    amp = merged(html, sent["merge_data"]["amp@example.org"])
    assert "Hallo Eva, das ist Herbst." in eva
    assert "Hallo A &amp; B &lt;&quot;x&quot;&gt;, das ist Herbst." in amp
    assert "Hallo du, das ist Herbst." in merged(message.body, sent["merge_data"]["nn@example.org"])
    assert not Acceptance.objects.exists()
    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.SENT


def test_recipient_data_inside_a_tag_sends_mail_by_mail(campaign, topic, esp):
    campaign.mjml_body = (
        "<mj-section><mj-column><mj-text>{% if subscriber.name %}Hallo {{ subscriber.name }}{% endif %}"
        "</mj-text></mj-column></mj-section>"
    )
    campaign.save()
    make_subscriber("a@example.org", topic, name="A")
    make_subscriber("b@example.org", topic)
    services.launch_campaign(campaign=campaign)
    assert len(calls()) == 2
    assert not any(params(m)["is_batch_send"] for m in calls())
    assert "Hallo A" in next(m for m in calls() if params(m)["to"][0].addr_spec == "a@example.org").body
    assert Delivery.objects.filter(status=S.SENT).count() == 2


def test_chunks_at_the_esps_per_call_limit(campaign, topic, esp):
    esp.ANYMAIL_ESP = "mailjet"  # 50 messages per call
    for n in range(120):
        make_subscriber(f"r{n:03d}@example.org", topic)
    services.launch_campaign(campaign=campaign)
    assert [len(params(m)["to"]) for m in calls()] == [50, 50, 20]
    first = calls()[0]
    assert "[[var:v" in first.body
    # Mailjet's per-message headers replace the global ones: each recipient gets all of them.
    headers = next(iter(params(first)["merge_headers"].values()))
    assert headers["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click" and "Reply-To" in headers
    assert Delivery.objects.filter(status=S.SENT).count() == 120


def test_api_error_takes_back_the_acceptances_and_retries(campaign, topic, esp):
    make_subscriber("a@example.org", topic)
    make_subscriber("b@example.org", topic)
    recorded_at_call = []
    EDGE.on_call = lambda message: recorded_at_call.append(Acceptance.objects.count())
    EDGE.errors = [AnymailRequestsAPIError("ESP unavailable")]  # no status: transient
    services.launch_campaign(campaign=campaign)  # eager Celery runs the retry at once

    assert recorded_at_call == [2, 2]  # committed before each call
    assert EDGE.calls == 2 and len(calls()) == 1  # the failed call sent nothing
    assert list(Delivery.objects.values_list("status", "attempts")) == [(S.SENT, 2)] * 2
    assert not Acceptance.objects.exists()


def test_transient_errors_fail_after_the_last_attempt(campaign, topic, esp):
    esp.SEND_MAX_ATTEMPTS = 2
    make_subscriber("a@example.org", topic)
    EDGE.errors = [AnymailRequestsAPIError("down"), AnymailRequestsAPIError("still down")]
    services.launch_campaign(campaign=campaign)
    delivery = Delivery.objects.get()
    assert (delivery.status, delivery.attempts, delivery.error) == (S.FAILED, 2, "still down")
    assert not Acceptance.objects.exists() and calls() == []


def test_call_refused_as_a_whole_is_tried_mail_by_mail(campaign, topic, esp):
    make_subscriber("a@example.org", topic)
    make_subscriber("b@example.org", topic)
    EDGE.errors = [http_error(400, b'{"message": "to parameter is not a valid address"}')]
    services.launch_campaign(campaign=campaign)
    assert [len(params(m)["to"]) for m in calls()] == [1, 1]
    assert Delivery.objects.filter(status=S.SENT, attempts=1).count() == 2


def test_per_recipient_rejection_fails_only_that_delivery(campaign, topic, esp):
    make_subscriber("ok@example.org", topic)
    make_subscriber("bad@example.org", topic)
    EDGE.refuse = {"bad@example.org"}
    services.launch_campaign(campaign=campaign)
    assert len(calls()) == 1
    bad = Delivery.objects.get(subscriber__email="bad@example.org")
    ok = Delivery.objects.get(subscriber__email="ok@example.org")
    assert (bad.status, bad.error, bad.esp_message_id) == (S.FAILED, "rejected by the ESP", "")
    assert (ok.status, ok.esp_message_id) == (S.SENT, "call-0-ok@example.org")


def test_text_only_subscribers_get_a_batch_without_html(campaign, topic, esp):
    make_subscriber("h1@example.org", topic)
    make_subscriber("h2@example.org", topic)
    make_subscriber("t@example.org", topic, format=Subscriber.Format.TEXT)
    services.launch_campaign(campaign=campaign)
    by_size = sorted(calls(), key=lambda m: len(params(m)["to"]))
    text_call, html_call = by_size
    assert [a.addr_spec for a in params(text_call)["to"]] == ["t@example.org"]
    assert text_call.alternatives == [] and "html_body" not in params(text_call)
    assert len(params(html_call)["to"]) == 2 and html_call.alternatives


def test_languages_are_separate_batches(campaign, topic, esp):
    make_subscriber("de@example.org", topic, language="de")
    make_subscriber("en@example.org", topic, language="en")
    services.launch_campaign(campaign=campaign)
    assert sorted(len(params(m)["to"]) for m in calls()) == [1, 1]
    assert all(params(m)["is_batch_send"] for m in calls())


@pytest.mark.parametrize("name", ["mandrill", "sendgrid", "sparkpost", "postmark", "amazon_ses", ""])
def test_esps_without_inline_merge_and_merge_headers_stay_per_message(campaign, topic, esp, name):
    esp.ANYMAIL_ESP = name
    make_subscriber("a@example.org", topic)
    make_subscriber("b@example.org", topic)
    services.launch_campaign(campaign=campaign)
    assert len(calls()) == 2
    assert not any(params(m)["is_batch_send"] for m in calls())


def test_a_value_in_the_esps_own_syntax_goes_on_its_own(campaign, topic, esp):
    make_subscriber("a@example.org", topic, name="Eva")
    make_subscriber("b@example.org", topic, name="%recipient.v1%")
    services.launch_campaign(campaign=campaign)
    sizes = sorted((len(params(m)["to"]), params(m)["is_batch_send"]) for m in calls())
    assert sizes == [(1, False), (1, True)]
    single = next(m for m in calls() if not params(m)["is_batch_send"])
    assert "Hallo %recipient.v1%" in single.body


def test_worker_killed_during_the_call_never_sends_twice(campaign, topic, esp):
    """The acceptances were committed before the call; recovery folds them, sends nothing."""

    class Killed(BaseException):
        pass

    make_subscriber("a@example.org", topic)
    make_subscriber("b@example.org", topic)
    Campaign.objects.filter(pk=campaign.pk).update(status=Campaign.Status.SENDING)
    services.queue_deliveries(campaign_id=campaign.pk)  # eager: sends at once, so take them back
    mail.outbox = []
    EDGE.calls = 0
    Delivery.objects.update(status=S.QUEUED, attempts=0, esp_message_id="")
    Campaign.objects.filter(pk=campaign.pk).update(status=Campaign.Status.SENDING)

    def kill(message):
        raise Killed

    EDGE.on_call = kill
    with pytest.raises(Killed):
        send_deliveries(
            campaign_id=campaign.pk, delivery_ids=list(Delivery.objects.values_list("pk", flat=True))
        )
    EDGE.on_call = None
    services.recover_stalled_sends(older_than=timedelta(0))
    assert EDGE.calls == 1  # the killed call only: nothing was sent again
    assert Delivery.objects.filter(status=S.SENT).count() == 2


def test_tracking_tells_apart_recipients_sharing_a_batch_id(campaign, topic, esp):
    EDGE.shared_id = True  # as Mailgun answers: one id for the whole call
    make_subscriber("a@example.org", topic)
    make_subscriber("b@example.org", topic)
    services.launch_campaign(campaign=campaign)
    assert set(Delivery.objects.values_list("esp_message_id", flat=True)) == {"call-0"}
    outcome = record_tracking_event(event_type="bounced", message_id="call-0", recipient="B@example.org")
    bounced = Delivery.objects.get(pk=outcome.delivery_id)
    assert bounced.subscriber.email == "b@example.org" and bounced.status == S.BOUNCED
    assert Delivery.objects.get(subscriber__email="a@example.org").status == S.SENT


def test_real_mailgun_backend_gets_inline_fields_and_header_variables(campaign, topic, esp, monkeypatch):
    """anymail's own Mailgun backend, with only its HTTP request replaced."""
    import json

    esp.EMAIL_BACKEND = "anymail.backends.mailgun.EmailBackend"
    esp.ANYMAIL = {**esp.ANYMAIL, "MAILGUN_API_KEY": "key", "MAILGUN_SENDER_DOMAIN": "mg.example.org"}
    posted = []

    def request(session, method, url, **kwargs):
        posted.append(kwargs)
        response = requests.Response()
        response.status_code, response.url = 200, url
        response._content = b'{"id": "<batch-1@mg.example.org>", "message": "Queued. Thank you."}'
        return response

    monkeypatch.setattr(requests.Session, "request", request)
    make_subscriber("eva@example.org", topic, name="Eva")
    make_subscriber("amp@example.org", topic, name="A & B")
    services.launch_campaign(campaign=campaign)

    (call,) = posted
    data = call["data"]
    variables = json.loads(data["recipient-variables"])
    assert "%recipient.v" in data["text"] and "%recipient.v" in data["html"]
    assert data["h:Reply-To"] == "%recipient.h:Reply-To%"
    assert data["h:List-Unsubscribe"] == "%recipient.h:List-Unsubscribe%"
    for delivery in Delivery.objects.select_related("subscriber"):
        mine = variables[delivery.subscriber.email]
        assert REPLY.token_of(mine["h:Reply-To"]) == delivery.reply_token
        text = data["text"]
        for key, value in mine.items():
            text = text.replace(f"%recipient.{key}%", value)
        assert "%recipient." not in text and mine["h:List-Unsubscribe"][1:-1] in text
        # Mailgun gives the whole call one id; tracking tells recipients apart (see above).
        assert (delivery.status, delivery.esp_message_id) == (S.SENT, "<batch-1@mg.example.org>")


def test_real_mailjet_backend_gets_variables_and_headers_per_message(campaign, topic, esp, monkeypatch):
    """anymail's own Mailjet backend, with only its HTTP request replaced; one message errs."""
    import json

    esp.ANYMAIL_ESP = "mailjet"
    esp.EMAIL_BACKEND = "anymail.backends.mailjet.EmailBackend"
    esp.ANYMAIL = {**esp.ANYMAIL, "MAILJET_API_KEY": "key", "MAILJET_SECRET_KEY": "secret"}
    posted = []

    def request(session, method, url, **kwargs):
        posted.append(json.loads(kwargs["data"]))
        response = requests.Response()
        response.status_code, response.url = 400, url  # Mailjet's answer to a partial failure
        response.headers["Content-Type"] = "application/json"
        response._content = json.dumps(
            {
                "Messages": [
                    {"Status": "success", "To": [{"Email": "ok@example.org", "MessageID": 7001}]},
                    {"Status": "error", "Errors": [{"ErrorMessage": "invalid"}]},
                ]
            }
        ).encode()
        return response

    monkeypatch.setattr(requests.Session, "request", request)
    make_subscriber("ok@example.org", topic, name="Eva")
    make_subscriber("bad@example.org", topic)
    services.launch_campaign(campaign=campaign)

    (payload,) = posted
    assert "[[var:v" in payload["Globals"]["TextPart"] and "[[var:v" in payload["Globals"]["HTMLPart"]
    assert "TemplateLanguage" not in payload["Globals"]  # on-the-fly [[var:]] personalisation
    by_address = {m["To"][0]["Email"]: m for m in payload["Messages"]}
    for delivery in Delivery.objects.select_related("subscriber"):
        message = by_address[delivery.subscriber.email]
        assert REPLY.token_of(message["Headers"]["Reply-To"]) == delivery.reply_token
        assert message["Headers"]["List-Id"] == "News <news.rundbrief.localhost>"
        assert set(message["Variables"]) >= {"v0", "v1"}
    ok = Delivery.objects.get(subscriber__email="ok@example.org")
    bad = Delivery.objects.get(subscriber__email="bad@example.org")
    assert (ok.status, ok.esp_message_id) == (S.SENT, "7001")
    assert (bad.status, bad.error) == (S.FAILED, "failed by the ESP")


def test_static_text_in_the_esps_syntax_keeps_the_campaign_per_message(campaign, topic, esp):
    campaign.mjml_body = (
        "<mj-section><mj-column><mj-text>Rabatt: 100%recipient.x% {{ subscriber.name }}"
        "</mj-text></mj-column></mj-section>"
    )
    campaign.save()
    make_subscriber("a@example.org", topic)
    make_subscriber("b@example.org", topic)
    services.launch_campaign(campaign=campaign)
    assert [params(m)["is_batch_send"] for m in calls()] == [False, False]
