"""Mailboxes read over IMAP (for teams that cannot point an MX at Rundbrief), and what was refused.

A mailbox remembers where reading stopped: the folder's UIDVALIDITY and the highest UID
handled (stored or refused). A message is marked or moved on the server only after its raw
bytes are committed; the UID advances only after that, so a crash in between re-reads the
message and the store recognises it as a duplicate.
"""

from __future__ import annotations

from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.utils.translation import gettext_lazy as _

from rundbrief import secretbox


class ImapMailbox(models.Model):
    class Security(models.TextChoices):
        SSL = "ssl", _("TLS from the start (IMAPS, usually port 993)")
        STARTTLS = "starttls", _("STARTTLS (usually port 143)")
        NONE = "none", _("None (only inside a trusted network)")

    name = models.CharField(_("name"), max_length=120, unique=True)
    enabled = models.BooleanField(_("enabled"), default=True)
    host = models.CharField(_("server"), max_length=255, help_text=_("e.g. imap.example.org"))
    port = models.PositiveIntegerField(
        _("port"), default=993, validators=[MinValueValidator(1), MaxValueValidator(65535)]
    )
    security = models.CharField(
        _("connection security"), max_length=8, choices=Security.choices, default=Security.SSL
    )
    username = models.CharField(_("user name"), max_length=255)
    # Encrypted with a key derived from SECRET_KEY (rundbrief.secretbox); never shown again.
    password_encrypted = models.TextField(_("password (encrypted)"), blank=True, editable=False)
    folder = models.CharField(_("folder"), max_length=255, default="INBOX")
    processed_folder = models.CharField(
        _("move stored mail to"),
        max_length=255,
        blank=True,
        help_text=_(
            "A folder for mail Rundbrief has stored (created if missing). "
            "Empty: the mail stays where it is, marked as read and with the keyword $Rundbrief."
        ),
    )
    refused_folder = models.CharField(
        _("move refused mail to"),
        max_length=255,
        blank=True,
        help_text=_(
            "A folder for mail Rundbrief cannot accept (too large, not an email), created if missing. "
            "Empty: the mail stays where it is, flagged and with the keyword $RundbriefRefused. "
            "It is never deleted."
        ),
    )
    use_idle = models.BooleanField(
        _("use IMAP IDLE"),
        default=True,
        help_text=_("New mail is picked up the moment it arrives, if the server supports IDLE."),
    )
    poll_seconds = models.PositiveIntegerField(
        _("check every (seconds)"),
        default=60,
        validators=[MinValueValidator(5)],
        help_text=_("How often to look for new mail when the server does not support IDLE."),
    )
    # Where reading stopped (see the module docstring).
    uidvalidity = models.BigIntegerField(_("UIDVALIDITY"), null=True, blank=True, editable=False)
    last_uid = models.BigIntegerField(_("last UID handled"), default=0, editable=False)
    stored_count = models.PositiveIntegerField(_("messages stored"), default=0, editable=False)
    refused_count = models.PositiveIntegerField(_("messages refused"), default=0, editable=False)
    last_checked_at = models.DateTimeField(_("last checked"), null=True, blank=True, editable=False)
    last_error = models.TextField(_("last error"), blank=True, editable=False)
    last_error_at = models.DateTimeField(_("last error at"), null=True, blank=True, editable=False)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    # Changes to the configuration (not to the reading state) restart the mailbox's reader.
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    class Meta:
        ordering = ["name"]
        verbose_name = _("IMAP mailbox")
        verbose_name_plural = _("IMAP mailboxes")
        constraints = [
            models.UniqueConstraint(
                fields=["host", "port", "username", "folder"], name="imap_mailbox_folder_once"
            )
        ]

    def __str__(self) -> str:
        return self.name

    def set_password(self, password: str) -> None:
        self.password_encrypted = secretbox.encrypt(password)

    def get_password(self) -> str:
        """The password as entered; raises secretbox.SecretUnreadable after a change of SECRET_KEY."""
        return secretbox.decrypt(self.password_encrypted) if self.password_encrypted else ""


class ImapRefusal(models.Model):
    """A message in an IMAP mailbox that Rundbrief could not store, and where it was left."""

    mailbox = models.ForeignKey(
        ImapMailbox, on_delete=models.CASCADE, related_name="refusals", verbose_name=_("IMAP mailbox")
    )
    uidvalidity = models.BigIntegerField(_("UIDVALIDITY"))
    uid = models.BigIntegerField(_("UID"))
    message_id = models.CharField(_("Message-ID"), max_length=998, blank=True)
    from_address = models.CharField(_("from"), max_length=998, blank=True)
    subject = models.CharField(_("subject"), max_length=998, blank=True)
    size = models.PositiveBigIntegerField(_("size (bytes)"), default=0)
    reason = models.TextField(_("reason"))
    left_in = models.CharField(
        _("left in"), max_length=255, help_text=_("The folder the message is in now, on the server.")
    )
    refused_at = models.DateTimeField(_("refused"), auto_now_add=True)

    class Meta:
        ordering = ["-refused_at", "-id"]
        verbose_name = _("refused IMAP message")
        verbose_name_plural = _("refused IMAP messages")

    def __str__(self) -> str:
        return f"{self.mailbox}: UID {self.uid} ({self.subject or self.message_id})"
