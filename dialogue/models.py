"""Dialogue beyond one-to-one: the public archive, reader letters published only with consent,
and the subscriber's own channel (continue in the browser, ask for a call back).

Foreign keys name the other apps' models by string; nothing here imports campaigns or replies.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _


class ArchiveRemoval(models.Model):
    """A marketer took this sent issue off the public archive (and its feed)."""

    campaign = models.OneToOneField(
        "campaigns.Campaign",
        verbose_name=_("campaign"),
        on_delete=models.CASCADE,
        related_name="archive_removal",
    )
    removed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("removed by"),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    removed_at = models.DateTimeField(verbose_name=_("removed"), auto_now_add=True)

    class Meta:
        verbose_name = _("issue taken off the archive")
        verbose_name_plural = _("issues taken off the archive")

    def __str__(self) -> str:
        return f"{self.campaign_id} off the archive"


class ReaderLetter(models.Model):
    """An excerpt of a subscriber's reply that staff propose to publish; only the subscriber's
    explicit "yes" (a POST on the signed page) publishes it, and they can withdraw it at any time."""

    class Status(models.TextChoices):
        PROPOSED = "proposed", _("Waiting for the subscriber's consent")
        PUBLISHED = "published", _("Published with consent")
        DECLINED = "declined", _("Declined by the subscriber")
        WITHDRAWN = "withdrawn", _("Withdrawn by the subscriber")

    class Signature(models.TextChoices):
        FULL_NAME = "full_name", _("Full name")
        INITIALS_TOWN = "initials_town", _("Initials and town")
        ANONYMOUS = "anonymous", _("Anonymous")

    subscriber = models.ForeignKey(
        "subscribers.Subscriber",
        verbose_name=_("subscriber"),
        on_delete=models.CASCADE,
        related_name="reader_letters",
    )
    topic = models.ForeignKey(
        "subscribers.Topic", verbose_name=_("topic"), on_delete=models.PROTECT, related_name="reader_letters"
    )
    conversation = models.ForeignKey(
        "replies.Conversation",
        verbose_name=_("conversation"),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="reader_letters",
    )
    source_message = models.ForeignKey(
        "replies.Message",
        verbose_name=_("reply"),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    # Exactly the words that would appear (an excerpt of the reply: shortened, never reworded).
    text = models.TextField(verbose_name=_("text"))
    signature_kind = models.CharField(
        verbose_name=_("signature"), max_length=16, choices=Signature.choices, default=Signature.ANONYMOUS
    )
    # The signature as it would appear ("Karla Meier", "K. M., Bonn"); empty when anonymous.
    signature = models.CharField(verbose_name=_("signature as shown"), max_length=200, blank=True)
    status = models.CharField(
        verbose_name=_("status"),
        max_length=12,
        choices=Status.choices,
        default=Status.PROPOSED,
        db_index=True,
    )
    proposed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("proposed by"),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    proposed_at = models.DateTimeField(verbose_name=_("proposed"), auto_now_add=True)
    published_at = models.DateTimeField(verbose_name=_("published"), null=True, blank=True, db_index=True)
    withdrawn_at = models.DateTimeField(verbose_name=_("withdrawn"), null=True, blank=True)

    class Meta:
        verbose_name = _("reader letter")
        verbose_name_plural = _("reader letters")
        ordering = ["-proposed_at", "-id"]

    def __str__(self) -> str:
        return f"#{self.pk} ({self.get_status_display()})"


class LetterConsent(models.Model):
    """Append-only proof for a reader letter: what was asked, what was agreed to or withdrawn,
    the exact text and signature, and the version of the request's wording."""

    class Kind(models.TextChoices):
        REQUESTED = "requested", _("Consent requested")
        GIVEN = "given", _("Consent given")
        DECLINED = "declined", _("Declined")
        WITHDRAWN = "withdrawn", _("Consent withdrawn")

    letter = models.ForeignKey(
        ReaderLetter, verbose_name=_("reader letter"), on_delete=models.CASCADE, related_name="consents"
    )
    kind = models.CharField(verbose_name=_("event"), max_length=12, choices=Kind.choices)
    text = models.TextField(verbose_name=_("exact text"))
    signature = models.CharField(verbose_name=_("signature as shown"), max_length=200, blank=True)
    wording_version = models.CharField(verbose_name=_("wording version"), max_length=32)
    source = models.CharField(verbose_name=_("source"), max_length=24, blank=True)
    ip_address = models.GenericIPAddressField(verbose_name=_("IP address"), null=True, blank=True)
    user_agent = models.TextField(verbose_name=_("user agent"), blank=True)
    created_at = models.DateTimeField(verbose_name=_("time"), auto_now_add=True)

    class Meta:
        verbose_name = _("reader letter consent")
        verbose_name_plural = _("reader letter consents")
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} #{self.letter_id}"


