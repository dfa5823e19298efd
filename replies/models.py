"""Replies: raw inbound mail, conversations with subscribers, and who answers them.

The raw message is stored first (InboundMessage) and never changed afterwards; the
pipeline then classifies it, matches it to a subscriber/campaign, threads it into a
Conversation as a Message and routes the conversation to a named staff member.
Every decision (rule hits, match method, routing reason) is recorded so the UI can
explain it.
"""

from __future__ import annotations

import datetime
import re

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models.functions import Lower
from django.utils import timezone, translation
from django.utils.translation import gettext_lazy as _

from replies.reasons import render
from rundbrief import secretbox


class Team(models.Model):
    name = models.CharField(_("name"), max_length=120, unique=True)
    description = models.TextField(_("description"), blank=True)
    # Service level: the first answer is due within this many business minutes (none: no target).
    sla_minutes = models.PositiveIntegerField(
        _("first answer within (business minutes)"), null=True, blank=True
    )
    business_days = models.CharField(
        _("business days"), max_length=7, default="12345", help_text=_("ISO weekdays, 1 = Monday.")
    )
    business_start = models.TimeField(_("business hours from"), default=datetime.time(9, 0))
    business_end = models.TimeField(_("business hours until"), default=datetime.time(17, 0))

    class Meta:
        ordering = ["name"]
        verbose_name = _("team")
        verbose_name_plural = _("teams")

    def __str__(self) -> str:
        return self.name


