"""Campaigns and their per-recipient deliveries.

One Delivery row per (campaign, subscriber), unique in the database: it is the ledger
that makes sending exactly-once and carries what a reply needs to find its way back
(the reply token in Reply-To, the Message-ID for In-Reply-To/References).
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from subscribers.models import Segment, Subscriber, Topic


def site_language() -> str:
    """A new campaign's default language: the site's (a callable, so the migration names no language)."""
    return settings.LANGUAGE_CODE


class Campaign(models.Model):
    class Status(models.TextChoices):
        DRAFT = "draft", _("Draft")
        SCHEDULED = "scheduled", _("Scheduled")
        SENDING = "sending", _("Sending")
        PAUSED = "paused", _("Paused")
        SENT = "sent", _("Sent")
        CANCELLED = "cancelled", _("Cancelled")

    name = models.CharField(verbose_name=_("name"), max_length=200)
    topics = models.ManyToManyField(Topic, verbose_name=_("topics"), related_name="campaigns")
    # The audience is the topics' subscribers, narrowed to this segment's when one is set.
    segment = models.ForeignKey(
        Segment,
        verbose_name=_("segment"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="campaigns",
        help_text=_("Optional: only the topics' subscribers who are in this segment."),
    )
    # The content below is the version in the default language; the other languages' versions
    # are CampaignVersion rows. A subscriber whose language has no version gets this one.
    default_language = models.CharField(
        verbose_name=_("default language"),
        max_length=8,
        default=site_language,
        help_text=_("The language of the main version; subscribers whose language has no version get it."),
    )
    subject = models.CharField(verbose_name=_("subject"), max_length=255)
    preheader = models.CharField(verbose_name=_("preheader"), max_length=255, blank=True)
    from_name = models.CharField(verbose_name=_("sender name"), max_length=200, blank=True)
    mjml_body = models.TextField(verbose_name=_("body (MJML)"))
    text_body = models.TextField(
        verbose_name=_("text version"),
        blank=True,
        help_text=_("Optional. Generated from the HTML when empty."),
    )
    contact = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("contact person"),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="contact_campaigns",
        help_text=_("The named person who answers replies. Defaults to the first topic's owner."),
    )
    status = models.CharField(
        verbose_name=_("status"), max_length=16, choices=Status.choices, default=Status.DRAFT, db_index=True
    )
    scheduled_at = models.DateTimeField(verbose_name=_("scheduled for"), null=True, blank=True, db_index=True)
    started_at = models.DateTimeField(verbose_name=_("started"), null=True, blank=True)
    finished_at = models.DateTimeField(verbose_name=_("finished"), null=True, blank=True)
    # What went out, kept at the start (a cancelled campaign can be edited and launched again).
    sent_content = models.JSONField(verbose_name=_("content as sent"), default=dict, blank=True)
    # Set when the launch has created every Delivery row: only then can the campaign be "sent".
    queued_all_at = models.DateTimeField(verbose_name=_("all deliveries queued"), null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("created by"),
    )
    created_at = models.DateTimeField(verbose_name=_("created"), auto_now_add=True)
    updated_at = models.DateTimeField(verbose_name=_("updated"), auto_now=True)

    class Meta:
        verbose_name = _("campaign")
        verbose_name_plural = _("campaigns")
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return self.name


class CampaignVersion(models.Model):
    """A campaign's content in a language other than its default (Campaign.default_language).

    The language is one of settings.LANGUAGES (checked by the services, not by database choices,
    so a third language is only a settings change).
    """

    campaign = models.ForeignKey(
        Campaign, verbose_name=_("campaign"), on_delete=models.CASCADE, related_name="versions"
    )
    language = models.CharField(verbose_name=_("language"), max_length=8)
    subject = models.CharField(verbose_name=_("subject"), max_length=255)
    preheader = models.CharField(verbose_name=_("preheader"), max_length=255, blank=True)
    mjml_body = models.TextField(verbose_name=_("body (MJML)"))
    text_body = models.TextField(verbose_name=_("text version"), blank=True)
    updated_at = models.DateTimeField(verbose_name=_("updated"), auto_now=True)

    class Meta:
        verbose_name = _("campaign version")
        verbose_name_plural = _("campaign versions")
        ordering = ["campaign", "language"]
        constraints = [
            models.UniqueConstraint(
                fields=["campaign", "language"], name="campaign_version_once_per_language"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.campaign} ({self.language})"


class Delivery(models.Model):
    class Status(models.TextChoices):
        QUEUED = "queued", _("Queued")
        SENDING = "sending", _("Sending")
        SENT = "sent", _("Sent")
        FAILED = "failed", _("Failed")
        BOUNCED = "bounced", _("Bounced")
        COMPLAINED = "complained", _("Complained")
        SKIPPED = "skipped", _("Skipped (unsubscribed or suppressed before sending)")

    # Every index costs on each of a delivery's state changes; these two are covered by the
    # composite indexes below, so they get none of their own.
    campaign = models.ForeignKey(
        Campaign,
        on_delete=models.CASCADE,
        related_name="deliveries",
        db_index=False,
        verbose_name=_("campaign"),
    )
    # Kept when a subscriber is erased (null then), so campaign stats stay true.
    subscriber = models.ForeignKey(
        Subscriber,
        verbose_name=_("subscriber"),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="deliveries",
        db_index=False,
    )
    status = models.CharField(
        verbose_name=_("status"), max_length=16, choices=Status.choices, default=Status.QUEUED
    )
    reply_token = models.CharField(verbose_name=_("reply token"), max_length=40, unique=True)
    message_id = models.CharField(verbose_name=_("Message-ID"), max_length=255, unique=True)
    esp_message_id = models.CharField(verbose_name=_("ESP message id"), max_length=255, blank=True)
    attempts = models.PositiveSmallIntegerField(verbose_name=_("attempts"), default=0)
    error = models.TextField(verbose_name=_("error"), blank=True)
    soft_bounces = models.PositiveSmallIntegerField(verbose_name=_("soft bounces"), default=0)
    created_at = models.DateTimeField(verbose_name=_("created"), auto_now_add=True)
    updated_at = models.DateTimeField(verbose_name=_("updated"), auto_now=True)
    sent_at = models.DateTimeField(verbose_name=_("sent"), null=True, blank=True)
    # Sent, as far as we know, but a worker died before the server confirmed it: the last round
    # of a killed worker's chunk, whose final "." may never have been written (campaigns.sending.ledger).
    handover_unconfirmed = models.BooleanField(
        verbose_name=_("handed over, not confirmed"), default=False, db_default=False
    )
    # An A/B test's variant this mail was sent with ("a" or "b"; the rest of the audience gets the
    # winner's letter); empty for a campaign without an A/B test.
    variant = models.CharField(verbose_name=_("variant"), max_length=1, blank=True, default="", db_default="")

    class Meta:
        verbose_name = _("delivery")
        verbose_name_plural = _("deliveries")
        constraints = [
            models.UniqueConstraint(fields=["campaign", "subscriber"], name="delivery_once_per_subscriber"),
        ]
        indexes = [
            models.Index(fields=["campaign", "status"], name="delivery_campaign_status_idx"),
            # The audience's frequency cap counts a subscriber's recent sends.
            models.Index(fields=["subscriber", "sent_at"], name="delivery_subscriber_sent_idx"),
            # Tracking webhooks look deliveries up by the ESP's id; SMTP deliveries have none.
            models.Index(
                fields=["esp_message_id"], condition=~models.Q(esp_message_id=""), name="delivery_esp_id_idx"
            ),
            # /metrics counts bounces and complaints: only those rows are in it (the send path's
            # updates of other rows only evaluate the condition; status is indexed already).
            models.Index(
                fields=["status"],
                condition=models.Q(status__in=["bounced", "complained"]),
                name="delivery_bounce_complaint_idx",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.campaign} → {self.subscriber_id} ({self.status})"


class ABTest(models.Model):
    """A campaign's A/B test by replies: a sample gets A or B, after the wait the rest gets the
    variant more people replied to (campaigns.abtest). Off unless ``enabled``; kept when switched
    off, so the variant B written is never lost.

    The decision is recorded once, with the figures it was made on.
    """

    class Kind(models.TextChoices):
        SUBJECT = "subject", _("Subject line and preheader")
        BODY = "body", _("Body (MJML and text)")

    class Variant(models.TextChoices):
        A = "a", "A"
        B = "b", "B"

    campaign = models.OneToOneField(
        Campaign, verbose_name=_("campaign"), on_delete=models.CASCADE, related_name="ab_test"
    )
    enabled = models.BooleanField(verbose_name=_("A/B test"), default=False)
    kind = models.CharField(
        verbose_name=_("what variant B changes"), max_length=8, choices=Kind.choices, default=Kind.SUBJECT
    )
    sample_percent = models.PositiveSmallIntegerField(
        verbose_name=_("sample (percent of the audience)"), default=20
    )
    wait_hours = models.PositiveSmallIntegerField(verbose_name=_("wait before deciding (hours)"), default=24)
    # Set when every sampled delivery has been created; the wait counts from the launch.
    sample_queued_at = models.DateTimeField(verbose_name=_("sample queued"), null=True, blank=True)
    decided_at = models.DateTimeField(verbose_name=_("decided"), null=True, blank=True)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("decided by"),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        help_text=_("Empty: decided automatically after the wait."),
    )
    winner = models.CharField(verbose_name=_("winner"), max_length=1, choices=Variant.choices, blank=True)
    tie = models.BooleanField(verbose_name=_("tie"), default=False)
    delivered_a = models.PositiveIntegerField(verbose_name=_("delivered with A"), default=0)
    delivered_b = models.PositiveIntegerField(verbose_name=_("delivered with B"), default=0)
    repliers_a = models.PositiveIntegerField(verbose_name=_("people who replied to A"), default=0)
    repliers_b = models.PositiveIntegerField(verbose_name=_("people who replied to B"), default=0)

    class Meta:
        verbose_name = _("A/B test")
        verbose_name_plural = _("A/B tests")

    def __str__(self) -> str:
        return f"A/B test of {self.campaign}"


class VariantB(models.Model):
    """Variant B of one language's version: only the fields of the test's kind are used (subject and
    preheader, or body and text); the rest is the version's own."""

    ab_test = models.ForeignKey(
        ABTest, verbose_name=_("A/B test"), on_delete=models.CASCADE, related_name="variants"
    )
    language = models.CharField(verbose_name=_("language"), max_length=8)
    subject = models.CharField(verbose_name=_("subject"), max_length=255, blank=True)
    preheader = models.CharField(verbose_name=_("preheader"), max_length=255, blank=True)
    mjml_body = models.TextField(verbose_name=_("body (MJML)"), blank=True)
    text_body = models.TextField(verbose_name=_("text version"), blank=True)

    class Meta:
        verbose_name = _("variant B")
        verbose_name_plural = _("variants B")
        ordering = ["ab_test", "language"]
        constraints = [
            models.UniqueConstraint(fields=["ab_test", "language"], name="variant_b_once_per_language"),
        ]

    def __str__(self) -> str:
        return f"B of {self.ab_test.campaign} ({self.language})"


