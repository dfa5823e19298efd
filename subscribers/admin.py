"""Admin: topics, subscribers (with their subscriptions and read-only consent history),
the suppression list and the consent texts. The consent proof is never editable here."""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from subscribers import services
from subscribers.models import (
    Bounce,
    ConsentEvent,
    ConsentText,
    Subscriber,
    Subscription,
    Suppression,
    Topic,
    email_hash,
)
from subscribers.validation import clean_email


@admin.register(Topic)
class TopicAdmin(admin.ModelAdmin):
    list_display = ["name", "slug", "is_public", "owner", "created_at"]
    list_filter = ["is_public"]
    search_fields = ["name", "slug", "description"]
    prepopulated_fields = {"slug": ["name"]}
    autocomplete_fields = ["owner"]


class SubscriptionInline(admin.TabularInline):
    """Shown, not edited: topics are started by the subscriber's confirmation, never by staff."""

    model = Subscription
    fields = ["topic", "status", "created_at", "requested_at", "confirmed_at", "unsubscribed_at"]
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None) -> bool:
        return False


class ConsentEventInline(admin.TabularInline):
    model = ConsentEvent
    fields = ["created_at", "kind", "source", "topics", "ip_address", "user_agent", "consent_text_version"]
    readonly_fields = fields
    extra = 0
    can_delete = False
    ordering = ["created_at", "id"]

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


class BounceInline(admin.TabularInline):
    """The subscriber's bounces and complaints with their reason: the history behind the score."""

    model = Bounce
    extra = 0
    can_delete = False
    ordering = ["-received_at"]
    fields = [
        "received_at",
        "kind",
        "reason",
        "status",
        "permanent",
        "score",
        "suppressed",
        "match",
        "evidence",
    ]
    readonly_fields = fields

    def has_add_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Bounce)
class BounceAdmin(admin.ModelAdmin):
    """Every bounce and complaint received, also those for addresses that are no subscriber's."""

    list_display = ["received_at", "kind", "address", "reason", "status", "permanent", "suppressed", "match"]
    list_filter = ["kind", "reason", "permanent", "suppressed", "match", "evidence"]
    search_fields = ["address", "status", "diagnostic"]
    date_hierarchy = "received_at"
    readonly_fields = [f.name for f in Bounce._meta.fields]

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Subscriber)
class SubscriberAdmin(admin.ModelAdmin):
    """New subscribers come from the signup, the API or the import (with their consent), never from here."""

    list_display = ["email", "name", "language", "status", "created_at", "confirmed_at"]
    list_filter = ["status", "language", "format", "frequency", "subscriptions__topic"]
    search_fields = ["email", "name"]
    date_hierarchy = "created_at"
    fields = [
        "email",
        "name",
        "language",
        "status",
        "frequency",
        "frequency_limit",
        "paused_until",
        "format",
        "email_hash",
        "created_at",
        "updated_at",
        "confirmed_at",
        "unsubscribed_at",
        "last_confirmation_sent_at",
        "confirmation_due_at",
    ]
    readonly_fields = [
        "email",
        "status",
        "email_hash",
        "created_at",
        "updated_at",
        "confirmed_at",
        "unsubscribed_at",
        "last_confirmation_sent_at",
        "confirmation_due_at",  # a confirmation mail held back by the throttle (sent by beat)
    ]
    inlines = [SubscriptionInline, ConsentEventInline, BounceInline]
    actions = ["unsubscribe_selected", "erase_selected"]

    def has_add_permission(self, request) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False  # deleting would skip the suppression list: use "Erase" instead

    def save_model(self, request, obj, form, change) -> None:
        super().save_model(request, obj, form, change)
        if change and form.changed_data:
            services.record_event(
                kind=ConsentEvent.Kind.PREFERENCES_CHANGED,
                source=ConsentEvent.Source.ADMIN,
                subscriber=obj,
                details={"changed": form.changed_data, "by_user_id": request.user.pk},
            )

    @admin.action(description=_("Unsubscribe from everything"), permissions=["change"])
    def unsubscribe_selected(self, request, queryset) -> None:
        for subscriber in queryset:
            services.unsubscribe(
                subscriber=subscriber,
                source=ConsentEvent.Source.ADMIN,
                details={"by_user_id": request.user.pk},
            )
        count = queryset.count()
        self.message_user(
            request,
            ngettext("%(count)d subscriber unsubscribed.", "%(count)d subscribers unsubscribed.", count)
            % {"count": count},
            messages.SUCCESS,
        )

    @admin.action(
        description=_("Erase (delete all personal data, keep only the hash)"), permissions=["change"]
    )
    def erase_selected(self, request, queryset) -> None:
        count = 0
        for subscriber in list(queryset):
            services.erase(subscriber=subscriber, source=ConsentEvent.Source.ADMIN)
            count += 1
        self.message_user(
            request,
            ngettext("%(count)d subscriber erased.", "%(count)d subscribers erased.", count)
            % {"count": count},
            messages.SUCCESS,
        )


@admin.register(ConsentEvent)
class ConsentEventAdmin(admin.ModelAdmin):
    """The consent proof: append-only, so read-only here."""

    list_display = ["created_at", "kind", "source", "subscriber", "ip_address", "consent_text_version"]
    list_filter = ["kind", "source"]
    search_fields = ["subscriber__email", "email_hash"]
    date_hierarchy = "created_at"
    list_select_related = ["subscriber"]

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


class SuppressionAddForm(forms.ModelForm):
    """Staff type an address; only its hash is stored."""

    email = forms.CharField(label=_("Email address"), max_length=320)

    class Meta:
        model = Suppression
        fields = ["reason"]

    def clean_email(self) -> str:
        return clean_email(self.cleaned_data["email"])


@admin.register(Suppression)
class SuppressionAdmin(admin.ModelAdmin):
    list_display = ["email_hash", "reason", "created_at"]
    list_filter = ["reason"]
    search_fields = ["email_hash"]
    readonly_fields = ["email_hash", "reason", "created_at", "details"]

    def get_search_results(self, request, queryset, search_term):
        # Staff search by address; the table only knows hashes.
        if "@" in search_term:
            return queryset.filter(email_hash=email_hash(search_term)), False
        return super().get_search_results(request, queryset, search_term)

    def get_form(self, request, obj=None, **kwargs):
        if obj is None:
            kwargs["form"] = SuppressionAddForm
        return super().get_form(request, obj, **kwargs)

    def get_fields(self, request, obj=None):
        return ["email", "reason"] if obj is None else self.readonly_fields

    def get_readonly_fields(self, request, obj=None):
        return [] if obj is None else self.readonly_fields

    def save_model(self, request, obj, form, change) -> None:
        services.suppress_address(
            email=form.cleaned_data["email"],
            reason=form.cleaned_data["reason"],
            source=ConsentEvent.Source.ADMIN,
            details={"by_user_id": request.user.pk},
        )
        obj.pk = Suppression.objects.get(email_hash=email_hash(form.cleaned_data["email"])).pk

    def has_change_permission(self, request, obj=None) -> bool:
        return obj is None and super().has_change_permission(request, obj)


@admin.register(ConsentText)
class ConsentTextAdmin(admin.ModelAdmin):
    """A new wording is a new version; published versions stay as they were (events quote them)."""

    list_display = ["version", "language", "created_at"]
    list_filter = ["language"]

    def get_readonly_fields(self, request, obj=None):
        return ["version", "language", "text", "created_at"] if obj else ["created_at"]

    def has_delete_permission(self, request, obj=None) -> bool:
        return False