class StaffProfile(models.Model):
    """A named staff member who answers replies (one per django User)."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="staff_profile"
    )
    display_name = models.CharField(
        _("display name"), max_length=200, blank=True, help_text=_("Shown as the sender name of answers.")
    )
    signature = models.TextField(_("signature"), blank=True)
    is_away = models.BooleanField(
        _("away"), default=False, help_text=_("New conversations go to the deputy.")
    )
    deputy = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="deputy_for",
        verbose_name=_("deputy"),
    )
    teams = models.ManyToManyField(Team, blank=True, related_name="members", verbose_name=_("teams"))
    notify_by_email = models.BooleanField(
        _("notify by mail"), default=True, help_text=_("Send a mail when a new reply arrives in my queue.")
    )
    away_from = models.DateField(_("away from"), null=True, blank=True)
    away_until = models.DateField(_("away until"), null=True, blank=True)
    notify_on_mention = models.BooleanField(
        _("mail me when I am mentioned"), default=True, help_text=_("An internal note names me (@name).")
    )
    notify_on_follow = models.BooleanField(
        _("mail me about conversations I follow"), default=True, help_text=_("A new reply arrives in one.")
    )
    # Round robin within a team: the member assigned longest ago goes next.
    last_assigned_at = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        verbose_name = _("staff profile")
        verbose_name_plural = _("staff profiles")

    def __str__(self) -> str:
        return self.display_name or self.user.get_username()

    @property
    def is_away_now(self) -> bool:
        """Away by the switch, or today is within the away dates (either end may be open)."""
        return self.is_away or away_today(self.away_from, self.away_until)

    @staticmethod
    def present_filter() -> models.Q:
        """The profiles of people not away today (the same rule as is_away_now), for a queryset."""
        today = timezone.localdate()
        dated = models.Q(away_from__isnull=False) | models.Q(away_until__isnull=False)
        within = (models.Q(away_from__isnull=True) | models.Q(away_from__lte=today)) & (
            models.Q(away_until__isnull=True) | models.Q(away_until__gte=today)
        )
        return models.Q(is_away=False) & ~(dated & within)


def away_today(away_from: datetime.date | None, away_until: datetime.date | None) -> bool:
    if away_from is None and away_until is None:
        return False
    today = timezone.localdate()
    return (away_from is None or away_from <= today) and (away_until is None or today <= away_until)


class InboundMessage(models.Model):
    """One raw message exactly as it arrived; stored before anything else happens."""

    class Source(models.TextChoices):
        SMTP = "smtp", _("SMTP receiver")
        LMTP = "lmtp", _("LMTP receiver")
        WEBHOOK = "webhook", _("ESP webhook")
        PIPE = "pipe", _("MTA pipe (ingest_email)")
        IMAP = "imap", _("IMAP mailbox (run_imap_intake)")
        WEB = "web", _("Written in the browser (dialogue)")

    class Status(models.TextChoices):
        RECEIVED = "received", _("Received")
        PROCESSED = "processed", _("Processed")
        FAILED = "failed", _("Failed")

    class Kind(models.TextChoices):
        UNKNOWN = "", _("Not yet classified")
        HUMAN = "human", _("Human reply")
        AUTO_REPLY = "auto_reply", _("Auto-reply")
        BOUNCE = "bounce", _("Bounce")
        COMPLAINT = "complaint", _("Spam complaint")
        UNSUBSCRIBE = "unsubscribe", _("Unsubscribe by reply")
        # A staff member's answer by mail to a new-reply notification (replies.pipeline.staff_answers).
        STAFF_ANSWER = "staff_answer", _("Staff answer by mail")
        REFUSED = "refused", _("Refused answer by mail")

    class MatchMethod(models.TextChoices):
        NONE = "", _("Unmatched")
        REPLY_TOKEN = "reply_token", _("Reply token in the recipient address")
        VERP = "verp", _("VERP return path (a bounce to the mail's envelope sender)")
        IN_REPLY_TO = "in_reply_to", _("In-Reply-To / References")
        SENDER = "sender", _("Sender address of a known subscriber")

    raw = models.BinaryField()
    size = models.PositiveIntegerField(default=0)
    source = models.CharField(max_length=8, choices=Source.choices)
    envelope_from = models.CharField(max_length=998, blank=True)
    envelope_to = models.JSONField(default=list, blank=True)
    message_id = models.CharField(max_length=998, blank=True, db_index=True)
    # SHA-256 over Message-ID and content: the same message delivered twice is stored once.
    dedupe_key = models.CharField(max_length=64, unique=True)
    from_address = models.CharField(max_length=998, blank=True)
    subject = models.CharField(max_length=998, blank=True)
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.RECEIVED, db_index=True)
    kind = models.CharField(max_length=12, choices=Kind.choices, default=Kind.UNKNOWN, blank=True)
    rule_hits = models.JSONField(default=list, blank=True, help_text=_("Which rules were checked and why."))
    match_method = models.CharField(max_length=12, choices=MatchMethod.choices, default="", blank=True)
    error = models.TextField(blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    received_at = models.DateTimeField(auto_now_add=True, db_index=True)
    processed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-received_at", "-id"]
        verbose_name = _("inbound message")
        verbose_name_plural = _("inbound messages")

    def __str__(self) -> str:
        return f"#{self.pk} {self.subject or self.message_id}"

    @property
    def error_summary(self) -> str:
        """The last line of the stored traceback: the exception itself."""
        lines = [line for line in self.error.strip().splitlines() if line.strip()]
        return lines[-1] if lines else ""

    @property
    def deciding_hit(self) -> dict:
        """The line of the decision record whose rule decided the kind (its reasons say why)."""
        hits = [line for line in self.rule_hits or [] if line.get("hit") and line.get("rule") != "matching"]
        return hits[-1] if hits else {}


class Conversation(models.Model):
    """One subscriber's replies about one campaign (or one thread), with our answers."""

    class Status(models.TextChoices):
        OPEN = "open", _("Open")
        SNOOZED = "snoozed", _("Snoozed")
        CLOSED = "closed", _("Closed")

    subscriber = models.ForeignKey(
        "subscribers.Subscriber",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="conversations",
    )
    campaign = models.ForeignKey(
        "campaigns.Campaign", on_delete=models.SET_NULL, null=True, blank=True, related_name="conversations"
    )
    # For unmatched mail (no subscriber): the sender's address keeps the thread together.
    contact_address = models.CharField(max_length=320, blank=True)
    subject = models.CharField(max_length=998, blank=True)
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.OPEN, db_index=True)
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="assigned_conversations",
    )
    team = models.ForeignKey(
        Team, on_delete=models.SET_NULL, null=True, blank=True, related_name="conversations"
    )
    # Routing is stored once, as codes (written by replies.routing.record_decision, or a manual
    # reassignment): the routing rule that decided, and its reasons with their parameters
    # (replies.reasons), rendered in the reader's language.
    routing_rule = models.CharField(max_length=64, blank=True)
    routing_reasons = models.JSONField(default=list, blank=True)
    # Read-only: the English text of rows routed before the codes existed, where migration
    # 0005 could not turn it into codes. Never written.
    legacy_routing_reason = models.TextField(blank=True, editable=False)
    is_unmatched = models.BooleanField(default=False, db_index=True)
    snoozed_until = models.DateTimeField(null=True, blank=True)
    # Set when the subscriber wrote last and we have not answered yet: queue order.
    waiting_since = models.DateTimeField(null=True, blank=True, db_index=True)
    last_message_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    tags = models.ManyToManyField("Tag", blank=True, related_name="conversations", verbose_name=_("tags"))
    followers = models.ManyToManyField(
        settings.AUTH_USER_MODEL, blank=True, related_name="followed_conversations", through="Follow"
    )

    class Meta:
        ordering = ["waiting_since", "id"]
        verbose_name = _("conversation")
        verbose_name_plural = _("conversations")
        permissions = [("view_all_conversations", _("Can see every conversation (managers)"))]
        indexes = [
            models.Index(fields=["assignee", "status", "waiting_since"], name="conversation_queue_idx"),
            # Search results and the closed queue, newest activity first (last_message_at DESC
            # NULLS LAST, id DESC): on PostgreSQL only, created by migration 0010 (SQLite cannot
            # index NULLS LAST; `make run` does without).
        ]

    def __str__(self) -> str:
        return self.subject or f"#{self.pk}"

    @property
    def routing_reason_text(self) -> str:
        """The routing reason in the active language (an old row's stored text if it has no codes)."""
        return render(self.routing_reasons, self.legacy_routing_reason)

    @property
    def routing_reason(self) -> str:
        """The routing reason in English (staff notification mails are written in English)."""
        with translation.override("en"):
            return self.routing_reason_text


