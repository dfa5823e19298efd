"""Campaigns and their per-recipient deliveries.

One Delivery row per (campaign, subscriber), unique in the database: it is the ledger
that makes sending exactly-once and carries what a reply needs to find its way back
(the reply token in Reply-To, the Message-ID for In-Reply-To/References).
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from subscribers.models import Subscriber, Topic


class Campaign(models.Model):
    class Status(models.TextChoices):
        DRAFT = "draft", _("Draft")
        SCHEDULED = "scheduled", _("Scheduled")
        SENDING = "sending", _("Sending")
        PAUSED = "paused", _("Paused")
        SENT = "sent", _("Sent")
        CANCELLED = "cancelled", _("Cancelled")

    name = models.CharField(max_length=200)
    topics = models.ManyToManyField(Topic, related_name="campaigns")
    subject = models.CharField(max_length=255)
    preheader = models.CharField(max_length=255, blank=True)
    from_name = models.CharField(max_length=200, blank=True)
    mjml_body = models.TextField()
    text_body = models.TextField(blank=True, help_text=_("Optional. Generated from the HTML when empty."))
    contact = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="contact_campaigns",
        help_text=_("The named person who answers replies. Defaults to the first topic's owner."),
    )
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.DRAFT, db_index=True)
    scheduled_at = models.DateTimeField(null=True, blank=True, db_index=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    # Set when the launch has created every Delivery row: only then can the campaign be "sent".
    queued_all_at = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return self.name


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
        Campaign, on_delete=models.CASCADE, related_name="deliveries", db_index=False
    )
    # Kept when a subscriber is erased (null then), so campaign stats stay true.
    subscriber = models.ForeignKey(
        Subscriber,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="deliveries",
        db_index=False,
    )
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.QUEUED)
    reply_token = models.CharField(max_length=40, unique=True)
    message_id = models.CharField(max_length=255, unique=True)
    esp_message_id = models.CharField(max_length=255, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    error = models.TextField(blank=True)
    soft_bounces = models.PositiveSmallIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
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
        ]

    def __str__(self) -> str:
        return f"{self.campaign} → {self.subscriber_id} ({self.status})"


class Acceptance(models.Model):
    """A backend's acceptance of one delivery, committed the moment it happens.

    A narrow, append-only row is far cheaper to commit per message than updating the
    wide, much-indexed Delivery row; the send loop folds these into Delivery once per
    chunk, and recovery folds what a killed worker left before re-queueing anything.
    """

    delivery = models.OneToOneField(Delivery, on_delete=models.CASCADE, primary_key=True, related_name="+")
    esp_message_id = models.CharField(max_length=255, blank=True)
    accepted_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"accepted {self.delivery_id}"
