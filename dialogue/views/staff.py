"""The marketers' and staff's dialogue tools: an issue on or off the archive; reader letters."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required, permission_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from campaigns.models import Campaign
from dialogue import report, selectors
from dialogue.forms import ProposeLetterForm
from dialogue.services import archive as archive_services
from dialogue.services import letters as letter_services
from dialogue.services import wishes as wish_services
from dialogue.services.wishes import MANAGER_PERMISSION
from replies.interface import Conversation, visible_conversations


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


def staff_action(view):
    return login_required(
        permission_required("replies.change_conversation", raise_exception=True)(require_POST(view))
    )


def _visible_conversation(request: HttpRequest, pk: int) -> Conversation:
    """Only a conversation this staff member may see (the inbox's own rule)."""
    return get_object_or_404(visible_conversations(request.user).select_related("subscriber"), pk=pk)


@staff_action
def propose_letter(request: HttpRequest, pk: int) -> HttpResponse:
    conversation = _visible_conversation(request, pk)
    replies = selectors.subscriber_replies(conversation)
    form = ProposeLetterForm(request.POST, messages=replies)
    if not form.is_valid():
        for errors in form.errors.values():
            for error in errors:
                messages.error(request, error)
        return redirect("replies:conversation", pk)
    data = form.cleaned_data
    try:
        letter_services.propose_letter(
            conversation=conversation,
            message=next(m for m in replies if m.pk == data["message"]),
            text=data["text"],
            signature_kind=data["signature_kind"],
            town=data["town"],
            topic=data["topic"],
            user=request.user,
        )
    except letter_services.LetterError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(
            request, _("The subscriber has been asked by mail whether the letter may be published.")
        )
    return redirect("replies:conversation", pk)


@login_required
@permission_required(MANAGER_PERMISSION, raise_exception=True)
@require_http_methods(["GET", "POST"])
def restricted(request: HttpRequest) -> HttpResponse:
    """Managers: the conversations kept for their contact person, opened only with a recorded reason."""
    if request.method == "POST":
        conversation = get_object_or_404(
            selectors.restricted_for(request.user), pk=request.POST.get("conversation")
        )
        try:
            wish_services.override_readers(
                conversation=conversation, manager=request.user, reason=request.POST.get("reason", "")
            )
        except wish_services.WishError as exc:
            messages.error(request, str(exc))
            return redirect("dialogue:restricted")
        return redirect("replies:conversation", conversation.pk)
    return render(
        request, "dialogue/restricted.html", {"conversations": selectors.restricted_for(request.user)}
    )


def marketer_page(view):
    return login_required(
        permission_required("campaigns.change_campaign", raise_exception=True)(require_GET(view))
    )


@marketer_page
def campaign_report(request: HttpRequest, pk: int) -> HttpResponse:
    """Numbers and masked quotes for every marketer; the unanswered conversations themselves (with
    links into the inbox) only for people with inbox rights."""
    campaign = get_object_or_404(Campaign, pk=pk)
    context = {
        "campaign": campaign,
        "report": report.campaign_report(campaign),
        "inbox_rights": request.user.has_perm("replies.view_conversation"),
    }
    return render(request, "dialogue/report.html", context)


@marketer_page
def reply_rates(request: HttpRequest) -> HttpResponse:
    rows = report.reply_rates()
    return render(
        request, "dialogue/reply_rates.html", {"rows": rows, "chart": report.reply_rates_chart(rows)}
    )
