"""Subscribers, their topics and preferences, the consent proof, and the suppression list.

Minimal data by design: an address, an optional name, a language, and what the
subscriber chose. Business rules live in services.py (writes) and selectors.py (reads).
"""

from __future__ import annotations

import hashlib

from django.conf import settings
from django.db import models
from django.db.models.fields.json import KeyTransform
from django.db.models.functions import Lower
from django.utils import timezone, translation
from django.utils.translation import gettext_lazy as _


def normalise_email(email: str) -> str:
    return email.strip().lower()


def email_hash(email: str) -> str:
    """The only trace an erased address leaves: a SHA-256 of its normalised form."""
    return hashlib.sha256(normalise_email(email).encode()).hexdigest()


class Topic(models.Model):
    slug = models.SlugField(verbose_name=_("slug"), unique=True)
    name = models.CharField(verbose_name=_("name"), max_length=200)
    description = models.TextField(verbose_name=_("description"), blank=True)
    is_public = models.BooleanField(
        verbose_name=_("public"),
        default=True,
        help_text=_("Public topics are offered on the signup page and in the API."),
    )
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("owner"),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="owned_topics",
        help_text=_("The named staff member who answers replies about this topic."),
    )
    created_at = models.DateTimeField(verbose_name=_("created"), auto_now_add=True)
    # An archived topic is no longer offered (signup, API, preference centre, new campaigns);
    # its subscriptions and history stay.
    archived_at = models.DateTimeField(verbose_name=_("archived"), null=True, blank=True)
    # The name and description in other languages than the site's (settings.LANGUAGE_CODE, which
    # ``name`` and ``description`` are in): {"de": {"name": "…", "description": "…"}}. One JSON
    # rather than name_de/name_en columns: a third language is then only a settings change, and
    # only display reads it (ordering, search and the slug stay on ``name``).
    translations = models.JSONField(verbose_name=_("translations"), default=dict, blank=True)

    class Meta:
        verbose_name = _("topic")
        verbose_name_plural = _("topics")
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def _translated(self, field: str, language: str) -> str:
        """The field in ``language``; when that is empty, the site's, then any other language's."""
        if language == settings.LANGUAGE_CODE:
            own = getattr(self, field)
        else:
            own = (self.translations.get(language) or {}).get(field, "")
        if own.strip():
            return own
        if getattr(self, field).strip():
            return getattr(self, field)
        others = (values.get(field, "") for values in self.translations.values() if isinstance(values, dict))
        return next((value for value in others if value.strip()), "")

    def name_in(self, language: str) -> str:
        return self._translated("name", language)

    def description_in(self, language: str) -> str:
        return self._translated("description", language)

    @property
    def shown_name(self) -> str:
        """The name in the active language (the visitor's or subscriber's), for pages and mails."""
        return self.name_in(translation.get_language() or settings.LANGUAGE_CODE)

    @property
    def shown_description(self) -> str:
        return self.description_in(translation.get_language() or settings.LANGUAGE_CODE)


