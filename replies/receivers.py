"""Signal receivers: anymail's inbound webhook, and erasure of a subscriber.

The anymail webhook view validates (WEBHOOK_SECRET basic auth, the ESP's signature) and
parses; this receiver only stores and enqueues, because ESPs retry after a few seconds.
A storage failure raises, so the view answers 500 and the ESP retries later.

ESPs post the same payload again when they think we did not get it (a timeout, a 5xx).
Serialising anymail's message object makes new MIME boundaries each time, so the dedupe
key comes from the parsed message (services.content_key: stable header fields and each
part's decoded content), not from the serialised bytes: a replay is recognised.
"""

from __future__ import annotations

import logging

from anymail.signals import AnymailInboundEvent, inbound
from django.dispatch import receiver

from replies import services
from replies.models import InboundMessage
from subscribers.signals import subscriber_erasing

logger = logging.getLogger(__name__)


@receiver(inbound, dispatch_uid="replies.store_anymail_inbound")
def store_anymail_inbound(sender: type, event: AnymailInboundEvent, esp_name: str, **kwargs: object) -> None:
    message = event.message
    if message is None:
        logger.warning("%s inbound webhook without a message (event id %s)", esp_name, event.event_id)
        return
    envelope_to = [message.envelope_recipient] if message.envelope_recipient else []
    try:
        raw = message.as_bytes()
    except Exception:  # noqa: BLE001 - a header the serialiser refuses must not lose the mail
        raw = message.as_string().encode("utf-8", "surrogateescape")
    try:
        key = services.content_key(message)
    except Exception:  # noqa: BLE001 - a part the parser cannot decode: the serialised bytes decide
        logger.warning("%s inbound message: no content key, deduplicating by its bytes", esp_name)
        key = None
    try:
        services.store_inbound(
            raw,
            source=InboundMessage.Source.WEBHOOK,
            envelope_from=message.envelope_sender or "",
            envelope_to=envelope_to,
            key=key,
        )
    except services.RejectedMessage as exc:
        # Retrying cannot help: say so loudly in the log instead of making the ESP loop.
        logger.warning("%s inbound message refused: %s", esp_name, exc)


@receiver(subscriber_erasing, dispatch_uid="replies.erase_conversations")
def erase_conversations(sender: type, subscriber: object, **kwargs: object) -> None:
    services.erase_conversations(subscriber=subscriber)
