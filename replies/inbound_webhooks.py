"""The ESP inbound webhooks: anymail's views, plus a way in for mail that anymail cannot parse.

anymail parses an inbound payload's raw MIME with the stdlib parser, which recurses once per MIME
level: a 1,000-deep message raised RecursionError inside anymail, the view answered 500, and the
ESP retried the same message forever (a permanent property of a message must never look like a
temporary failure). Our own parser (replies.parsing) bounds the depth, so when anymail's parsing
(or serialising its message in the receiver) gives up on such a message, these views take the
raw MIME straight from the validated payload and store it the way the receiver would
(services.store_inbound, source "webhook"): the pipeline then reads it like any other mail.

Where the raw MIME is in a payload differs per ESP (Mailgun's ``body-mime``, SendGrid's ``email``,
Postmark's ``RawEmail``, Mandrill's ``raw_msg`` inside a form field of JSON, SparkPost's and
Postal's base64, Amazon SES's ``content`` inside the SNS message's JSON string...), so it is found
by looking, not by a table: every string in the payload (form fields, JSON, JSON inside strings,
base64 of either) that reads as a message (a header block with MIME-Version or Content-Type, a
blank line, a body) is stored. A payload that holds no such string (the ESPs that hand over only a
download URL, whose download failed the same way) is stored whole as a text message, so that
nothing is lost and staff can read what arrived. The fallback runs only after anymail's
validators accepted the request (shared secret, signature, replay guard).
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import re
from collections.abc import Iterator

from anymail.webhooks import (
    amazon_ses,
    brevo,
    mailersend,
    mailgun,
    mailjet,
    mailtrap,
    mandrill,
    postal,
    postmark,
    resend,
    sendgrid,
    sendinblue,
    sparkpost,
)
from django.http import HttpRequest, HttpResponse

from replies import services
from replies.models import InboundMessage
from rundbrief.webhooks import MailgunSignatureMixin

logger = logging.getLogger(__name__)

# A header block's first line, and the two fields that say "this is a MIME message".
_FIRST_HEADER = re.compile(rb"\A[!-9;-~]{1,76}:")
_MIME_FIELD = re.compile(rb"^(mime-version|content-type):", re.IGNORECASE | re.MULTILINE)
_HEAD_SEARCH_BYTES = 256 * 1024
_MAX_JSON_DEPTH = 20


def _head(raw: bytes) -> bytes | None:
    """The header block of a message-like string, or None when it is no message."""
    if not _FIRST_HEADER.match(raw):
        return None
    window = raw[:_HEAD_SEARCH_BYTES]
    ends = [i for i in (window.find(b"\r\n\r\n"), window.find(b"\n\n")) if i >= 0]
    if not ends:
        return None
    return window[: min(ends)]


def looks_like_message(raw: bytes) -> bool:
    head = _head(raw)
    return head is not None and _MIME_FIELD.search(head) is not None


def _as_bytes(value: str) -> bytes:
    # Form fields and JSON strings arrive decoded; a message's non-ASCII bytes came as UTF-8
    # (or, from anymail's own decoding, as surrogate escapes): keep them all.
    return value.encode("utf-8", "surrogateescape")


def _strings(value: object, depth: int = 0) -> Iterator[str]:
    """Every string in a decoded payload, including JSON carried inside strings."""
    if depth > _MAX_JSON_DEPTH:
        return
    if isinstance(value, str):
        yield value
        stripped = value.lstrip()
        if stripped[:1] in ("{", "["):
            try:
                inner = json.loads(value)
            except (ValueError, RecursionError):
                return
            yield from _strings(inner, depth + 1)
    elif isinstance(value, dict):
        for item in value.values():
            yield from _strings(item, depth + 1)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item, depth + 1)


_FORMS = ("multipart/form-data", "application/x-www-form-urlencoded")


def _payload(request: HttpRequest) -> object:
    if request.content_type in _FORMS:  # anymail read the form: its stream is gone, its fields are here
        return {key: request.POST.getlist(key) for key in request.POST}
    try:
        return json.loads(request.body)
    except (ValueError, RecursionError):
        return request.body.decode("utf-8", "replace")


def _payload_bytes(request: HttpRequest) -> bytes:
    if request.content_type in _FORMS:
        return json.dumps(_payload(request), ensure_ascii=False, indent=1).encode("utf-8", "surrogateescape")
    return request.body


def raw_messages_in(request: HttpRequest) -> list[bytes]:
    """The raw MIME messages a validated inbound payload carries, in payload order, each once."""
    found: list[bytes] = []
    for text in _strings(_payload(request)):
        candidate = _as_bytes(text)
        if not looks_like_message(candidate):
            compact = "".join(text.split())
            if len(compact) < 16 or len(compact) % 4:
                continue
            try:
                candidate = base64.b64decode(compact, validate=True)
            except (binascii.Error, ValueError):
                continue
            if not looks_like_message(candidate):
                continue
        if candidate not in found:
            found.append(candidate)
    return found


def payload_as_message(request: HttpRequest, esp_name: str) -> bytes:
    """The whole payload as a plain text message, when it carries no message of its own."""
    head = (
        f"From: {esp_name} inbound webhook <webhook@invalid>\r\n"
        f"Subject: An inbound {esp_name} webhook payload that could not be read as mail\r\n"
        f"X-Rundbrief-Unreadable-Webhook: {esp_name}\r\n"
        "MIME-Version: 1.0\r\n"
        "Content-Type: text/plain; charset=utf-8\r\n"
        "\r\n"
    )
    return head.encode("ascii") + _payload_bytes(request)


class UnparsableMimeFallbackMixin:
    """Store what anymail's parser gave up on (RecursionError) instead of answering 500 forever."""

    _validated = False

    def run_validators(self, request: HttpRequest) -> None:
        super().run_validators(request)
        self._validated = True

    def post(self, request: HttpRequest, *args, **kwargs) -> HttpResponse:
        try:
            return super().post(request, *args, **kwargs)
        except RecursionError:
            if not self._validated:  # never store what the validators did not accept
                raise
        return self.store_unparsed(request)

    def store_unparsed(self, request: HttpRequest) -> HttpResponse:
        esp_name = self.esp_name
        raws = raw_messages_in(request) or [payload_as_message(request, esp_name)]
        logger.warning(
            "%s inbound webhook: anymail could not parse the payload (nesting too deep); "
            "storing %d raw message(s) for our own parser",
            esp_name,
            len(raws),
        )
        for raw in raws:
            try:
                services.store_inbound(raw, source=InboundMessage.Source.WEBHOOK)
            except services.RejectedMessage as exc:
                logger.warning("%s inbound message refused: %s", esp_name, exc)
        return HttpResponse()