class Subscriber(models.Model):
    class Status(models.TextChoices):
        PENDING = "pending", _("Waiting for confirmation")
        CONFIRMED = "confirmed", _("Confirmed")
        UNSUBSCRIBED = "unsubscribed", _("Unsubscribed")

    class Frequency(models.TextChoices):
        EVERY_ISSUE = "every", _("Every issue")
        PER_WEEK = "week", _("A limited number per week")
        PER_MONTH = "month", _("A limited number per month")

    class Format(models.TextChoices):
        HTML = "html", _("HTML and text")
        TEXT = "text", _("Text only")

    email = models.EmailField(verbose_name=_("email address"), max_length=320)
    # Kept beside the address so the audience query can anti-join the suppression list.
    email_hash = models.CharField(
        verbose_name=_("address hash"), max_length=64, db_index=True, editable=False
    )
    # The mailbox the address delivers to (subscribers.mailboxes): confirmation mails are
    # throttled per mailbox, so "+tag" variants of one inbox cannot be used to flood it.
    mailbox_hash = models.CharField(
        verbose_name=_("mailbox hash"), max_length=64, db_index=True, editable=False, blank=True
    )
    name = models.CharField(verbose_name=_("name"), max_length=200, blank=True)
    language = models.CharField(
        verbose_name=_("language"), max_length=2, choices=settings.LANGUAGES, default="de"
    )
    status = models.CharField(
        verbose_name=_("status"), max_length=16, choices=Status.choices, default=Status.PENDING, db_index=True
    )
    # Preferences live on the subscriber row: the audience query filters on them for
    # every send, and one row per subscriber keeps that query join-free.
    frequency = models.CharField(
        verbose_name=_("frequency"), max_length=8, choices=Frequency.choices, default=Frequency.EVERY_ISSUE
    )
    frequency_limit = models.PositiveSmallIntegerField(verbose_name=_("how many"), default=1)
    paused_until = models.DateField(verbose_name=_("paused until"), null=True, blank=True)
    format = models.CharField(
        verbose_name=_("format"), max_length=8, choices=Format.choices, default=Format.HTML
    )
    created_at = models.DateTimeField(verbose_name=_("created"), auto_now_add=True)
    updated_at = models.DateTimeField(verbose_name=_("updated"), auto_now=True)
    confirmed_at = models.DateTimeField(verbose_name=_("confirmed"), null=True, blank=True)
    unsubscribed_at = models.DateTimeField(verbose_name=_("unsubscribed"), null=True, blank=True)
    last_confirmation_sent_at = models.DateTimeField(
        verbose_name=_("last confirmation mail"), null=True, blank=True
    )
    # A confirmation mail held back by the resend window: sent by a beat task at this time.
    confirmation_due_at = models.DateTimeField(
        verbose_name=_("confirmation mail due"), null=True, blank=True, db_index=True
    )
    # Values of the fields marketers defined (Attribute), by key; empty until one is defined.
    # On PostgreSQL a GIN index serves the audience desk's "attribute is ..." filters
    # (created in migration 0007, which SQLite skips).
    attributes = models.JSONField(verbose_name=_("attributes"), default=dict, blank=True)

    class Meta:
        verbose_name = _("subscriber")
        verbose_name_plural = _("subscribers")
        constraints = [models.UniqueConstraint(Lower("email"), name="subscriber_email_ci_unique")]
        indexes = [
            # The audience desk sorts by these; the id makes each a keyset (subscribers may share a name).
            models.Index(fields=["name", "id"], name="subscriber_name_idx"),
            models.Index(fields=["confirmed_at", "id"], name="subscriber_confirmed_idx"),
            # Filters by status or language, newest first, without walking the whole id index.
            models.Index(fields=["status", "id"], name="subscriber_status_id_idx"),
            models.Index(fields=["language", "id"], name="subscriber_language_id_idx"),
        ]
        permissions = [("use_audience_desk", _("Can use the audience desk"))]

    def __str__(self) -> str:
        return self.email


class Subscription(models.Model):
    class Status(models.TextChoices):
        PENDING = "pending", _("Waiting for confirmation")
        ACTIVE = "active", _("Active")
        UNSUBSCRIBED = "unsubscribed", _("Unsubscribed")

    subscriber = models.ForeignKey(
        Subscriber, verbose_name=_("subscriber"), on_delete=models.CASCADE, related_name="subscriptions"
    )
    topic = models.ForeignKey(
        Topic, verbose_name=_("topic"), on_delete=models.PROTECT, related_name="subscriptions"
    )
    status = models.CharField(
        verbose_name=_("status"), max_length=16, choices=Status.choices, default=Status.PENDING
    )
    created_at = models.DateTimeField(verbose_name=_("created"), auto_now_add=True)
    # When the opt-in request now waiting for confirmation was made: a confirmation link
    # confirms only the requests it was sent for (subscribers.services.confirm).
    requested_at = models.DateTimeField(verbose_name=_("requested"), null=True, blank=True)
    confirmed_at = models.DateTimeField(verbose_name=_("confirmed"), null=True, blank=True)
    unsubscribed_at = models.DateTimeField(verbose_name=_("unsubscribed"), null=True, blank=True)

    class Meta:
        verbose_name = _("subscription")
        verbose_name_plural = _("subscriptions")
        constraints = [
            models.UniqueConstraint(fields=["subscriber", "topic"], name="subscription_unique_topic"),
        ]
        indexes = [models.Index(fields=["topic", "status", "subscriber"], name="subscription_audience_idx")]

    def __str__(self) -> str:
        return f"{self.subscriber} → {self.topic} ({self.status})"


