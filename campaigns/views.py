"""The campaign editor: list, edit with live preview, test send, audience, launch, progress, stats.

Views only parse input, call services/selectors and render; every page needs the
marketer permission ``campaigns.change_campaign``.
"""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required, permission_required
from django.db.models import Count, Q
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET, require_POST

from campaigns import selectors, services
from campaigns.forms import CampaignForm, LaunchForm, TestSendForm, problems_as_text
from campaigns.messages import contact_name
from campaigns.models import Campaign, Delivery
from campaigns.rendering import VARIABLES, CampaignRenderError, compile_campaign
from rundbrief.csp import allows_mail_frames
from subscribers.models import Subscriber, Topic
from subscribers.tokens import preferences_url, unsubscribe_url


def marketer_required(view):
    return login_required(permission_required("campaigns.change_campaign", raise_exception=True)(view))


@marketer_required
@require_GET
def campaign_list(request: HttpRequest) -> HttpResponse:
    campaigns = Campaign.objects.annotate(
        total=Count("deliveries"),
        done=Count(
            "deliveries", filter=~Q(deliveries__status__in=[Delivery.Status.QUEUED, Delivery.Status.SENDING])
        ),
    ).prefetch_related("topics")
    return render(request, "campaigns/list.html", {"campaigns": campaigns})


def _editor(request: HttpRequest, campaign: Campaign | None) -> HttpResponse:
    if campaign is not None and campaign.status not in services.EDITABLE:
        messages.warning(request, _("This campaign has been launched and can no longer be edited."))
        return redirect("campaigns:detail", campaign.pk)
    form = CampaignForm(request.POST or None, instance=campaign)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        saved = services.save_campaign(
            campaign=campaign,
            name=data["name"],
            topics=data["topics"],
            subject=data["subject"],
            preheader=data["preheader"],
            from_name=data["from_name"],
            mjml_body=data["mjml_body"],
            text_body=data["text_body"],
            contact=data["contact"],
            user=request.user,
        )
        messages.success(request, _("Campaign saved."))
        return redirect("campaigns:detail", saved.pk)
    return render(
        request,
        "campaigns/edit.html",
        {"form": form, "campaign": campaign, "variables": VARIABLES},
    )


@marketer_required
@allows_mail_frames(remote_images=True)  # the live preview shows the campaign's images
def campaign_create(request: HttpRequest) -> HttpResponse:
    return _editor(request, None)


@marketer_required
@allows_mail_frames(remote_images=True)
def campaign_edit(request: HttpRequest, pk: int) -> HttpResponse:
    return _editor(request, get_object_or_404(Campaign, pk=pk))


def _preview_recipient(request: HttpRequest) -> dict:
    """The chosen subscriber (by address), else a sample one."""
    address = request.POST.get("preview_subscriber", "").strip()
    subscriber = Subscriber.objects.filter(email__iexact=address).first() if address else None
    if subscriber is None:
        return {
            "id": 0,
            "name": _("Alex Sample"),
            "email": "alex@example.org",
            "language": request.LANGUAGE_CODE,
            "text_only": False,
            "found": False,
        }
    return {
        "id": subscriber.pk,
        "name": subscriber.name,
        "email": subscriber.email,
        "language": subscriber.language,
        "text_only": subscriber.format == Subscriber.Format.TEXT,
        "found": True,
    }


@marketer_required
@require_POST
def preview(request: HttpRequest) -> JsonResponse:
    """Render the posted (unsaved) campaign: {html, text, errors: [{part, line, message}]}."""
    topic_ids = [t for t in request.POST.getlist("topics") if t.isdigit()]
    topics = list(Topic.objects.filter(pk__in=topic_ids).order_by("pk").select_related("owner"))
    contact_id = request.POST.get("contact", "")
    contact = None
    if contact_id.isdigit():
        from django.contrib.auth import get_user_model

        contact = get_user_model().objects.filter(pk=contact_id).first()
    if contact is None and topics:
        contact = topics[0].owner
    shell = Campaign(
        name=request.POST.get("name", ""), from_name=request.POST.get("from_name", ""), contact=contact
    )
    # Saving asks for a contact person; until then the preview shows where the name goes.
    preview_contact = contact_name(shell) if contact is not None else _("(contact person)")
    try:
        compiled = compile_campaign(
            mjml_body=request.POST.get("mjml_body", ""),
            text_body=request.POST.get("text_body", ""),
            subject=request.POST.get("subject", ""),
            preheader=request.POST.get("preheader", ""),
            contact_name=preview_contact,
            campaign_name=shell.name,
        )
    except CampaignRenderError as exc:
        return JsonResponse({"html": "", "text": "", "errors": [p.as_dict() for p in exc.problems]})
    recipient = _preview_recipient(request)
    slugs = [t.slug for t in topics]
    try:
        rendered = compiled.render(
            {
                "subscriber": {"name": recipient["name"], "email": recipient["email"]},
                "preferences_url": preferences_url(recipient["id"]),
                "unsubscribe_url": unsubscribe_url(recipient["id"], slugs),
            },
            language=recipient["language"],
        )
    except Exception as exc:  # a filter failing on this subscriber's data: show it, never a 500
        return JsonResponse(
            {"html": "", "text": "", "errors": [{"part": "template", "line": None, "message": str(exc)}]}
        )
    return JsonResponse(
        {
            "html": rendered.html,
            "text": rendered.text,
            "errors": [],
            "recipient": {
                "email": recipient["email"],
                "found": recipient["found"],
                "text_only": recipient["text_only"],
            },
        }
    )


