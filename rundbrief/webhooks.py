"""ESP webhooks: anymail's views, with replays refused where its signature check allows them.

anymail checks the shared secret (HTTP basic auth) and each ESP's signature, but not whether a
signed request is fresh or new. That matters where the signature does not cover the body:
Mailgun signs only ``timestamp + token``, so one captured ``{timestamp, token, signature}``
block made any forged body valid forever. SendGrid signs timestamp and body, but never checks
the timestamp, so an old event could be replayed at any time (say, after staff lifted a
suppression). For these ESPs the views below add, after anymail's own validators:

- freshness: the signed timestamp within WEBHOOK_MAX_AGE_SECONDS of now (either way);
- single use: each signature (Mailgun's token, SendGrid's signature) is claimed once in the
  shared cache (Redis, or the database cache without Redis), never in process memory, and kept
  as long as its timestamp could pass the freshness check. If processing fails (the view answers
  500 and the ESP retries), the claim is released so the retry gets through.

The other ESPs sign the body itself and have no signed timestamp (Postal, MailerSend, Mailtrap,
Unisender Go, Mandrill) or check it already (Resend, through svix): a replay there can only repeat
the very same event, which the tracking and inbound receivers handle idempotently.
"""

from __future__ import annotations

import hashlib
import json
import time

from anymail.exceptions import AnymailWebhookValidationFailure
from anymail.webhooks import mailgun, sendgrid
from django.conf import settings
from django.core.cache import cache
from django.http import HttpRequest

CLAIM_PREFIX = "webhook-signature"


def claim_signature(*, esp: str, timestamp: str, unique: str) -> str:
    """Refuse a stale (or future) timestamp or a signature seen before; returns the claim's key."""
    max_age = settings.WEBHOOK_MAX_AGE_SECONDS
    try:
        signed_at = float(timestamp)
    except (TypeError, ValueError):
        raise AnymailWebhookValidationFailure(f"{esp} webhook with an unreadable timestamp") from None
    if abs(time.time() - signed_at) > max_age:
        raise AnymailWebhookValidationFailure(
            f"{esp} webhook signed at {timestamp}, more than {max_age} s from now: refused as a replay"
        )
    key = f"{CLAIM_PREFIX}:{esp}:" + hashlib.sha256(unique.encode("utf-8", "surrogatepass")).hexdigest()
    # Kept while the timestamp could still pass the window (plus the clock skew allowed the other way).
    if not cache.add(key, signed_at, timeout=2 * max_age + 60):
        raise AnymailWebhookValidationFailure(f"{esp} webhook signature used before: refused as a replay")
    return key


class ReplayGuardMixin:
    """After anymail's validators (basic auth, the ESP's signature): fresh and never seen before.

    Subclasses say where the signed timestamp and the unique part of the signature are.
    """

    _claim: str | None = None

    def signed_timestamp_and_unique(self, request: HttpRequest) -> tuple[str, str] | None:
        """(timestamp, unique signature part), or None when this request carries no signature to guard."""
        raise NotImplementedError

    def run_validators(self, request: HttpRequest) -> None:
        super().run_validators(request)  # raises unless the shared secret and the signature are right
        signed = self.signed_timestamp_and_unique(request)
        if signed is not None:
            timestamp, unique = signed
            self._claim = claim_signature(esp=self.esp_name, timestamp=timestamp, unique=unique)

    def post(self, request: HttpRequest, *args, **kwargs):
        try:
            return super().post(request, *args, **kwargs)
        except Exception:
            if self._claim:  # not processed: the ESP's retry of this request must not count as a replay
                cache.delete(self._claim)
            raise


class MailgunSignatureMixin(ReplayGuardMixin):
    def signed_timestamp_and_unique(self, request: HttpRequest) -> tuple[str, str]:
        # Read exactly where anymail's MailgunBaseWebhookView.validate_request read (it succeeded).
        if request.content_type == "application/json":
            block = json.loads(request.body.decode("utf-8"))["signature"]
            return str(block["timestamp"]), str(block["token"])
        return request.POST["timestamp"], request.POST["token"]


class MailgunTrackingWebhookView(MailgunSignatureMixin, mailgun.MailgunTrackingWebhookView):
    pass


class SendGridTrackingWebhookView(ReplayGuardMixin, sendgrid.SendGridTrackingWebhookView):
    def signed_timestamp_and_unique(self, request: HttpRequest) -> tuple[str, str] | None:
        if not self.webhook_verification_key:  # no signature configured: basic auth only
            return None
        return (
            request.headers["X-Twilio-Email-Event-Webhook-Timestamp"],
            request.headers["X-Twilio-Email-Event-Webhook-Signature"],
        )