class CampaignTemplate(models.Model):
    """A campaign's content kept for new campaigns: "save as template", then "new from template"."""

    name = models.CharField(verbose_name=_("name"), max_length=200)
    subject = models.CharField(verbose_name=_("subject"), max_length=255, blank=True)
    preheader = models.CharField(verbose_name=_("preheader"), max_length=255, blank=True)
    from_name = models.CharField(verbose_name=_("sender name"), max_length=200, blank=True)
    mjml_body = models.TextField(verbose_name=_("body (MJML)"))
    text_body = models.TextField(verbose_name=_("text version"), blank=True)
    default_language = models.CharField(
        verbose_name=_("default language"), max_length=8, default=site_language
    )
    # The other languages' versions: {language: {subject, preheader, mjml_body, text_body}}.
    versions = models.JSONField(verbose_name=_("versions in other languages"), default=dict, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("created by"),
    )
    created_at = models.DateTimeField(verbose_name=_("created"), auto_now_add=True)

    class Meta:
        verbose_name = _("campaign template")
        verbose_name_plural = _("campaign templates")
        ordering = ["name", "pk"]

    def __str__(self) -> str:
        return self.name


class CampaignImage(models.Model):
    """An image of the media library, referenced by its absolute URL in campaigns (views.image)."""

    file = models.FileField(verbose_name=_("file"), upload_to="campaign-images/%Y/%m/", max_length=255)
    name = models.CharField(verbose_name=_("name"), max_length=255)  # as uploaded, for the list
    content_type = models.CharField(verbose_name=_("content type"), max_length=40)
    size = models.PositiveIntegerField(verbose_name=_("size in bytes"))
    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("uploaded by"),
    )
    uploaded_at = models.DateTimeField(verbose_name=_("uploaded"), auto_now_add=True)

    class Meta:
        verbose_name = _("campaign image")
        verbose_name_plural = _("campaign images")
        ordering = ["-uploaded_at", "-pk"]

    def __str__(self) -> str:
        return self.name


