"""API keys, the record of every write made with one, webhook endpoints and their deliveries.

A key is shown once, when it is made; only its SHA-256 is stored (a key is 32 random bytes,
so a fast hash is enough: nobody can guess such a key from its hash, unlike a password). Its
first characters (`prefix`) are kept in the clear so people can tell keys apart in the list.
A webhook endpoint's signing secret must be read back to sign each delivery, so it is kept
encrypted (rundbrief.secretbox), like the IMAP passwords.
"""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _


class Scope(models.TextChoices):
    SUBSCRIBERS_READ = "subscribers:read", _("Subscribers, topics, consent history: read")
    SUBSCRIBERS_WRITE = "subscribers:write", _("Subscribers: create, change, unsubscribe, erase")
    CAMPAIGNS_READ = "campaigns:read", _("Campaigns and their stats: read")
    CAMPAIGNS_WRITE = "campaigns:write", _("Campaigns: create, preview, test send, schedule, pause")
    INBOX_READ = "inbox:read", _("Conversations and messages: read")
    INBOX_WRITE = "inbox:write", _("Conversations: answer, assign, close")
    SUPPRESSIONS_READ = "suppressions:read", _("Suppression list: read")
    SUPPRESSIONS_WRITE = "suppressions:write", _("Suppression list: add addresses")
    AUDIENCE_READ = (
        "audience:read",
        _("Attributes and segments: read (a segment's members also need subscribers:read)"),
    )
    AUDIENCE_WRITE = "audience:write", _("Attributes and segments: create, change, delete")


class ApiKey(models.Model):
    name = models.CharField(_("name"), max_length=120, help_text=_("What the key is for, e.g. “CRM sync”."))
    prefix = models.CharField(_("prefix"), max_length=16, unique=True, editable=False)
    secret_hash = models.CharField(_("key hash"), max_length=64, unique=True, editable=False)
    scopes = models.JSONField(_("scopes"), default=list)
    rate_limit_per_minute = models.PositiveIntegerField(
        _("requests per minute"), default=120, help_text=_("Requests beyond this get 429.")
    )
    expires_at = models.DateTimeField(_("expires"), null=True, blank=True)
    last_used_at = models.DateTimeField(_("last used"), null=True, blank=True)
    revoked_at = models.DateTimeField(_("revoked"), null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("created by"),
        on_delete=models.SET_NULL,
        null=True,
        related_name="api_keys",
    )
    created_at = models.DateTimeField(_("created"), auto_now_add=True)

    class Meta:
        verbose_name = _("API key")
        verbose_name_plural = _("API keys")
        ordering = ["-created_at"]
        permissions = [("manage_integrations", _("Can manage API keys and webhooks"))]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"


class ApiWrite(models.Model):
    """One write made through the API: which key, what, when, from where, with what result."""

    key = models.ForeignKey(
        ApiKey, verbose_name=_("API key"), on_delete=models.CASCADE, related_name="writes"
    )
    method = models.CharField(_("method"), max_length=8)
    path = models.CharField(_("path"), max_length=500)
    status_code = models.PositiveSmallIntegerField(_("status"))
    ip_address = models.GenericIPAddressField(_("IP address"), null=True, blank=True)
    created_at = models.DateTimeField(_("time"), auto_now_add=True, db_index=True)

    class Meta:
        verbose_name = _("API write")
        verbose_name_plural = _("API writes")
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.method} {self.path} ({self.status_code})"


class WebhookEndpoint(models.Model):
    url = models.URLField(_("URL"), max_length=500)
    description = models.CharField(_("description"), max_length=200, blank=True)
    events = models.JSONField(_("events"), default=list)
    secret_encrypted = models.TextField(_("signing secret (encrypted)"), editable=False)
    is_active = models.BooleanField(_("active"), default=True)
    consecutive_failures = models.PositiveIntegerField(_("failures in a row"), default=0, editable=False)
    disabled_at = models.DateTimeField(_("disabled"), null=True, blank=True, editable=False)
    disabled_reason = models.TextField(_("why disabled"), blank=True, editable=False)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("created by"),
        on_delete=models.SET_NULL,
        null=True,
        related_name="+",
    )
    created_at = models.DateTimeField(_("created"), auto_now_add=True)

    class Meta:
        verbose_name = _("webhook endpoint")
        verbose_name_plural = _("webhook endpoints")
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return self.url


class WebhookDelivery(models.Model):
    class Status(models.TextChoices):
        PENDING = "pending", _("Waiting to be sent")
        RETRYING = "retrying", _("Failed, will be retried")
        SUCCEEDED = "succeeded", _("Delivered")
        FAILED = "failed", _("Failed for good")

    endpoint = models.ForeignKey(
        WebhookEndpoint, verbose_name=_("endpoint"), on_delete=models.CASCADE, related_name="deliveries"
    )
    event_id = models.UUIDField(_("event id"), default=uuid.uuid4, editable=False)
    event = models.CharField(_("event"), max_length=64)
    payload = models.JSONField(_("payload"))
    status = models.CharField(_("status"), max_length=10, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveSmallIntegerField(_("attempts"), default=0)
    response_status = models.PositiveSmallIntegerField(_("last response status"), null=True, blank=True)
    response_body = models.TextField(_("last response (start)"), blank=True)
    error = models.TextField(_("last error"), blank=True)
    next_attempt_at = models.DateTimeField(_("next attempt"), null=True, blank=True)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    delivered_at = models.DateTimeField(_("delivered"), null=True, blank=True)

    class Meta:
        verbose_name = _("webhook delivery")
        verbose_name_plural = _("webhook deliveries")
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["endpoint", "-created_at"], name="webhook_delivery_log_idx")]

    def __str__(self) -> str:
        return f"{self.event} → {self.endpoint_id} ({self.status})"
