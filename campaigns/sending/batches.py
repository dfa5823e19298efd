"""ESP batch sends: one anymail message for many recipients, personalised by merge fields.

The plan exists only for a batchable campaign (campaigns.merge) on a batch-capable ESP
(campaigns.sending.esp_syntax). Any single recipient whose mail cannot be expressed exactly
(a value containing the ESP's own merge syntax, a duplicate address, a failing filter) is
left to the per-message path; so is a whole language whose static text contains it.

A chunk goes out as one API call per language and format, its acceptances committed
together just before the call, like SMTP's before the final ".".
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from email.utils import formataddr

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.utils import translation

from campaigns.merge import MergeBodies, Slot, join_parts, split_campaign
from campaigns.messages import MessageFactory, Recipient
from campaigns.sending.esp_syntax import BatchSyntax, batch_syntax
from campaigns.sending.run import SendRun
from rundbrief.mail.headers import clean_header
from rundbrief.mail.refusals import REFUSED_STATUSES, PermanentSendError, TransientSendError
from rundbrief.mail.transports.base import Transport
from rundbrief.mail.transports.esp import ESPTransport


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
    _parts: dict[str, tuple[list[str | Slot], list[str | Slot], list[str | Slot]] | None] = field(
        default_factory=dict
    )

    @property
    def max_recipients(self) -> int:
        return self.syntax.max_recipients

    def _reserved(self, *texts: str) -> bool:
        return any(fragment in text for text in texts for fragment in self.syntax.reserved)

    def parts(self) -> tuple[list[str | Slot], list[str | Slot], list[str | Slot]] | None:
        """The bodies and the subject for the active language, rendered once; None if static text
        uses the ESP's syntax."""
        language = translation.get_language()
        if language not in self._parts:
            html, text = self.bodies.parts()
            subject = [self.factory.subject_prefix, *_one_line_pieces(self.bodies.subject_parts())]
            static = [part for part in (*html, *text, *subject) if isinstance(part, str)]
            self._parts[language] = None if self._reserved(*static) else (html, text, subject)
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
        html, text, subject = parts
        # The subject the ESP will put together must be the one this recipient's own mail has
        # (a value with a line break or surrounding spaces would differ once on one line).
        if join_parts(subject, values.__getitem__) != self.factory.subject(variables):
            return None
        # The mail the ESP will produce must hold no text the ESP would read as its own syntax.
        personalised = [join_parts(text, values.__getitem__), recipient.name, recipient.email]
        if not recipient.text_only:
            personalised.append(join_parts(html, values.__getitem__))
        if self._reserved(*personalised, *headers.values()):
            return None
        return BatchEntry(recipient=recipient, values=values, headers=headers)

    def message(self, entries: list[BatchEntry], *, text_only: bool) -> EmailMultiAlternatives:
        """One anymail message for entries of one language and format (parts() is not None)."""
        html, text, subject = self.parts()
        message = EmailMultiAlternatives(
            subject=join_parts(subject, self.syntax.marker),
            body=join_parts(text, self.syntax.marker),
            from_email=self.factory.from_header,
            to=[formataddr((clean_header(e.recipient.name), e.recipient.email)) for e in entries],
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
    if not isinstance(transport, ESPTransport) or not factory.single_variant:  # A/B: one by one
        return None
    syntax = batch_syntax()
    if syntax is None:
        return None
    bodies = split_campaign(factory.compiled)
    if bodies is None:
        return None
    plan = BatchPlan(factory=factory, syntax=syntax, bodies=bodies)
    if plan._reserved(factory.from_header, *factory.common_headers.values()):
        return None
    return plan


def _one_line_pieces(parts: list[str | Slot]) -> list[str | Slot]:
    """The subject's static pieces as rendering.one_line leaves them: runs of whitespace made one
    space, none at either end. Values go in as they are (BatchPlan.entry checks the result)."""
    pieces = [re.sub(r"\s+", " ", part) if isinstance(part, str) else part for part in parts]
    if pieces and isinstance(pieces[0], str):
        pieces[0] = pieces[0].lstrip()
    if pieces and isinstance(pieces[-1], str):
        pieces[-1] = pieces[-1].rstrip()
    return pieces


# The batch plan of each cached factory, per configured ESP (None: per-message sends).
_plans: dict[tuple[int, str], tuple[MessageFactory, BatchPlan | None]] = {}


def plan_for(campaign_id: int, factory: MessageFactory, transport: Transport) -> BatchPlan | None:
    if not isinstance(transport, ESPTransport):
        return None
    key = (campaign_id, settings.ANYMAIL_ESP)
    cached = _plans.get(key)
    if cached is None or cached[0] is not factory:
        cached = _plans[key] = (factory, batch_plan(factory, transport))
    return cached[1]


@dataclass
class BatchedChunk:
    """What a batched chunk leaves to the loop."""

    backend_down: bool = False  # the rest was handed back
    singles: list[Recipient] = field(default_factory=list)  # for the per-message path


def send_chunk_batched(run: SendRun, plan: BatchPlan, recipients: list[Recipient]) -> BatchedChunk:
    """One API call per (language, format) group; the recipients a batch cannot carry are left as singles."""
    chunk = BatchedChunk()
    groups = _batch_groups(plan, recipients, chunk.singles)
    for index, (language, text_only, entries) in enumerate(groups):
        translation.activate(language)
        if _call_esp(run, plan, entries, text_only, chunk.singles):
            rest = [e.recipient.delivery_id for _l, _t, later in groups[index + 1 :] for e in later]
            run.hand_back(rest + [r.delivery_id for r in chunk.singles])
            chunk.backend_down = True
            chunk.singles = []
            return chunk
    return chunk


def _batch_groups(
    plan: BatchPlan, recipients: list[Recipient], singles: list[Recipient]
) -> list[tuple[str, bool, list[BatchEntry]]]:
    """Entries grouped by language and format (text-only mail has no HTML part); the rest → singles."""
    groups: dict[tuple[str, bool], list[BatchEntry]] = {}
    seen: set[str] = set()
    for recipient in sorted(recipients, key=lambda r: (r.language, r.text_only)):
        if recipient.language != translation.get_language():
            translation.activate(recipient.language)
        address = recipient.email.lower()
        entry = None if address in seen else plan.entry(recipient)  # merge data is keyed by address
        seen.add(address)
        if entry is None:
            singles.append(recipient)
        else:
            groups.setdefault((recipient.language, recipient.text_only), []).append(entry)
    return [(language, text_only, entries) for (language, text_only), entries in groups.items()]


def _call_esp(
    run: SendRun, plan: BatchPlan, entries: list[BatchEntry], text_only: bool, singles: list[Recipient]
) -> bool:
    """One API call; True if the ESP is down (the caller hands the rest back)."""
    ids = [e.recipient.delivery_id for e in entries]
    message = plan.message(entries, text_only=text_only)
    run.bucket.acquire(len(entries))
    # Exactly-once, as for SMTP: the acceptances are committed BEFORE the call. A worker
    # killed during the call leaves the whole batch recorded as sent, so recovery never
    # sends it again: at most once, never a duplicate (the ESP may or may not have it).
    run.accepted(ids)
    try:
        statuses = run.transport.send_batch(message)
    except TransientSendError as exc:
        # The call failed as a whole (or its answer was lost): nothing recorded, normal retry rules.
        run.forget(ids)
        run.retry_or_fail(ids, exc.reason)
        return exc.connection_lost
    except PermanentSendError:
        # The ESP refused the call as a whole (e.g. one address it rejects fails all of
        # Mailgun's batch): nothing went out, so each recipient is tried on its own.
        run.forget(ids)
        singles.extend(e.recipient for e in entries)
        return False
    _apply_statuses(run, entries, statuses)
    return False


def _status_for(statuses: dict, email: str):
    return statuses.get(email) or next((s for e, s in statuses.items() if e.lower() == email.lower()), None)


def _apply_statuses(run: SendRun, entries: list[BatchEntry], statuses: dict) -> None:
    """Per-recipient refusals become failed deliveries; the ESP's ids go with the acceptances."""
    refused, esp_ids = [], {}
    for entry in entries:
        status = _status_for(statuses, entry.recipient.email)
        if status is not None and status.status in REFUSED_STATUSES:
            refused.append(entry.recipient.delivery_id)
            run.fail(entry.recipient.delivery_id, f"{status.status} by the ESP")
        elif status is not None and status.message_id is not None:
            esp_ids[entry.recipient.delivery_id] = str(status.message_id)
    run.forget(refused)
    run.ledger.record_esp_ids(esp_ids)
    run.sent(len(entries) - len(refused))
