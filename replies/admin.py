"""Django admin for staff profiles, teams and routing rules (with a "test this rule" preview)."""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from replies import services
from replies.models import Conversation, InboundMessage, RoutingRule, StaffProfile, Team
from replies.routing import decide, input_for_inbound, routing_rule_matches


@admin.register(Team)
class TeamAdmin(admin.ModelAdmin):
    list_display = ["name", "member_names"]
    search_fields = ["name"]

    @admin.display(description=_("members"))
    def member_names(self, team: Team) -> str:
        return ", ".join(str(p) for p in team.members.select_related("user"))


@admin.register(StaffProfile)
class StaffProfileAdmin(admin.ModelAdmin):
    list_display = ["__str__", "user", "is_away", "deputy", "notify_by_email"]
    list_filter = ["is_away", "teams"]
    list_editable = ["is_away"]
    autocomplete_fields = ["user", "deputy"]
    filter_horizontal = ["teams"]
    search_fields = ["display_name", "user__username", "user__first_name", "user__last_name"]


class RuleTestForm(forms.Form):
    inbound = forms.ModelChoiceField(
        label=_("Stored message"),
        queryset=InboundMessage.objects.defer("raw").order_by("-received_at"),
        help_text=_("The rule is tried against this message as it was received."),
    )


@admin.register(RoutingRule)
class RoutingRuleAdmin(admin.ModelAdmin):
    list_display = [
        "name",
        "position",
        "is_active",
        "field",
        "match_type",
        "pattern",
        "topic",
        "target",
        "test_link",
    ]
    list_editable = ["position", "is_active"]
    list_filter = ["is_active", "field"]
    autocomplete_fields = ["assign_to"]

    @admin.display(description=_("assigns to"))
    def target(self, rule: RoutingRule) -> str:
        return str(rule.assign_to or rule.assign_to_team or "")

    @admin.display(description=_("test"))
    def test_link(self, rule: RoutingRule) -> str:
        url = reverse("admin:replies_routingrule_test", args=[rule.pk])
        return format_html('<a href="{}">{}</a>', url, _("test this rule"))

    def get_urls(self):
        custom = [
            path(
                "<int:pk>/test/",
                self.admin_site.admin_view(self.test_view),
                name="replies_routingrule_test",
            )
        ]
        return custom + super().get_urls()

    def test_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        rule = get_object_or_404(RoutingRule, pk=pk)
        if not self.has_view_permission(request, rule):
            raise PermissionDenied
        form = RuleTestForm(request.POST or None)
        result = None
        if request.method == "POST" and form.is_valid():
            inbound = form.cleaned_data["inbound"]
            data = input_for_inbound(
                bytes(InboundMessage.objects.get(pk=inbound.pk).raw), inbound.envelope_to
            )
            decision = decide(data)  # a dry run (input_for_inbound): changes nothing
            result = {
                "inbound": inbound,
                "matches": routing_rule_matches(rule, data),
                "data": data,
                "decision": decision,
            }
        context = {
            **self.admin_site.each_context(request),
            "title": _("Test routing rule “%(name)s”") % {"name": rule.name},
            "rule": rule,
            "form": form,
            "result": result,
            "opts": self.model._meta,
        }
        return TemplateResponse(request, "replies/admin_rule_test.html", context)


@admin.register(InboundMessage)
class InboundMessageAdmin(admin.ModelAdmin):
    list_display = [
        "id",
        "received_at",
        "source",
        "from_address",
        "subject",
        "status",
        "kind",
        "match_method",
    ]
    list_filter = ["status", "kind", "source", "match_method"]
    search_fields = ["from_address", "subject", "message_id"]
    exclude = ["raw"]
    readonly_fields = [f.name for f in InboundMessage._meta.fields if f.name != "raw"]
    actions = ["reprocess"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def get_queryset(self, request: HttpRequest):
        return super().get_queryset(request).defer("raw")

    @admin.action(description=_("Process the selected failed messages again"))
    def reprocess(self, request: HttpRequest, queryset) -> None:
        # Listed first: reprocessing changes their status, so a later count would miss them.
        failed = list(queryset.filter(status=InboundMessage.Status.FAILED))
        for inbound in failed:
            services.reprocess_inbound(inbound=inbound)
        count = len(failed)
        messages.success(
            request,
            ngettext(
                "%(count)d message put back into processing.",
                "%(count)d messages put back into processing.",
                count,
            )
            % {"count": count},
        )


@admin.register(Conversation)
class ConversationAdmin(admin.ModelAdmin):
    list_display = ["id", "subject", "subscriber", "campaign", "assignee", "team", "status", "routing_rule"]
    list_filter = ["status", "routing_rule", "is_unmatched", "team"]
    search_fields = ["subject", "contact_address"]
    raw_id_fields = ["subscriber", "campaign"]
    readonly_fields = ["routing_reason_shown", "waiting_since", "last_message_at", "created_at"]
    exclude = ["routing_reasons"]

    @admin.display(description=_("routing reason"))
    def routing_reason_shown(self, conversation: Conversation) -> str:
        return conversation.routing_reason_text


# The IMAP mailboxes' admin lives with the channel (replies/imap/admin.py).
from replies.imap import admin as _imap_admin  # noqa: E402, F401