class TestSend(models.Model):
    """One test mail: who sent it to which address, and its reply token, so an answer to a test
    reaches the marketer who sent it (never a subscriber's conversation)."""

    __test__ = False  # not a pytest test class

    campaign = models.ForeignKey(
        Campaign, verbose_name=_("campaign"), on_delete=models.CASCADE, related_name="test_sends"
    )
    sent_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("sent by"),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    address = models.EmailField(verbose_name=_("address"), max_length=254)
    # Whom the test was rendered as: a subscriber's address, or empty for the sample subscriber.
    rendered_as = models.EmailField(verbose_name=_("rendered as"), max_length=254, blank=True)
    reply_token = models.CharField(verbose_name=_("reply token"), max_length=40, unique=True)
    message_id = models.CharField(verbose_name=_("Message-ID"), max_length=255, unique=True)
    sent_at = models.DateTimeField(verbose_name=_("sent"), auto_now_add=True)

    class Meta:
        verbose_name = _("test send")
        verbose_name_plural = _("test sends")
        ordering = ["-sent_at"]

    def __str__(self) -> str:
        return f"test of {self.campaign} → {self.address}"


class Acceptance(models.Model):
    """A backend's acceptance of one delivery, committed the moment it happens.

    A narrow, append-only row is far cheaper to commit per message than updating the
    wide, much-indexed Delivery row; the send loop folds these into Delivery once per
    chunk, and recovery folds what a killed worker left before re-queueing anything.
    """

    delivery = models.OneToOneField(
        Delivery, verbose_name=_("delivery"), on_delete=models.CASCADE, primary_key=True, related_name="+"
    )
    esp_message_id = models.CharField(verbose_name=_("ESP message id"), max_length=255, blank=True)
    accepted_at = models.DateTimeField(verbose_name=_("accepted"))
    # Which send chunk recorded it, in its how-manieth round: recovery tells a dead chunk's last
    # round (maybe never dotted) from the earlier ones (dotted and answered).
    chunk = models.BigIntegerField(verbose_name=_("send chunk"), null=True, blank=True)
    round = models.PositiveIntegerField(verbose_name=_("round"), default=0, db_default=0)

    class Meta:
        verbose_name = _("acceptance")
        verbose_name_plural = _("acceptances")

    def __str__(self) -> str:
        return f"accepted {self.delivery_id}"


