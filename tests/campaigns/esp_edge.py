"""The ESP's HTTP edge, simulated: anymail's test backend plus what real ESPs answer.

anymail.backends.test.EmailBackend records each API call (message, merge_data,
merge_headers, esp_extra) in django.core.mail.outbox instead of posting it. On top of it
this edge gives each recipient its own id (or one id per call, as Mailgun does), refuses
scripted addresses, and raises scripted API errors before anything is "sent".
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from anymail.backends.test import EmailBackend as AnymailTestBackend
from anymail.message import AnymailRecipientStatus


@dataclass
class Edge:
    errors: list[BaseException] = field(default_factory=list)  # raised by the next calls, in order
    refuse: set[str] = field(default_factory=set)
    shared_id: bool = False  # one message id for the whole call (Mailgun, SparkPost)
    on_call: Callable[[object], None] | None = None  # sees the message as the call starts
    calls: int = 0

    def reset(self) -> None:
        self.__init__()


EDGE = Edge()


class EmailBackend(AnymailTestBackend):
    def post_to_esp(self, payload, message):
        EDGE.calls += 1
        if EDGE.on_call:
            EDGE.on_call(message)
        if EDGE.errors:
            raise EDGE.errors.pop(0)
        super().post_to_esp(payload, message)
        call = self.get_esp_message_id(message)
        statuses = {}
        for email in payload.recipient_emails:
            refused = email in EDGE.refuse
            esp_id = None if refused else (f"call-{call}" if EDGE.shared_id else f"call-{call}-{email}")
            statuses[email] = AnymailRecipientStatus(
                message_id=esp_id, status="rejected" if refused else "queued"
            )
        return {"recipient_status": statuses}
