"""The marketers' and staff's dialogue tools: an issue on or off the archive; reader letters."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required, permission_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from campaigns.models import Campaign
from dialogue.services import archive as archive_services


def marketer_action(view):
    return login_required(
        permission_required("campaigns.change_campaign", raise_exception=True)(require_POST(view))
    )


@marketer_action
def campaign_archive(request: HttpRequest, pk: int) -> HttpResponse:
    campaign = get_object_or_404(Campaign, pk=pk)
    if request.POST.get("action") == "restore":
        archive_services.put_back_on_archive(campaign=campaign)
        messages.success(request, _("The issue is back on the archive."))
    else:
        archive_services.take_off_archive(campaign=campaign, user=request.user)
        messages.success(request, _("The issue has been taken off the archive."))
    return redirect("campaigns:detail", pk)
