"""The Transport interface every backend implements (as anymail's backends/base.py does for ESPs).

A transport hands over finished mails and reports, per mail, the moment it is safe to count
it as accepted (``on_accepted``), or raises a ``SendError`` (rundbrief.mail.refusals). It knows
nothing of deliveries or answers: the caller keeps its own handle on each mail.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

OnAccepted = Callable[[str], None]  # called with the ESP's message id ("" if none)


@dataclass
class OutgoingMail:
    to_address: str
    to_name: str
    message_id: str
    raw: bytes  # the complete RFC 5322 message, CRLF line endings
    subject: str
    from_header: str
    html: str = ""
    text: str = ""
    headers: dict[str, str] = field(default_factory=dict)  # all but From/To/Subject/Date, for ESPs
    # The envelope sender (SMTP MAIL FROM); "" is DEFAULT_FROM_EMAIL's address. A VERP return
    # path (rundbrief.mail.addresses) goes here.
    return_path: str = ""


class Transport:
    """Hands one mail at a time to a backend, calling ``on_accepted`` as early as is safe."""

    name = "base"

    def open(self) -> None:
        pass

    def close(self) -> None:
        pass

    def send(self, mail: OutgoingMail, on_accepted: OnAccepted) -> None:
        raise NotImplementedError
