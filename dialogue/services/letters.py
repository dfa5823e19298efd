"""Reader letters: staff propose an excerpt of a reply, only the subscriber's "yes" publishes it.

- propose: the excerpt must be the reply's own words in their order (shortened, never reworded:
  parts may be left out, marked "…" or not); the signature is fixed now, so the subscriber sees
  exactly what would appear. A consent request is recorded and mailed after the commit.
- consent / decline: only on the signed page, only by POST, only for the text and signature that
  page showed (a digest of both comes back with the form).
- withdraw: at any time, from the page or the preference centre; the letter leaves the archive
  and every later send (dialogue.letters shows published letters only).
Every step is a LetterConsent row: kind, the exact text and signature, the request's wording version.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from dialogue.links import letter_url
from dialogue.mails import send_to_subscriber
from dialogue.models import LetterConsent, ReaderLetter
from replies.interface import Conversation, Message
from rundbrief.effects import Enqueue, after_commit
from subscribers.models import Topic

# The version of the request's wording (templates/dialogue/letter.html and the request mail):
# a new wording is a new version, and every consent record names the one that was shown.
WORDING_VERSION = "letter-request-1"
MAX_LETTER_CHARS = 3000
_OMISSION = re.compile(r"\[?\s*(?:…|\.\.\.)\s*\]?|\(\s*(?:…|\.\.\.)\s*\)")
_WORD = re.compile(r"\w+|[^\w\s]")
S = ReaderLetter.Status
K = LetterConsent.Kind


class LetterError(ValueError):
    """The proposal or the answer cannot be accepted; the message says why, for the person."""


@dataclass(frozen=True)
class ClientInfo:
    ip: str | None = None
    user_agent: str = ""


def _words(text: str) -> list[str]:
    return _WORD.findall(_OMISSION.sub(" ", text))


def is_excerpt(excerpt: str, original: str) -> bool:
    """Every word and sign of the excerpt appears in the original, in the same order."""
    remaining = iter(_words(original))
    return all(word in remaining for word in _words(excerpt))


def signature_for(*, kind: str, name: str, town: str) -> str:
    name, town = " ".join(name.split()), " ".join(town.split())
    if kind == ReaderLetter.Signature.ANONYMOUS:
        return ""
    if not name:
        raise LetterError(_("The subscriber gave no name: choose the anonymous signature."))
    if kind == ReaderLetter.Signature.FULL_NAME:
        return name
    initials = " ".join(f"{part[0].upper()}." for part in re.split(r"[\s-]+", name) if part)
    return f"{initials}, {town}" if town else initials


def shown_digest(letter: ReaderLetter) -> str:
    """What the consent page showed: the text and the signature (a changed letter is a new question)."""
    return hashlib.sha256(f"{letter.text}\x00{letter.signature}".encode()).hexdigest()


def _record(letter: ReaderLetter, kind: str, *, source: str, client: ClientInfo | None = None) -> None:
    client = client or ClientInfo()
    LetterConsent.objects.create(
        letter=letter,
        kind=kind,
        text=letter.text,
        signature=letter.signature,
        wording_version=WORDING_VERSION,
        source=source,
        ip_address=client.ip,
        user_agent=client.user_agent,
    )


def propose_letter(
    *,
    conversation: Conversation,
    message: Message,
    text: str,
    signature_kind: str,
    town: str = "",
    topic: Topic,
    user: AbstractBaseUser | None,
) -> ReaderLetter:
    subscriber = conversation.subscriber
    if subscriber is None:
        raise LetterError(_("Only a known subscriber's reply can become a reader letter."))
    if message.conversation_id != conversation.pk or message.direction != Message.Direction.INBOUND:
        raise LetterError(_("Choose one of the subscriber's replies in this conversation."))
    text = text.strip()
    if not text:
        raise LetterError(_("Give the excerpt that would be published."))
    if len(text) > MAX_LETTER_CHARS:
        raise LetterError(_("A reader letter has at most %(n)d characters.") % {"n": MAX_LETTER_CHARS})
    original = message.stripped_text or message.text
    if not is_excerpt(text, original):
        raise LetterError(
            _(
                "The excerpt must keep the subscriber's words: you may leave parts out "
                "(mark them with …), not change or add any."
            )
        )
    signature = signature_for(kind=signature_kind, name=subscriber.name, town=town)
    with transaction.atomic():
        letter = ReaderLetter.objects.create(
            subscriber=subscriber,
            topic=topic,
            conversation=conversation,
            source_message=message,
            text=text,
            signature_kind=signature_kind,
            signature=signature,
            proposed_by=user,
        )
        _record(letter, K.REQUESTED, source="staff")
        after_commit(Enqueue("dialogue.tasks.send_letter_request_task", (letter.pk,)))
    return letter


def _locked(letter: ReaderLetter) -> ReaderLetter:
    return ReaderLetter.objects.select_for_update().get(pk=letter.pk)


def consent_to_letter(*, letter: ReaderLetter, shown: str, client: ClientInfo) -> ReaderLetter:
    """The subscriber's explicit yes to exactly what the page showed: the letter is published."""
    with transaction.atomic():
        letter = _locked(letter)
        if letter.status != S.PROPOSED:
            raise LetterError(_("This letter is not waiting for your answer any more."))
        if shown != shown_digest(letter):
            raise LetterError(_("The letter has changed since the page was opened. Please read it again."))
        letter.status = S.PUBLISHED
        letter.published_at = timezone.now()
        letter.save(update_fields=["status", "published_at"])
        _record(letter, K.GIVEN, source="letter_page", client=client)
    return letter


def decline_letter(*, letter: ReaderLetter, client: ClientInfo) -> ReaderLetter:
    with transaction.atomic():
        letter = _locked(letter)
        if letter.status != S.PROPOSED:
            raise LetterError(_("This letter is not waiting for your answer any more."))
        letter.status = S.DECLINED
        letter.save(update_fields=["status"])
        _record(letter, K.DECLINED, source="letter_page", client=client)
    return letter


def withdraw_letter(*, letter: ReaderLetter, source: str, client: ClientInfo) -> ReaderLetter:
    """Consent withdrawn: gone from the archive and from every later send."""
    with transaction.atomic():
        letter = _locked(letter)
        if letter.status != S.PUBLISHED:
            raise LetterError(_("This letter is not published."))
        letter.status = S.WITHDRAWN
        letter.withdrawn_at = timezone.now()
        letter.save(update_fields=["status", "withdrawn_at"])
        _record(letter, K.WITHDRAWN, source=source, client=client)
    return letter


def deliver_letter_request(*, letter_id: int) -> bool:
    """Mail the subscriber the exact text and signature, with the link to answer (the task's job)."""
    letter = ReaderLetter.objects.select_related("subscriber").filter(pk=letter_id).first()
    if letter is None or letter.status != S.PROPOSED:
        return False  # erased or answered meanwhile: nothing to ask
    send_to_subscriber(
        subscriber=letter.subscriber,
        template="letter_request",
        context={"letter": letter, "url": letter_url(letter.subscriber_id, letter.pk)},
    )
    return True