class ConsentEvent(models.Model):
    """Append-only proof of consent: who, when, from where, which text, which topics."""

    class Kind(models.TextChoices):
        REQUESTED = "requested", _("Opt-in requested")
        CONFIRMED = "confirmed", _("Opt-in confirmed")
        PREFERENCES_CHANGED = "preferences_changed", _("Preferences changed")
        UNSUBSCRIBED = "unsubscribed", _("Unsubscribed")
        IMPORTED = "imported", _("Imported with prior consent")
        ERASED = "erased", _("Erased")
        SUPPRESSED = "suppressed", _("Suppressed (bounce or complaint)")
        UNSUPPRESSED = "unsuppressed", _("Suppression lifted by a manager")

    class Source(models.TextChoices):
        FORM = "form", _("Signup form")
        API = "api", _("API")
        IMPORT = "import", _("Import")
        ADMIN = "admin", _("Admin")
        LINK = "link", _("Link in a mail")
        ONE_CLICK = "one_click", _("One-click unsubscribe (RFC 8058)")
        PREFERENCE_CENTRE = "preference_centre", _("Preference centre")
        EMAIL_REPLY = "email_reply", _("Reply by mail")
        ESP_EVENT = "esp_event", _("ESP event")

    subscriber = models.ForeignKey(
        Subscriber,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="consent_events",
        verbose_name=_("subscriber"),
    )
    email_hash = models.CharField(verbose_name=_("address hash"), max_length=64, db_index=True)
    kind = models.CharField(verbose_name=_("event"), max_length=24, choices=Kind.choices)
    source = models.CharField(verbose_name=_("source"), max_length=24, choices=Source.choices)
    # When it happened (a signup processed by a worker keeps the time of the request).
    created_at = models.DateTimeField(verbose_name=_("time"), default=timezone.now, db_index=True)
    ip_address = models.GenericIPAddressField(verbose_name=_("IP address"), null=True, blank=True)
    user_agent = models.TextField(verbose_name=_("user agent"), blank=True)
    topics = models.JSONField(
        verbose_name=_("topics"), default=list, help_text=_("Topic slugs this event concerns.")
    )
    consent_text = models.TextField(verbose_name=_("consent text"), blank=True)
    consent_text_version = models.CharField(verbose_name=_("consent text version"), max_length=32, blank=True)
    details = models.JSONField(verbose_name=_("details"), default=dict, blank=True)

    class Meta:
        verbose_name = _("consent event")
        verbose_name_plural = _("consent events")
        ordering = ["created_at", "id"]
        indexes = [
            # A campaign's stats count the unsubscribes it caused on every progress poll: a
            # small partial index instead of a scan of the whole (ever growing) history.
            models.Index(
                KeyTransform("campaign_id", "details"),
                condition=models.Q(kind="unsubscribed"),
                name="consent_unsub_campaign_idx",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} ({self.created_at:%Y-%m-%d %H:%M})"


class Suppression(models.Model):
    """Addresses we must not mail, kept as a hash so that erasure leaves no address behind."""

    class Reason(models.TextChoices):
        UNSUBSCRIBED = "unsubscribed", _("Unsubscribed")
        ERASED = "erased", _("Erased on request")
        HARD_BOUNCE = "hard_bounce", _("Hard bounce")
        SOFT_BOUNCES = "soft_bounces", _("Repeated temporary bounces")
        COMPLAINT = "complaint", _("Spam complaint")
        MANUAL = "manual", _("Added by staff")

    email_hash = models.CharField(verbose_name=_("address hash"), max_length=64, unique=True)
    reason = models.CharField(verbose_name=_("reason"), max_length=16, choices=Reason.choices)
    created_at = models.DateTimeField(verbose_name=_("created"), auto_now_add=True)
    details = models.JSONField(verbose_name=_("details"), default=dict, blank=True)

    class Meta:
        verbose_name = _("suppression")
        verbose_name_plural = _("suppression list")
        # Managers see the list and lift bounce suppressions (subscribers/views/suppressions.py).
        permissions = [("lift_suppression", _("Can see the suppression list and lift bounce suppressions"))]

    def __str__(self) -> str:
        return f"{self.email_hash[:12]}… ({self.get_reason_display()})"

    @property
    def liftable(self) -> bool:
        """A manager may lift what a mail system (or staff) caused; never a person's own unsubscribe,
        erasure or complaint."""
        return self.reason in (self.Reason.HARD_BOUNCE, self.Reason.SOFT_BOUNCES, self.Reason.MANUAL)


class SystemMail(models.Model):
    """A mail sent to a subscriber outside campaigns, kept for its token (issue 10: every mail can be
    answered): the opt-in and unsubscribe confirmations, new-link and data-link mails, the dialogue's
    mails (reader letters) carry
    reply+<token>@REPLY_DOMAIN as Reply-To and bounces+<token>@REPLY_DOMAIN as envelope sender, so
    an answer lands in the queue of the owner of the topics it was about, and a bounce names it."""

    class Kind(models.TextChoices):
        CONFIRMATION = "confirmation", _("Opt-in confirmation")
        UNSUBSCRIBED = "unsubscribed", _("Unsubscribe confirmation")
        PREFERENCES_LINK = "preferences_link", _("New preference link")
        DATA_LINK = "data_link", _("Link to erase or download the data")
        DIALOGUE = "dialogue", _("Reader letter or conversation mail")

    token = models.CharField(verbose_name=_("reply token"), max_length=40, unique=True)
    subscriber = models.ForeignKey(
        Subscriber, on_delete=models.CASCADE, related_name="system_mails", verbose_name=_("subscriber")
    )
    kind = models.CharField(verbose_name=_("kind"), max_length=16, choices=Kind.choices)
    topic_ids = models.JSONField(verbose_name=_("topics"), default=list, blank=True)
    sent_at = models.DateTimeField(verbose_name=_("sent"), default=timezone.now)

    class Meta:
        verbose_name = _("system mail")
        verbose_name_plural = _("system mails")

    def __str__(self) -> str:
        return f"{self.get_kind_display()} → {self.subscriber_id}"


class Bounce(models.Model):
    """Every bounce and complaint received, whether it suppressed anyone or not (issue 9).

    ``address`` is what the report named (empty when it named no readable address); a bounce
    for an address that is no subscriber of ours is kept and shown, and suppresses nothing.
    The delivery, campaign and inbound mail are kept as ids (the rows live in other apps and
    may be gone); erasing a subscriber deletes their rows (by subscriber and by address hash).
    """

    class Kind(models.TextChoices):
        BOUNCE = "bounce", _("Bounce")
        COMPLAINT = "complaint", _("Spam complaint")

    class Reason(models.TextChoices):
        # The vocabulary of replies/bounces/vocabulary.py (and of ESP webhook events).
        USER_UNKNOWN = "user_unknown", _("Mailbox does not exist")
        HOST_UNKNOWN = "host_unknown", _("Domain or mail server does not exist")
        MAILBOX_FULL = "mailbox_full", _("Mailbox full")
        MESSAGE_TOO_BIG = "message_too_big", _("Message too big")
        BLOCKED_POLICY = "blocked_policy", _("Refused by policy")
        SPAM_REJECTED = "spam_rejected", _("Refused as spam")
        EXPIRED = "expired", _("Delivery expired after retries")
        NETWORK_SYSTEM = "network_system", _("Network or system error")
        RELAYING_DENIED = "relaying_denied", _("Relaying denied")
        COMPLAINT = "complaint", _("Marked as spam by the recipient")
        OTHER = "other", _("Other")

    class Match(models.TextChoices):
        VERP = "verp", _("VERP return path")
        REPLY_TOKEN = "reply_token", _("Reply token")
        MESSAGE_ID = "message_id", _("Message-ID of the returned original")
        SUBSCRIBER_ADDRESS = "subscriber_address", _("Failed address is a subscriber's")
        ESP_EVENT = "esp_event", _("ESP event")
        NONE = "none", _("No delivery and no subscriber")

    received_at = models.DateTimeField(verbose_name=_("received"), default=timezone.now, db_index=True)
    kind = models.CharField(verbose_name=_("kind"), max_length=16, choices=Kind.choices, default=Kind.BOUNCE)
    subscriber = models.ForeignKey(
        Subscriber,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="bounces",
        verbose_name=_("subscriber"),
    )
    address = models.CharField(verbose_name=_("address"), max_length=254, blank=True)
    address_hash = models.CharField(verbose_name=_("address hash"), max_length=64, blank=True, db_index=True)
    permanent = models.BooleanField(verbose_name=_("permanent"), default=False)
    reason = models.CharField(
        verbose_name=_("reason"), max_length=24, choices=Reason.choices, default=Reason.OTHER
    )
    status = models.CharField(verbose_name=_("status code"), max_length=16, blank=True)
    action = models.CharField(verbose_name=_("action"), max_length=16, blank=True)
    diagnostic = models.TextField(verbose_name=_("diagnostic"), blank=True)
    evidence = models.CharField(
        verbose_name=_("read by"), max_length=32, blank=True, help_text=_("rfc3464, flufl.bounce, arf, ...")
    )
    rule = models.CharField(verbose_name=_("rule"), max_length=32, blank=True)
    match = models.CharField(verbose_name=_("attributed by"), max_length=24, choices=Match.choices)
    delivery_id = models.BigIntegerField(verbose_name=_("delivery"), null=True, blank=True, db_index=True)
    campaign_id = models.BigIntegerField(verbose_name=_("campaign"), null=True, blank=True, db_index=True)
    inbound_message_id = models.BigIntegerField(verbose_name=_("inbound mail"), null=True, blank=True)
    suppressed = models.BooleanField(verbose_name=_("suppressed"), default=False)
    score = models.FloatField(verbose_name=_("bounce score after it"), default=0)
    # False once a manager lifted the suppression: older bounces no longer count.
    counts = models.BooleanField(verbose_name=_("counts toward the score"), default=True)

    class Meta:
        verbose_name = _("bounce")
        verbose_name_plural = _("bounces")
        ordering = ["-received_at", "-id"]
        indexes = [models.Index(fields=["subscriber", "received_at"], name="bounce_subscriber_time_idx")]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.address or '-'} ({self.reason})"


