"""What the bounce reader found in one mail: a typed report, whatever format it came in."""

from __future__ import annotations

from dataclasses import dataclass

from replies.bounces.vocabulary import Reason

BOUNCE = "bounce"
COMPLAINT = "complaint"


@dataclass(frozen=True)
class Failure:
    """One recipient the report says failed (or complained), with the evidence for it."""

    address: str
    permanent: bool
    reason: str = Reason.OTHER
    status: str = ""  # RFC 3463, "5.1.1"
    action: str = ""  # RFC 3464 Action: failed, delayed
    diagnostic: str = ""
    field: str = ""  # where the address came from: Original-Recipient, Final-Recipient, ...


@dataclass(frozen=True)
class Report:
    """A bounce or complaint. ``failures`` may be empty: a bounce whose recipient nobody can read.

    ``evidence`` names the reader: "rfc3464", "flufl.bounce", "arf" (RFC 5965), "amazon_ses",
    or "bounce_headers" (Rundbrief's own rule for a bounce no detector could read, see
    replies.bounces.recognise). ``message_ids``: Message-IDs of the returned original.
    """

    kind: str
    evidence: str
    failures: tuple[Failure, ...] = ()
    permanent: bool = False
    reason: str = Reason.OTHER
    status: str = ""
    diagnostic: str = ""
    message_ids: tuple[str, ...] = ()
    esp_message_ids: tuple[str, ...] = ()
    feedback_type: str = ""
    # The returned original(s) as text (headers and what is left of the body): where its reply
    # token or VERP address may be quoted; never the report's own text.
    original: str = ""

    @property
    def addresses(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(f.address for f in self.failures))

    @property
    def permanent_addresses(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(f.address for f in self.failures if f.permanent))