class IgnoredTrackingEvent(models.Model):
    """A bounce or complaint from an ESP webhook that Rundbrief did not act on, and why.

    Only events about mail we sent change anything (campaigns/tracking.py); the rest are kept
    here for staff (admin), so "why is this address not suppressed?" has an answer.
    """

    class Reason(models.TextChoices):
        NO_DELIVERY = "no_delivery", _("No mail of ours has this message id")
        OTHER_RECIPIENT = "other_recipient", _("The mail with this message id went to another address")

    received_at = models.DateTimeField(verbose_name=_("received"), auto_now_add=True, db_index=True)
    esp = models.CharField(verbose_name=_("ESP"), max_length=40)
    event_type = models.CharField(verbose_name=_("event"), max_length=32)
    event_id = models.CharField(verbose_name=_("event id"), max_length=255, blank=True)
    message_id = models.CharField(verbose_name=_("message id"), max_length=255, blank=True)
    recipient = models.CharField(verbose_name=_("recipient"), max_length=254, blank=True)
    # Erasing a subscriber deletes the events that name their address.
    recipient_hash = models.CharField(
        verbose_name=_("recipient hash"), max_length=64, blank=True, db_index=True
    )
    reason = models.CharField(verbose_name=_("reason"), max_length=32, choices=Reason.choices)
    description = models.TextField(verbose_name=_("description"), blank=True)

    class Meta:
        verbose_name = _("ignored tracking event")
        verbose_name_plural = _("ignored tracking events")
        ordering = ["-received_at"]

    def __str__(self) -> str:
        return f"{self.esp} {self.event_type} {self.message_id or '-'} ({self.reason})"