class Message(models.Model):
    """One mail in a conversation: a subscriber's reply or our answer.

    Our answers are stored when staff submit them ("queued") and sent by a task
    (replies.tasks.send_staff_answer_task): queued -> sending -> sent, or failed with the reason
    (staff can send a failed answer again). Subscribers' mail has no send status.
    """

    class Direction(models.TextChoices):
        INBOUND = "in", _("From the subscriber")
        OUTBOUND = "out", _("Our answer")

    class SendStatus(models.TextChoices):
        NONE = "", _("Not sent by us")
        QUEUED = "queued", _("Queued")
        SENDING = "sending", _("Sending")
        SENT = "sent", _("Sent")
        FAILED = "failed", _("Failed")

    conversation = models.ForeignKey(Conversation, on_delete=models.CASCADE, related_name="messages")
    direction = models.CharField(max_length=3, choices=Direction.choices)
    kind = models.CharField(max_length=12, choices=InboundMessage.Kind.choices, blank=True)
    inbound = models.OneToOneField(
        InboundMessage, on_delete=models.SET_NULL, null=True, blank=True, related_name="thread_message"
    )
    delivery = models.ForeignKey(
        "campaigns.Delivery", on_delete=models.SET_NULL, null=True, blank=True, related_name="reply_messages"
    )
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    from_address = models.CharField(max_length=998, blank=True)
    to_address = models.CharField(max_length=998, blank=True)
    # Our answers: further recipients (one address a line).
    cc = models.TextField(blank=True)
    subject = models.CharField(max_length=998, blank=True)
    text = models.TextField(blank=True, help_text=_("The full text, quotes included."))
    stripped_text = models.TextField(blank=True, help_text=_("Without the quoted history and signature."))
    html = models.TextField(blank=True, help_text=_("Sanitised HTML part, if any."))
    message_id = models.CharField(max_length=998, blank=True, db_index=True)
    in_reply_to = models.CharField(max_length=998, blank=True)
    references = models.TextField(blank=True)
    # Our answers carry a fresh reply token so the subscriber's next reply threads back.
    reply_token = models.CharField(max_length=40, null=True, blank=True, unique=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    # Our answers only (see the class docstring).
    send_status = models.CharField(
        max_length=8, choices=SendStatus.choices, default=SendStatus.NONE, blank=True, db_index=True
    )
    send_attempts = models.PositiveSmallIntegerField(default=0)
    send_error = models.TextField(blank=True)
    # When the status last changed; for a retry after a temporary failure, when it is due.
    # The sweeper re-enqueues answers left queued/sending long after this (their worker died).
    send_status_at = models.DateTimeField(null=True, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    # The undo window: a queued answer is not sent before this (its author may take it back).
    send_after = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["created_at", "id"]
        verbose_name = _("message")
        verbose_name_plural = _("messages")

    def __str__(self) -> str:
        return f"{self.get_direction_display()}: {self.subject}"


def attachment_path(instance: Attachment, filename: str) -> str:
    return f"replies/attachments/{instance.message.conversation_id}/{instance.message_id}/{filename}"


class Attachment(models.Model):
    message = models.ForeignKey(Message, on_delete=models.CASCADE, related_name="attachments")
    file = models.FileField(upload_to=attachment_path, max_length=500)
    filename = models.CharField(max_length=255)
    content_type = models.CharField(max_length=255, blank=True)
    size = models.PositiveIntegerField(default=0)

    def __str__(self) -> str:
        return self.filename


class ConversationEvent(models.Model):
    """The staff side of the timeline: internal notes, assignments, closing, snoozing."""

    class Kind(models.TextChoices):
        NOTE = "note", _("Internal note")
        ASSIGNED = "assigned", _("Assigned")
        CLOSED = "closed", _("Closed")
        REOPENED = "reopened", _("Reopened")
        SNOOZED = "snoozed", _("Snoozed")
        TAGGED = "tagged", _("Tag added")
        UNTAGGED = "untagged", _("Tag removed")
        LINKED = "linked", _("Linked to a subscriber")
        MERGED = "merged", _("Merged")
        MOVED = "moved", _("Message moved")
        FOLLOWED = "followed", _("Followed")
        UNFOLLOWED = "unfollowed", _("No longer followed")
        UNDONE = "undone", _("Answer taken back")
        STARTED = "started", _("Conversation started by staff")
        REFUSED = "refused", _("Answer by mail refused")

    conversation = models.ForeignKey(Conversation, on_delete=models.CASCADE, related_name="events")
    kind = models.CharField(max_length=10, choices=Kind.choices)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    text = models.TextField(blank=True)
    # An assignment by routing: its reasons as codes (replies.reasons); text is a staff note.
    reasons = models.JSONField(default=list, blank=True)
    # A note: the colleagues it mentions (@name), who are notified.
    mentioned = models.ManyToManyField(settings.AUTH_USER_MODEL, blank=True, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} #{self.conversation_id}"


class Tag(models.Model):
    """A label on conversations, set by hand (or by a routing rule)."""

    name = models.CharField(_("name"), max_length=60)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]
        verbose_name = _("tag")
        verbose_name_plural = _("tags")
        constraints = [models.UniqueConstraint(Lower("name"), name="tag_name_once")]

    def __str__(self) -> str:
        return self.name


class Follow(models.Model):
    """Someone follows a conversation: new replies in it reach them too."""

    conversation = models.ForeignKey(Conversation, on_delete=models.CASCADE, related_name="follows")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="follows")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["conversation", "user"], name="follow_once")]

    def __str__(self) -> str:
        return f"{self.user} follows #{self.conversation_id}"