class ConsentText(models.Model):
    """The exact wording a person agrees to on the signup page and in the API, versioned.

    A model rather than a setting so that whoever is responsible for the wording can publish a
    new version in the admin without a deploy. Versions are never edited once saved (the
    admin shows them read-only): a new wording is a new version, and every ConsentEvent
    stores the text and version that were shown.
    """

    version = models.CharField(verbose_name=_("version"), max_length=32)
    language = models.CharField(verbose_name=_("language"), max_length=2, choices=settings.LANGUAGES)
    text = models.TextField(verbose_name=_("text"))
    created_at = models.DateTimeField(verbose_name=_("published"), auto_now_add=True)

    class Meta:
        verbose_name = _("consent text")
        verbose_name_plural = _("consent texts")
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["version", "language"], name="consent_text_version_language_unique"
            )
        ]

    def __str__(self) -> str:
        return f"{self.version} ({self.language})"


class Attribute(models.Model):
    """A field marketers define on subscribers (minimal data: none exists until defined)."""

    class Kind(models.TextChoices):
        TEXT = "text", _("Text")
        NUMBER = "number", _("Number")
        DATE = "date", _("Date")
        CHOICE = "choice", _("Choice")
        YES_NO = "yes_no", _("Yes/no")

    key = models.SlugField(
        verbose_name=_("key"),
        max_length=50,
        unique=True,
        help_text=_("Used in the API, imports and exports; cannot be changed later."),
    )
    label_en = models.CharField(verbose_name=_("label (English)"), max_length=100)
    label_de = models.CharField(verbose_name=_("label (German)"), max_length=100)
    kind = models.CharField(verbose_name=_("type"), max_length=8, choices=Kind.choices)
    choices = models.JSONField(
        verbose_name=_("choices"), default=list, blank=True, help_text=_("Only for the type Choice.")
    )
    is_public = models.BooleanField(
        verbose_name=_("public"),
        default=False,
        help_text=_("Public fields may be asked for on the signup page and in the API."),
    )
    created_at = models.DateTimeField(verbose_name=_("created"), auto_now_add=True)

    class Meta:
        verbose_name = _("attribute")
        verbose_name_plural = _("attributes")
        ordering = ["key"]

    def __str__(self) -> str:
        return self.key

    def label(self, language: str) -> str:
        return self.label_de if language == "de" else self.label_en