def _view(base: type) -> type:
    return type(base.__name__, (UnparsableMimeFallbackMixin, base), {"__module__": __name__})


AmazonSESInboundWebhookView = _view(amazon_ses.AmazonSESInboundWebhookView)
BrevoInboundWebhookView = _view(brevo.BrevoInboundWebhookView)
MailerSendInboundWebhookView = _view(mailersend.MailerSendInboundWebhookView)
MailjetInboundWebhookView = _view(mailjet.MailjetInboundWebhookView)
MailtrapInboundWebhookView = _view(mailtrap.MailtrapInboundWebhookView)
MandrillCombinedWebhookView = _view(mandrill.MandrillCombinedWebhookView)
PostalInboundWebhookView = _view(postal.PostalInboundWebhookView)
PostmarkInboundWebhookView = _view(postmark.PostmarkInboundWebhookView)
ResendInboundWebhookView = _view(resend.ResendInboundWebhookView)
SendGridInboundWebhookView = _view(sendgrid.SendGridInboundWebhookView)
SendinBlueInboundWebhookView = _view(sendinblue.SendinBlueInboundWebhookView)
SparkPostInboundWebhookView = _view(sparkpost.SparkPostInboundWebhookView)


class MailgunInboundWebhookView(
    MailgunSignatureMixin, UnparsableMimeFallbackMixin, mailgun.MailgunInboundWebhookView
):
    """Mailgun's, with the replay guard (rundbrief.webhooks) around the fallback: a payload stored
    by the fallback counts as processed, so its signature stays claimed."""


# (URL under /webhooks/anymail/, view, URL name): anymail's own paths and names, matched first
# (Mailgun's is a regular expression, as in anymail: both inbound/ and inbound_mime/).
INBOUND_ROUTES: list[tuple[str, type, str]] = [
    (r"^mailgun/inbound(_mime)?/$", MailgunInboundWebhookView, "mailgun_inbound_webhook"),
    ("amazon_ses/inbound/", AmazonSESInboundWebhookView, "amazon_ses_inbound_webhook"),
    ("brevo/inbound/", BrevoInboundWebhookView, "brevo_inbound_webhook"),
    ("mailersend/inbound/", MailerSendInboundWebhookView, "mailersend_inbound_webhook"),
    ("mailjet/inbound/", MailjetInboundWebhookView, "mailjet_inbound_webhook"),
    ("mailtrap/inbound/", MailtrapInboundWebhookView, "mailtrap_inbound_webhook"),
    ("postal/inbound/", PostalInboundWebhookView, "postal_inbound_webhook"),
    ("postmark/inbound/", PostmarkInboundWebhookView, "postmark_inbound_webhook"),
    ("resend/inbound/", ResendInboundWebhookView, "resend_inbound_webhook"),
    ("sendgrid/inbound/", SendGridInboundWebhookView, "sendgrid_inbound_webhook"),
    ("sendinblue/inbound/", SendinBlueInboundWebhookView, "sendinblue_inbound_webhook"),
    ("sparkpost/inbound/", SparkPostInboundWebhookView, "sparkpost_inbound_webhook"),
    ("mandrill/", MandrillCombinedWebhookView, "mandrill_webhook"),
    ("mandrill/tracking/", MandrillCombinedWebhookView, "mandrill_tracking_webhook"),
]
