"""ESP batch sends: one anymail message for many recipients, personalised by merge fields.

The plan exists only for a batchable campaign (campaigns.merge) on a batch-capable ESP
(campaigns.esp_batch). Any single recipient whose mail cannot be expressed exactly (a
value containing the ESP's own merge syntax, a duplicate address, a failing filter) is
left to the per-message path; so is a whole language whose static text contains it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from email.utils import formataddr

from django.core.mail import EmailMultiAlternatives
from django.utils import translation

from campaigns.esp_batch import BatchSyntax, batch_syntax
from campaigns.mailer import ESPTransport, MessageFactory, Recipient, Transport, _clean
from campaigns.merge import MergeBodies, Slot, join_parts, split_campaign

# Statuses (anymail's normalised ones) that mean this recipient's mail was not taken.
REFUSED = frozenset({"rejected", "invalid", "failed"})


@dataclass(frozen=True)
class BatchEntry:
    recipient: Recipient
    values: dict[str, str]
    headers: dict[str, str]


@dataclass
class BatchPlan:
    factory: MessageFactory
    syntax: BatchSyntax
    bodies: MergeBodies
    _parts: dict[str, tuple[list[str | Slot], list[str | Slot]] | None] = field(default_factory=dict)

    @property
    def max_recipients(self) -> int:
        return self.syntax.max_recipients

    def _reserved(self, *texts: str) -> bool:
        return any(fragment in text for text in texts for fragment in self.syntax.reserved)

    def parts(self) -> tuple[list[str | Slot], list[str | Slot]] | None:
        """The bodies for the active language, rendered once; None if static text uses the ESP's syntax."""
        language = translation.get_language()
        if language not in self._parts:
            html, text = self.bodies.parts()
            static = [part for part in (*html, *text) if isinstance(part, str)]
            self._parts[language] = None if self._reserved(*static) else (html, text)
        return self._parts[language]

    def entry(self, recipient: Recipient) -> BatchEntry | None:
        """This recipient's merge values and headers, or None to send their mail on its own."""
        parts = self.parts()
        if parts is None:
            return None
        variables = self.factory.variables(recipient)
        try:
            values = self.bodies.values(variables, text_only=recipient.text_only)
        except Exception:  # a filter failing on this recipient's data: the per-message path reports it
            return None
        headers = self.factory.recipient_headers(recipient, variables)
        if self.syntax.repeat_global_headers:
            headers = {**self.factory.common_headers, **headers}
        # The mail the ESP will produce must hold no text the ESP would read as its own syntax.
        html, text = parts
        personalised = [join_parts(text, values.__getitem__), recipient.name, recipient.email]
        if not recipient.text_only:
            personalised.append(join_parts(html, values.__getitem__))
        if self._reserved(*personalised, *headers.values()):
            return None
        return BatchEntry(recipient=recipient, values=values, headers=headers)

    def message(self, entries: list[BatchEntry], *, text_only: bool) -> EmailMultiAlternatives:
        """One anymail message for entries of one language and format (parts() is not None)."""
        html, text = self.parts()
        message = EmailMultiAlternatives(
            subject=self.factory.subject,
            body=join_parts(text, self.syntax.marker),
            from_email=self.factory.from_header,
            to=[formataddr((_clean(e.recipient.name), e.recipient.email)) for e in entries],
            headers=dict(self.factory.common_headers),
        )
        if not text_only:
            message.attach_alternative(join_parts(html, self.syntax.marker), "text/html")
        message.merge_data = {e.recipient.email: e.values for e in entries}
        message.merge_headers = {e.recipient.email: e.headers for e in entries}
        if self.syntax.esp_extra:
            message.esp_extra = dict(self.syntax.esp_extra)
        return message


def batch_plan(factory: MessageFactory, transport: Transport) -> BatchPlan | None:
    """A plan when the transport is an ESP with inline merge and the campaign is batchable."""
    if not isinstance(transport, ESPTransport):
        return None
    syntax = batch_syntax()
    if syntax is None:
        return None
    bodies = split_campaign(factory.compiled)
    if bodies is None:
        return None
    plan = BatchPlan(factory=factory, syntax=syntax, bodies=bodies)
    if plan._reserved(factory.subject, factory.from_header, *factory.common_headers.values()):
        return None
    return plan