class Segment(models.Model):
    """A saved filter over subscribers (audience.filters); a campaign may be narrowed by one."""

    name = models.CharField(verbose_name=_("name"), max_length=200)
    definition = models.JSONField(verbose_name=_("filter"), default=dict)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("created by"),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    created_at = models.DateTimeField(verbose_name=_("created"), auto_now_add=True)
    updated_at = models.DateTimeField(verbose_name=_("updated"), auto_now=True)

    class Meta:
        verbose_name = _("segment")
        verbose_name_plural = _("segments")
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class SubscriberChange(models.Model):
    """Who changed what on a subscriber in the audience desk (erased with the subscriber)."""

    subscriber = models.ForeignKey(
        Subscriber, verbose_name=_("subscriber"), on_delete=models.CASCADE, related_name="changes"
    )
    changed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("changed by"),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    # {field: [old, new]}; attribute fields are named "attributes.<key>".
    changes = models.JSONField(verbose_name=_("changes"), default=dict)
    created_at = models.DateTimeField(verbose_name=_("time"), default=timezone.now)

    class Meta:
        verbose_name = _("subscriber change")
        verbose_name_plural = _("subscriber changes")
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.subscriber_id}: {', '.join(self.changes)}"


class ImportJob(models.Model):
    """A CSV import started in the audience desk, run by a task; its progress is polled."""

    class Status(models.TextChoices):
        DRAFT = "draft", _("Being prepared")
        WAITING = "waiting", _("Waiting")
        RUNNING = "running", _("Running")
        DONE = "done", _("Done")
        FAILED = "failed", _("Failed")

    topic = models.ForeignKey(Topic, verbose_name=_("topic"), on_delete=models.PROTECT, related_name="+")
    source = models.CharField(verbose_name=_("source"), max_length=200)
    # The file as uploaded (UTF-8 text); its columns are mapped to the import's when it runs.
    data = models.TextField(verbose_name=_("data"))
    filename = models.CharField(verbose_name=_("file name"), max_length=255, blank=True)
    status = models.CharField(
        verbose_name=_("status"), max_length=8, choices=Status.choices, default=Status.DRAFT
    )
    # The columns of the uploaded file as named in its header, and what each is imported as.
    columns = models.JSONField(verbose_name=_("columns"), default=list)
    mapping = models.JSONField(verbose_name=_("column mapping"), default=dict, blank=True)
    total = models.PositiveIntegerField(verbose_name=_("rows"), default=0)
    done = models.PositiveIntegerField(verbose_name=_("rows done"), default=0)
    report = models.JSONField(verbose_name=_("report"), default=dict, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("started by"),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    created_at = models.DateTimeField(verbose_name=_("started"), auto_now_add=True)
    finished_at = models.DateTimeField(verbose_name=_("finished"), null=True, blank=True)

    class Meta:
        verbose_name = _("import")
        verbose_name_plural = _("imports")
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"import {self.pk} ({self.status})"

    @property
    def percent(self) -> int:
        return round(100 * self.done / self.total) if self.total else (100 if self.status == "done" else 0)