@marketer_required
@require_GET
def campaign_detail(request: HttpRequest, pk: int) -> HttpResponse:
    campaign = get_object_or_404(Campaign.objects.select_related("contact"), pk=pk)
    audience = None
    render_problems: list[str] = []
    if campaign.status in services.EDITABLE:
        audience = selectors.count_audience(campaign)
        try:
            compile_campaign(mjml_body=campaign.mjml_body, text_body=campaign.text_body)
        except CampaignRenderError as exc:
            render_problems = problems_as_text(exc)
    return render(
        request,
        "campaigns/detail.html",
        {
            "campaign": campaign,
            "contact_name": contact_name(campaign),
            "stats": selectors.campaign_stats(campaign),
            "audience": audience,
            "render_problems": render_problems,
            "contact_problem": services.contact_problem(campaign)
            if campaign.status in services.EDITABLE
            else None,
            "failures": selectors.failed_deliveries(campaign),
            "bounces": selectors.campaign_bounces(campaign),
            "test_form": TestSendForm(),
            "launch_form": LaunchForm(),
            "editable": campaign.status in services.EDITABLE,
        },
    )


@marketer_required
@require_GET
def campaign_progress(request: HttpRequest, pk: int) -> JsonResponse:
    campaign = get_object_or_404(Campaign, pk=pk)
    stats = selectors.campaign_stats(campaign)
    return JsonResponse(
        {"status": campaign.status, "status_label": campaign.get_status_display(), **stats.as_dict()}
    )


@marketer_required
@require_POST
def test_send(request: HttpRequest, pk: int) -> HttpResponse:
    campaign = get_object_or_404(Campaign, pk=pk)
    form = TestSendForm(request.POST)
    if not form.is_valid():
        messages.error(request, _("Give the addresses for the test send."))
        return redirect("campaigns:detail", pk)
    try:
        result = services.send_test(campaign=campaign, addresses=form.address_list())
    except (ValueError, CampaignRenderError) as exc:
        messages.error(request, str(exc))
        return redirect("campaigns:detail", pk)
    if result.sent:
        messages.success(request, _("Test sent to %(addresses)s.") % {"addresses": ", ".join(result.sent)})
    for address, reason in result.errors.items():
        messages.error(
            request, _("Test to %(address)s failed: %(reason)s") % {"address": address, "reason": reason}
        )
    return redirect("campaigns:detail", pk)


@marketer_required
@require_POST
def launch(request: HttpRequest, pk: int) -> HttpResponse:
    campaign = get_object_or_404(Campaign, pk=pk)
    form = LaunchForm(request.POST)
    if not form.is_valid():
        messages.error(request, _("That is not a valid date and time."))
        return redirect("campaigns:detail", pk)
    try:
        campaign = services.launch_campaign(campaign=campaign, at=form.cleaned_data["at"])
    except services.CampaignStateError as exc:
        messages.error(request, str(exc))
    except CampaignRenderError as exc:
        messages.error(
            request,
            _("The campaign cannot be rendered: %(errors)s") % {"errors": "; ".join(problems_as_text(exc))},
        )
    else:
        if campaign.status == Campaign.Status.SCHEDULED:
            messages.success(request, _("Campaign scheduled."))
        else:
            messages.success(request, _("Campaign launched."))
    return redirect("campaigns:detail", pk)


def _state_action(action, success: str):
    @marketer_required
    @require_POST
    def view(request: HttpRequest, pk: int) -> HttpResponse:
        campaign = get_object_or_404(Campaign, pk=pk)
        try:
            action(campaign=campaign)
        except services.CampaignStateError as exc:
            messages.error(request, str(exc))
        else:
            messages.success(request, success)
        return redirect("campaigns:detail", pk)

    return view


pause = _state_action(services.pause_campaign, gettext_lazy("Campaign paused."))
resume = _state_action(services.resume_campaign, gettext_lazy("Campaign resumed."))
cancel = _state_action(services.cancel_campaign, gettext_lazy("Campaign cancelled."))
