"""Admin for IMAP mailboxes (managers configure them) and the messages they refused."""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _

from replies import services
from replies.imap.intake import CONNECTION_ERRORS, MailboxUnusable, check_once
from replies.models import ImapMailbox, ImapRefusal


class ImapMailboxForm(forms.ModelForm):
    password = forms.CharField(
        label=_("password"),
        required=False,
        strip=False,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
        help_text=_(
            "Stored encrypted with a key derived from SECRET_KEY and never shown again. "
            "Leave empty to keep the current password."
        ),
    )

    class Meta:
        model = ImapMailbox
        fields = [
            "name",
            "enabled",
            "host",
            "port",
            "security",
            "username",
            "password",
            "folder",
            "processed_folder",
            "refused_folder",
            "use_idle",
            "poll_seconds",
        ]

    def clean(self):
        cleaned = super().clean()
        if not cleaned.get("password") and not self.instance.password_encrypted:
            self.add_error("password", _("Enter the mailbox's password."))
        folder = (cleaned.get("folder") or "").strip()
        for name in ("processed_folder", "refused_folder"):
            if folder and (cleaned.get(name) or "").strip() == folder:
                self.add_error(name, _("Choose a folder other than the one that is read."))
        return cleaned

    def save(self, commit: bool = True) -> ImapMailbox:
        mailbox = super().save(commit=False)
        if self.cleaned_data.get("password"):
            mailbox.set_password(self.cleaned_data["password"])
        if commit:
            mailbox.save()
        return mailbox


class ImapRefusalInline(admin.TabularInline):
    model = ImapRefusal
    extra = 0
    can_delete = False
    fields = ["refused_at", "uid", "from_address", "subject", "size", "reason", "left_in"]
    readonly_fields = fields
    max_num = 0
    show_change_link = True


@admin.register(ImapMailbox)
class ImapMailboxAdmin(admin.ModelAdmin):
    form = ImapMailboxForm
    list_display = [
        "name",
        "enabled",
        "host",
        "username",
        "folder",
        "last_checked_at",
        "stored_count",
        "refused_count",
        "last_error",
    ]
    list_filter = ["enabled"]
    search_fields = ["name", "host", "username"]
    readonly_fields = [
        "uidvalidity",
        "last_uid",
        "stored_count",
        "refused_count",
        "last_checked_at",
        "last_error",
        "last_error_at",
    ]
    fieldsets = [
        (None, {"fields": ["name", "enabled"]}),
        (_("Server"), {"fields": ["host", "port", "security", "username", "password"]}),
        (_("Folders"), {"fields": ["folder", "processed_folder", "refused_folder"]}),
        (_("Checking"), {"fields": ["use_idle", "poll_seconds"]}),
        (_("State"), {"fields": readonly_fields}),
    ]
    inlines = [ImapRefusalInline]
    actions = ["check_now"]

    @admin.action(description=_("Check the selected mailboxes now"))
    def check_now(self, request: HttpRequest, queryset) -> None:
        for mailbox in queryset:
            try:
                result = check_once(mailbox)
            except (services.StorageUnavailable, MailboxUnusable, *CONNECTION_ERRORS) as exc:
                messages.error(
                    request,
                    _("%(mailbox)s: could not check: %(error)s") % {"mailbox": mailbox, "error": exc},
                )
                continue
            messages.success(
                request,
                _("%(mailbox)s: %(stored)d stored, %(duplicates)d already stored, %(refused)d refused.")
                % {
                    "mailbox": mailbox,
                    "stored": result.stored,
                    "duplicates": result.duplicates,
                    "refused": result.refused,
                },
            )


@admin.register(ImapRefusal)
class ImapRefusalAdmin(admin.ModelAdmin):
    list_display = ["refused_at", "mailbox", "uid", "from_address", "subject", "size", "left_in"]
    list_filter = ["mailbox"]
    search_fields = ["from_address", "subject", "message_id"]

    def get_readonly_fields(self, request, obj=None):
        return [f.name for f in ImapRefusal._meta.fields]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False
