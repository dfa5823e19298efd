"""Read-mostly admin views: campaigns are written in the editor, deliveries by the send loop."""

from django.contrib import admin

from campaigns.models import Campaign, CampaignTemplate, Delivery, IgnoredTrackingEvent


@admin.register(Campaign)
class CampaignAdmin(admin.ModelAdmin):
    list_display = ["name", "subject", "status", "scheduled_at", "started_at", "finished_at"]
    list_filter = ["status", "topics"]
    search_fields = ["name", "subject"]
    readonly_fields = ["status", "started_at", "finished_at", "queued_all_at", "created_by", "created_at"]


@admin.register(CampaignTemplate)
class CampaignTemplateAdmin(admin.ModelAdmin):
    """Saved from a campaign's page; here they can be renamed or deleted."""

    list_display = ["name", "subject", "created_by", "created_at"]
    search_fields = ["name", "subject"]
    readonly_fields = ["created_by", "created_at"]


@admin.register(Delivery)
class DeliveryAdmin(admin.ModelAdmin):
    list_display = ["campaign", "subscriber", "status", "attempts", "sent_at", "soft_bounces"]
    list_filter = ["status"]
    search_fields = ["message_id", "esp_message_id", "subscriber__email"]
    raw_id_fields = ["campaign", "subscriber"]
    readonly_fields = ["reply_token", "message_id", "esp_message_id", "attempts", "error", "sent_at"]


@admin.register(IgnoredTrackingEvent)
class IgnoredTrackingEventAdmin(admin.ModelAdmin):
    """Bounces and complaints that changed nothing, with the reason: a log, not editable."""

    list_display = ["received_at", "esp", "event_type", "recipient", "message_id", "reason"]
    list_filter = ["reason", "esp", "event_type"]
    search_fields = ["recipient", "message_id", "event_id"]
    date_hierarchy = "received_at"

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False