class CallbackRequest(models.Model):
    """A subscriber asks to be called back. The request enters the inbound pipeline as a short
    message of theirs (so the conversation waits in the queue like any reply, routed the same way),
    and this row, tied to that message and so to its conversation, holds the phone number and the
    time window: stored only here, and deleted CALLBACK_RETENTION_DAYS after the conversation
    closed (dialogue.services.callbacks), with the conversation, or with the subscriber's erasure."""

    subscriber = models.ForeignKey(
        "subscribers.Subscriber",
        verbose_name=_("subscriber"),
        on_delete=models.CASCADE,
        related_name="callback_requests",
    )
    inbound = models.OneToOneField(
        "replies.InboundMessage",
        verbose_name=_("request message"),
        on_delete=models.CASCADE,
        related_name="callback_request",
    )
    phone = models.CharField(verbose_name=_("phone number"), max_length=40)
    window = models.CharField(verbose_name=_("when to call"), max_length=200)
    created_at = models.DateTimeField(verbose_name=_("asked"), auto_now_add=True)

    class Meta:
        verbose_name = _("call-back request")
        verbose_name_plural = _("call-back requests")
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"call back #{self.inbound_id}"


class ConversationWish(models.Model):
    """What the subscriber decided about one conversation: who may read it, and whether they
    deleted it (its messages are gone then; staff see that the subscriber deleted it, and when)."""

    class Readers(models.TextChoices):
        TEAM = "team", _("The team")
        CONTACT = "contact", _("Only my contact person")

    conversation = models.OneToOneField(
        "replies.Conversation",
        verbose_name=_("conversation"),
        on_delete=models.CASCADE,
        related_name="dialogue_wish",
    )
    readers = models.CharField(
        verbose_name=_("who may read it"), max_length=8, choices=Readers.choices, default=Readers.TEAM
    )
    readers_changed_at = models.DateTimeField(verbose_name=_("changed"), null=True, blank=True)
    deleted_by_subscriber_at = models.DateTimeField(
        verbose_name=_("deleted by the subscriber"), null=True, blank=True
    )

    class Meta:
        verbose_name = _("subscriber's wish for a conversation")
        verbose_name_plural = _("subscribers' wishes for conversations")

    def __str__(self) -> str:
        return f"#{self.conversation_id}: {self.readers}"


class ReaderOverride(models.Model):
    """A manager read a conversation its subscriber kept for their contact person, and why."""

    conversation = models.ForeignKey(
        "replies.Conversation",
        verbose_name=_("conversation"),
        on_delete=models.CASCADE,
        related_name="reader_overrides",
    )
    manager = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("manager who opened it"),
        on_delete=models.CASCADE,
        related_name="+",
    )
    reason = models.TextField(verbose_name=_("reason"))
    created_at = models.DateTimeField(verbose_name=_("time"), auto_now_add=True)

    class Meta:
        verbose_name = _("manager override")
        verbose_name_plural = _("manager overrides")
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"override #{self.conversation_id} by {self.manager_id}"