class SavedReply(models.Model):
    """A text staff answer with often: their own, their team's, or shared with everyone.

    The body may use {{ subscriber_name }}, {{ campaign }} and {{ staff_name }} (replies.saved_replies).
    """

    class Scope(models.TextChoices):
        PERSONAL = "personal", _("Only me")
        TEAM = "team", _("My team")
        SHARED = "shared", _("Everyone")

    title = models.CharField(_("title"), max_length=200)
    body = models.TextField(_("text"))
    scope = models.CharField(_("who may use it"), max_length=8, choices=Scope.choices, default=Scope.PERSONAL)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="saved_replies",
        verbose_name=_("owner"),
    )
    team = models.ForeignKey(
        Team,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="saved_replies",
        verbose_name=_("team"),
    )
    usage_count = models.PositiveIntegerField(_("used"), default=0)
    last_used_at = models.DateTimeField(_("last used"), null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["title", "id"]
        verbose_name = _("saved reply")
        verbose_name_plural = _("saved replies")

    def __str__(self) -> str:
        return self.title

    def clean(self) -> None:
        if self.scope == self.Scope.TEAM and not self.team_id:
            raise ValidationError({"team": _("Choose the team this saved reply is for.")})


class RoutingRule(models.Model):
    """An admin-defined routing rule: if the mail matches, a person or a team gets it."""

    class Field(models.TextChoices):
        SUBJECT = "subject", _("Subject")
        BODY = "body", _("Body")
        SUBJECT_OR_BODY = "subject_or_body", _("Subject or body")
        SENDER_DOMAIN = "sender_domain", _("Sender domain")
        TOPIC = "topic", _("Topic of the campaign")

    class MatchType(models.TextChoices):
        KEYWORD = "keyword", _("Contains the keyword (case-insensitive)")
        REGEX = "regex", _("Matches the regular expression")

    name = models.CharField(_("name"), max_length=120)
    position = models.PositiveIntegerField(_("position"), default=100, help_text=_("Lower runs first."))
    is_active = models.BooleanField(_("active"), default=True)
    field = models.CharField(_("field"), max_length=16, choices=Field.choices, default=Field.SUBJECT_OR_BODY)
    match_type = models.CharField(_("match type"), max_length=8, choices=MatchType.choices, default="keyword")
    pattern = models.CharField(
        _("pattern"), max_length=500, blank=True, help_text=_("Keyword, regular expression, or domain.")
    )
    topic = models.ForeignKey(
        "subscribers.Topic", on_delete=models.CASCADE, null=True, blank=True, verbose_name=_("topic")
    )
    assign_to = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("assign to person"),
    )
    assign_to_team = models.ForeignKey(
        Team, on_delete=models.CASCADE, null=True, blank=True, verbose_name=_("assign to team")
    )
    # Every matching rule adds its tags (recorded on the conversation with the rule's name), also
    # when an earlier rule decided who gets it (replies.routing.tags_for).
    add_tags = models.ManyToManyField(
        "Tag",
        blank=True,
        related_name="routing_rules",
        verbose_name=_("add tags"),
        help_text=_("Tags every matching conversation gets."),
    )

    class Meta:
        ordering = ["position", "id"]
        verbose_name = _("routing rule")
        verbose_name_plural = _("routing rules")

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        errors: dict[str, str] = {}
        if bool(self.assign_to_id) == bool(self.assign_to_team_id):
            errors["assign_to"] = _("Name either a person or a team (exactly one).")
        if self.field == self.Field.TOPIC:
            if not self.topic_id:
                errors["topic"] = _("Choose the topic this rule is about.")
        elif not self.pattern.strip():
            errors["pattern"] = _("Enter a keyword, a regular expression or a domain.")
        elif self.match_type == self.MatchType.REGEX:
            try:
                re.compile(self.pattern)
            except re.error as exc:
                errors["pattern"] = _("This is not a valid regular expression: %(error)s") % {"error": exc}
        if errors:
            raise ValidationError(errors)


class StaffNotification(models.Model):
    """A new-reply notification mailed to a staff member, kept for its one-time reply token.

    Its Reply-To is reply+<token>@REPLY_DOMAIN: the staff member's answer by mail to it is posted
    into the conversation as their answer, but only from their own address
    (replies.pipeline.staff_answers); anything else is refused and kept, with the reason.
    """

    token = models.CharField(_("reply token"), max_length=40, unique=True)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="reply_notifications"
    )
    conversation = models.ForeignKey(Conversation, on_delete=models.CASCADE, related_name="notifications")
    message = models.ForeignKey(
        Message, on_delete=models.SET_NULL, null=True, blank=True, related_name="notifications"
    )
    sent_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("staff notification")
        verbose_name_plural = _("staff notifications")

    def __str__(self) -> str:
        return f"#{self.conversation_id} → {self.user_id}"


# --- IMAP intake (replies/imap/) --------------------------------------------------------------
# Mailboxes read over IMAP, for teams that cannot point an MX at Rundbrief, and what was refused.
# A mailbox remembers where reading stopped: the folder's UIDVALIDITY and the highest UID
# handled (stored or refused). A message is marked or moved on the server only after its raw
# bytes are committed; the UID advances only after that (replies/imap/intake.py).


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
