"""The campaign editor: list, edit with live preview, test send, audience, launch, progress, stats.

Views only parse input, call services/selectors and render; every page needs the
marketer permission ``campaigns.change_campaign``, except the "this was a test" page of test
links and the library's images (mail programs fetch them).
"""

from __future__ import annotations

import csv

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required, permission_required
from django.core.paginator import Paginator
from django.db import transaction
from django.db.models import Count, Q
from django.http import FileResponse, Http404, HttpRequest, HttpResponse, JsonResponse, StreamingHttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import formats, timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from campaigns import abtest, images, selectors, services, testmail
from campaigns.forms import (
    CampaignForm,
    LaunchForm,
    TestSendForm,
    ab_test_forms,
    check_ab_forms,
    contact_choices,
    posted_versions,
    problems_as_text,
    version_forms,
)
from campaigns.messages import contact_name
from campaigns.models import ABTest, Campaign, CampaignImage, CampaignTemplate, Delivery, VariantB
from campaigns.rendering import SAMPLE_VARIABLES, VARIABLES, CampaignRenderError, compile_campaign
from campaigns.starters import STARTERS, starter
from campaigns.variables import unknown_variables
from campaigns.versions import Content, contents, language_name, languages, problems_of, version_label
from rundbrief.csp import allows_mail_frames
from subscribers.models import Topic

RECIPIENTS_PER_PAGE = 100
IMAGES_SHOWN = 200


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


def _starting_point(request: HttpRequest) -> dict:
    """A new campaign's content: the chosen saved template, else the chosen (or first) starter layout."""
    template_id = request.GET.get("template", "")
    if template_id.isdigit() and (template := CampaignTemplate.objects.filter(pk=template_id).first()):
        return {
            "name": template.name,
            "subject": template.subject,
            "preheader": template.preheader,
            "from_name": template.from_name,
            "mjml_body": template.mjml_body,
            "text_body": template.text_body,
            "default_language": template.default_language,
            "versions": template.versions,
        }
    layout = starter(request.GET.get("starter", "")) or STARTERS[0]
    return {"mjml_body": layout.mjml(request.LANGUAGE_CODE)}


@marketer_required
@require_GET
def campaign_start(request: HttpRequest) -> HttpResponse:
    """How a new campaign starts: a starter layout or a saved template, never an empty editor."""
    return render(
        request,
        "campaigns/start.html",
        {"starters": STARTERS, "templates": CampaignTemplate.objects.all()},
    )


@marketer_required
@require_POST
def save_template(request: HttpRequest, pk: int) -> HttpResponse:
    campaign = get_object_or_404(Campaign, pk=pk)
    template = services.save_as_template(
        campaign=campaign, name=request.POST.get("template_name", ""), user=request.user
    )
    messages.success(
        request,
        _("Saved as the template “%(name)s”: new campaigns can start from it.") % {"name": template.name},
    )
    return redirect("campaigns:detail", pk)


def _editor(request: HttpRequest, campaign: Campaign | None) -> HttpResponse:
    if campaign is not None and campaign.status not in services.EDITABLE:
        messages.warning(request, _("This campaign has been launched and can no longer be edited."))
        return redirect("campaigns:detail", campaign.pk)
    initial = _starting_point(request) if campaign is None and request.method == "GET" else {}
    if campaign is None and request.GET.get("segment", "").isdigit():
        initial["segment"] = request.GET["segment"]  # "New campaign to this segment" (audience desk)
    template_versions = initial.pop("versions", None)
    form = CampaignForm(request.POST or None, instance=campaign, initial=initial)
    if campaign is None and "default_language" in initial:
        form.fields["default_language"].initial = initial["default_language"]
    versions = version_forms(request.POST or None, campaign, initial=template_versions)
    ab_form, variant_forms = ab_test_forms(request.POST or None, campaign)
    if (
        request.method == "POST"
        and form.is_valid()
        and all(v.is_valid() for v in versions)
        and check_ab_forms(ab_form, variant_forms, _posted_contents(form, versions, campaign))
    ):
        data = form.cleaned_data
        present = {v.language: v.content() for v in versions if v.cleaned_data["present"]}
        try:
            with transaction.atomic():  # the campaign and its A/B test are saved together, or neither
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
                    segment=data.get("segment"),
                    default_language=data["default_language"] or None,
                    versions=present,
                )
                _save_ab_test(saved, ab_form, variant_forms)
        except abtest.ABTestError as exc:
            ab_form.add_error(None, str(exc))
        except ValueError as exc:
            form.add_error("default_language", str(exc))
        else:
            messages.success(request, _("Campaign saved."))
            for language, content in contents(saved).items():
                for problem in unknown_variables(**content.fields()):
                    if present:
                        messages.warning(
                            request,
                            _("%(version)s: %(problem)s")
                            % {"version": version_label(language), "problem": problem.message},
                        )
                    else:
                        messages.warning(request, problem.message)
            for problem in _variant_warnings(saved):
                messages.warning(request, problem)
            return redirect("campaigns:detail", saved.pk)
    default_language = form["default_language"].value() or (
        campaign.default_language if campaign else settings.LANGUAGE_CODE
    )
    return render(
        request,
        "campaigns/edit.html",
        {
            "form": form,
            "campaign": campaign,
            "variables": VARIABLES,
            "versions": versions,
            "content_fields": CONTENT_FIELDS,
            "default_language": default_language,
            "default_language_name": language_name(default_language),
            "ab_form": ab_form,
            "variant_forms": variant_forms,
        },
    )


# The fields of the default version: the editor shows them in the default language's tab.
CONTENT_FIELDS = ("subject", "preheader", "mjml_body", "text_body")


@marketer_required
@allows_mail_frames(remote_images=True)  # the live preview shows the campaign's images
def campaign_create(request: HttpRequest) -> HttpResponse:
    return _editor(request, None)


@marketer_required
@allows_mail_frames(remote_images=True)
def campaign_edit(request: HttpRequest, pk: int) -> HttpResponse:
    return _editor(request, get_object_or_404(Campaign, pk=pk))


@marketer_required
@require_POST
def preview(request: HttpRequest) -> JsonResponse:
    """Render the posted (unsaved) campaign: {html, text, errors: [{part, line, message}]}."""
    topic_ids = [t for t in request.POST.getlist("topics") if t.isdigit()]
    topics = list(Topic.objects.filter(pk__in=topic_ids).order_by("pk").select_related("owner"))
    contact_id = request.POST.get("contact", "")
    contact = contact_choices().filter(pk=contact_id).first() if contact_id.isdigit() else None
    if contact is None and topics:
        contact = topics[0].owner
    shell = Campaign(
        name=request.POST.get("name", ""), from_name=request.POST.get("from_name", ""), contact=contact
    )
    # Saving asks for a contact person; until then the preview shows where the name goes.
    preview_contact = contact_name(shell) if contact is not None else _("(contact person)")
    # The version shown: the subscriber's language (or, for the sample, the editor's tab), else the default.
    default_language = request.POST.get("default_language", "")
    if default_language not in languages():
        default_language = settings.LANGUAGE_CODE
    versions = {
        default_language: Content(
            language=default_language,
            subject=request.POST.get("subject", ""),
            preheader=request.POST.get("preheader", ""),
            mjml_body=request.POST.get("mjml_body", ""),
            text_body=request.POST.get("text_body", ""),
        )
    }
    for code, fields in posted_versions(request.POST, default_language).items():
        versions[code] = Content(language=code, **fields)
    shown_language = request.POST.get("preview_language", "")
    # Rendered as a test send renders it (services.send_test), so the test is this preview.
    recipient = selectors.test_recipient(
        request.POST.get("preview_subscriber", ""),
        language=shown_language if shown_language in languages() else request.LANGUAGE_CODE,
    )
    content = versions.get(recipient.language) or versions[default_language]
    if request.POST.get("ab-enabled") and request.POST.get("ab-preview_variant") == "b":
        content = _posted_variant_b(request.POST, content)
    version = {
        "language": content.language,
        "name": language_name(content.language),
        "recipient_language": recipient.language,
        "note": _version_note(recipient.language, content.language),
    }
    try:
        compiled = compile_campaign(
            **content.fields(),
            contact_name=preview_contact,
            campaign_name=shell.name,
        )
    except CampaignRenderError as exc:
        return JsonResponse(
            {"html": "", "text": "", "errors": [p.as_dict() for p in exc.problems], "version": version}
        )
    warnings = unknown_variables(**content.fields())
    campaign_id = request.POST.get("campaign_id", "")
    try:
        rendered = compiled.render(
            {
                "subscriber": {"name": recipient.name, "email": recipient.email},
                **testmail.links(int(campaign_id) if campaign_id.isdigit() else None),
            },
            language=recipient.language,
        )
    except Exception as exc:  # a filter failing on this subscriber's data: show it, never a 500
        return JsonResponse(
            {
                "html": "",
                "text": "",
                "errors": [{"part": "template", "line": None, "message": str(exc)}],
                "version": version,
            }
        )
    return JsonResponse(
        {
            "html": rendered.html,
            "text": rendered.text,
            "subject": rendered.subject,
            "preheader": rendered.preheader,
            "errors": [],
            "warnings": [problem.as_dict() for problem in warnings],
            "recipient": {
                "email": recipient.email,
                "found": recipient.found,
                "text_only": recipient.text_only,
                "note": recipient.note,
            },
            "version": version,
        }
    )


def _version_note(language: str, version_language: str) -> str:
    """Said in the preview when the subscriber's language has no version of its own."""
    if language == version_language:
        return ""
    return _("No %(language)s version: %(language)s subscribers get the %(version)s one.") % {
        "language": language_name(language),
        "version": language_name(version_language),
    }


@marketer_required
@require_GET
def campaign_detail(request: HttpRequest, pk: int) -> HttpResponse:
    campaign = get_object_or_404(Campaign.objects.select_related("contact"), pk=pk)
    audience = None
    render_problems: list[str] = []
    variable_problems: list[str] = []
    languages_audience: list = []
    versions = contents(campaign)
    several = len(versions) > 1
    if campaign.status in services.EDITABLE:
        audience = selectors.count_audience(campaign)
        languages_audience = selectors.audience_by_language(campaign)
        for language, content in versions.items():
            unknown, error = problems_of(content)
            label = f"{version_label(language)}: " if several else ""
            variable_problems += [label + message for message in unknown]
            if error is not None:
                render_problems += [label + problem for problem in problems_as_text(error)]
    return render(
        request,
        "campaigns/detail.html",
        {
            "campaign": campaign,
            "contact_name": contact_name(campaign),
            "stats": selectors.campaign_stats(campaign),
            "audience": audience,
            "render_problems": render_problems,
            "variable_problems": variable_problems,
            "contact_problem": services.contact_problem(campaign)
            if campaign.status in services.EDITABLE
            else None,
            "failures": selectors.failed_deliveries(campaign),
            "bounces": selectors.campaign_bounces(campaign),
            "test_form": TestSendForm(initial={"language": request.LANGUAGE_CODE}),
            "launch_form": LaunchForm(),
            "languages_audience": languages_audience,
            "versions": [
                {"language": code, "name": language_name(code), "default": code == campaign.default_language}
                for code in versions
            ],
            "missing_versions": [language_name(code) for code in languages() if code not in versions],
            "editable": campaign.status in services.EDITABLE,
            **ab_context(campaign),
        },
    )


def _sent_versions(campaign: Campaign) -> tuple[dict, str]:
    """The versions that went out ({language: fields}) and the default's language."""
    content = campaign.sent_content or services.content_snapshot(campaign)
    default = content.get("default_language") or settings.LANGUAGE_CODE  # snapshots before versions
    versions = {default: {name: content[name] for name in CONTENT_FIELDS}}
    return versions | dict(content.get("versions") or {}), default


def _as_sent(campaign: Campaign, language: str, *, variant: str = ""):
    """The content that went out in ``language``'s version, rendered for the sample subscriber in
    that language (compiled as at the start); ``variant`` "b": an A/B test's variant B of that
    version (None if it had none)."""
    content = campaign.sent_content or services.content_snapshot(campaign)
    versions, _default = _sent_versions(campaign)
    if variant == "b":
        fields = (content.get("variant_b") or {}).get(language)
        if fields is None:
            return None
        versions = {**versions, language: {**versions[language], **fields}}
    compiled = compile_campaign(
        **versions[language],
        contact_name=content["contact_name"],
        campaign_name=campaign.name,
    )
    return compiled.render(
        {"subscriber": dict(SAMPLE_VARIABLES["subscriber"]), **testmail.links(campaign.pk)},
        language=language,
    )


@marketer_required
@require_GET
@allows_mail_frames(remote_images=True)  # the content as sent shows its images
def campaign_stats(request: HttpRequest, pk: int) -> HttpResponse:
    """After (or while) sending: when and how long, timelines as charts, recipients, content as sent."""
    campaign = get_object_or_404(Campaign.objects.select_related("contact"), pk=pk)
    if campaign.status == Campaign.Status.DRAFT:
        return redirect("campaigns:detail", pk)
    times = selectors.send_times(campaign)
    status = request.GET.get("status", "")
    page = Paginator(selectors.recipients(campaign, status=status), RECIPIENTS_PER_PAGE).get_page(
        request.GET.get("page")
    )
    sent_versions, default = _sent_versions(campaign)
    shown = request.GET.get("version", "")
    shown = shown if shown in sent_versions else default
    try:
        as_sent = _as_sent(campaign, shown)
        as_sent_b = _as_sent(campaign, shown, variant="b")
    except CampaignRenderError:
        as_sent = as_sent_b = None
    return render(
        request,
        "campaigns/stats.html",
        {
            "campaign": campaign,
            "stats": selectors.campaign_stats(campaign),
            "times": times,
            "send_chart": selectors.send_timeline(campaign, times),
            "replies_chart": selectors.replies_timeline(campaign, times),
            "page": page,
            "status": status if status in Delivery.Status.values else "",
            "statuses": Delivery.Status.choices,
            "as_sent": as_sent,
            "as_sent_b": as_sent_b,
            "language_stats": selectors.stats_by_language(campaign),
            "sent_versions": [
                {"language": code, "name": language_name(code), "shown": code == shown}
                for code in sent_versions
            ],
            **ab_context(campaign),
        },
    )


@marketer_required
@require_GET
def recipients_csv(request: HttpRequest, pk: int) -> StreamingHttpResponse:
    """The recipients with their delivery state, as CSV (the filter of the stats page applies)."""
    campaign = get_object_or_404(Campaign, pk=pk)
    rows = selectors.recipients(campaign, status=request.GET.get("status", ""))
    writer = csv.writer(_Echo())

    def lines():
        yield writer.writerow(["email", "name", "status", "sent_at", "attempts", "error"])
        for delivery in rows.iterator(chunk_size=2000):
            subscriber = delivery.subscriber
            yield writer.writerow(
                [
                    subscriber.email if subscriber else "",
                    subscriber.name if subscriber else "",
                    delivery.status,
                    delivery.sent_at.isoformat() if delivery.sent_at else "",
                    delivery.attempts,
                    delivery.error,
                ]
            )

    response = StreamingHttpResponse(lines(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="campaign-{campaign.pk}-recipients.csv"'
    return response


class _Echo:
    """csv.writer's file: hands each line back instead of storing it (a streamed response)."""

    def write(self, value: str) -> str:
        return value


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
        result = services.send_test(
            campaign=campaign,
            addresses=form.address_list(),
            as_subscriber=form.cleaned_data["as_subscriber"],
            language=form.cleaned_data["language"] or request.LANGUAGE_CODE,
            user=request.user,
            variant=form.cleaned_data["variant"],
        )
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


@csrf_exempt  # a mail program's one-click POST (RFC 8058) to a test mail's List-Unsubscribe
@require_http_methods(["GET", "POST"])
def test_link(request: HttpRequest, token: str) -> HttpResponse:
    """Where the footer links of a test mail and the preview lead: "this was a test", never a 410."""
    found = testmail.read_link(token)
    if found is None:
        return render(request, "campaigns/test_link.html", {"valid": False}, status=404)
    campaign_id, kind = found
    campaign = Campaign.objects.filter(pk=campaign_id).first()
    return render(request, "campaigns/test_link.html", {"valid": True, "campaign": campaign, "kind": kind})


@marketer_required
def image_library(request: HttpRequest) -> HttpResponse:
    """Upload images and copy their absolute URLs (or an <mj-image> line) into a campaign."""
    if request.method == "POST":
        upload = request.FILES.get("image")
        if upload is None:
            messages.error(request, _("Choose an image to upload."))
        else:
            try:
                image = services.upload_image(upload=upload, user=request.user)
            except services.ImageRefused as exc:
                messages.error(request, str(exc))
            else:
                messages.success(request, _("Uploaded “%(name)s”.") % {"name": image.name})
        return redirect("campaigns:images")
    library = [
        (image, images.absolute_url(image.file.name)) for image in CampaignImage.objects.all()[:IMAGES_SHOWN]
    ]
    return render(
        request,
        "campaigns/images.html",
        {"library": library, "max_mb": images.MAX_IMAGE_BYTES // (1024 * 1024)},
    )


@require_GET
def image(request: HttpRequest, path: str) -> FileResponse:
    """A library image, public (mail programs fetch it without a login); only recorded files."""
    found = CampaignImage.objects.filter(file=path).first()
    if found is None:
        raise Http404
    response = FileResponse(found.file.open("rb"), content_type=found.content_type)
    response["Cache-Control"] = "public, max-age=31536000, immutable"  # random names: never changed
    return response


def _confirmation(request: HttpRequest, campaign: Campaign, **context) -> HttpResponse:
    return render(request, "campaigns/confirm.html", {"campaign": campaign, **context})


@marketer_required
@require_POST
def launch(request: HttpRequest, pk: int) -> HttpResponse:
    """Two steps: the posted time is checked and the marketer asked "send to N people?"; then sent."""
    campaign = get_object_or_404(Campaign, pk=pk)
    form = LaunchForm(request.POST)
    if not form.is_valid():
        messages.error(request, _("That is not a valid date and time."))
        return redirect("campaigns:detail", pk)
    at = form.cleaned_data["at"]
    try:
        if not form.cleaned_data["confirmed"]:
            services.check_launch(campaign=campaign, at=at)
            recipients = selectors.count_audience(campaign).recipients
            test = abtest.test_of(campaign)
            return _confirmation(
                request,
                campaign,
                action="launch",
                question=launch_question(campaign.name, recipients, at),
                detail=ab_launch_detail(campaign, test, recipients) if test is not None else "",
                at=at,
                languages_audience=selectors.audience_by_language(campaign),
            )
        campaign = services.launch_campaign(campaign=campaign, at=at)
    except services.CampaignStateError as exc:
        messages.error(request, str(exc))
    except CampaignRenderError as exc:
        messages.error(request, render_error_message(exc))
    else:
        if campaign.status == Campaign.Status.SCHEDULED:
            messages.success(
                request,
                _("Campaign scheduled for %(at)s.")
                % {"at": formats.date_format(timezone.localtime(campaign.scheduled_at), "DATETIME_FORMAT")},
            )
        else:
            messages.success(request, _("Campaign launched."))
    return redirect("campaigns:detail", pk)


def render_error_message(exc: CampaignRenderError) -> str:
    """Why a launch was refused, naming the version when the campaign has several."""
    errors = "; ".join(problems_as_text(exc))
    if getattr(exc, "language", ""):
        return _("%(version)s cannot be rendered: %(errors)s") % {
            "version": version_label(exc.language),
            "errors": errors,
        }
    return _("The campaign cannot be rendered: %(errors)s") % {"errors": errors}


def launch_question(name: str, recipients: int, at) -> str:
    count = formats.number_format(recipients, force_grouping=True)
    if at is None:
        return ngettext(
            "Send “%(name)s” to %(count)s person now?", "Send “%(name)s” to %(count)s people now?", recipients
        ) % {"name": name, "count": count}
    return ngettext(
        "Send “%(name)s” to %(count)s person at %(at)s?",
        "Send “%(name)s” to %(count)s people at %(at)s?",
        recipients,
    ) % {"name": name, "count": count, "at": formats.date_format(timezone.localtime(at), "DATETIME_FORMAT")}


@marketer_required
@require_POST
def cancel(request: HttpRequest, pk: int) -> HttpResponse:
    """Asks first; a cancelled campaign can then be edited, launched again or duplicated."""
    campaign = get_object_or_404(Campaign, pk=pk)
    if request.POST.get("confirmed") != "1":
        stats = selectors.campaign_stats(campaign)
        return _confirmation(
            request,
            campaign,
            action="cancel",
            question=_("Cancel “%(name)s”?") % {"name": campaign.name},
            detail=_(
                "%(sent)s mails have gone out; %(waiting)s not sent yet will not be sent. "
                "You can edit the campaign afterwards and launch it again to those it has not reached."
            )
            % {
                "sent": formats.number_format(stats.delivered, force_grouping=True),
                "waiting": formats.number_format(stats.queued + stats.sending, force_grouping=True),
            },
        )
    try:
        services.cancel_campaign(campaign=campaign)
    except services.CampaignStateError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, _("Campaign cancelled."))
    return redirect("campaigns:detail", pk)


@marketer_required
@require_POST
def duplicate(request: HttpRequest, pk: int) -> HttpResponse:
    copy = services.duplicate_campaign(campaign=get_object_or_404(Campaign, pk=pk), user=request.user)
    messages.success(request, _("Campaign duplicated: this is the copy, a draft."))
    return redirect("campaigns:edit", copy.pk)


@marketer_required
@require_POST
def make_default(request: HttpRequest, pk: int, language: str) -> HttpResponse:
    """The version in ``language`` becomes the default; the default so far a version (they swap)."""
    campaign = get_object_or_404(Campaign, pk=pk)
    try:
        services.make_default_version(campaign=campaign, language=language)
    except (ValueError, services.CampaignStateError) as exc:
        messages.error(request, str(exc))
    else:
        messages.success(
            request,
            _("The %(language)s version is the default now.") % {"language": language_name(language)},
        )
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


# --- A/B test by replies (campaigns.abtest) ---------------------------------------------------


def _posted_contents(form: CampaignForm, versions: list, campaign: Campaign | None) -> dict[str, Content]:
    """The versions the saved campaign will have (valid forms), for checking their variant B."""
    data = form.cleaned_data
    default_language = data["default_language"] or (
        campaign.default_language if campaign else settings.LANGUAGE_CODE
    )
    found = {
        default_language: Content(
            language=default_language, **{name: data[name] or "" for name in CONTENT_FIELDS}
        )
    }
    for version in versions:
        if version.cleaned_data["present"] and version.language != default_language:
            found[version.language] = Content(language=version.language, **version.content())
    return found


def _save_ab_test(campaign: Campaign, ab_form, variant_forms: list) -> None:
    """Kept when switched on, or when there is a test (or a variant B) to keep; else nothing stored."""
    data = ab_form.cleaned_data
    filled = {v.language: v.content() for v in variant_forms if v.has_content()}
    if not data["enabled"] and not filled and not hasattr(campaign, "ab_test"):
        return
    abtest.save_ab_test(
        campaign=campaign,
        enabled=data["enabled"],
        kind=data["kind"],
        sample_percent=data["sample_percent"],
        wait_hours=data["wait_hours"],
        variants=filled,
    )


def _variant_warnings(campaign: Campaign) -> list[str]:
    """Unknown variables in variant B, said after saving as for A (the launch refuses them)."""
    test = abtest.test_of(campaign)
    if test is None:
        return []
    found = []
    for language, content in abtest.variant_contents(campaign, test).items():
        if content is not None:
            found += [
                _("Variant B of the %(language)s version: %(problem)s")
                % {"language": language_name(language), "problem": problem.message}
                for problem in unknown_variables(**content.fields())
            ]
    return found


def _posted_variant_b(post, content: Content) -> Content:
    """The preview's variant B of ``content`` from the posted editor form (unvalidated)."""
    kind = post.get("ab-kind", "")
    if kind not in ABTest.Kind.values:
        return content
    prefix = f"ab-{content.language}-"
    row = VariantB(
        language=content.language, **{name: post.get(prefix + name, "") for name in abtest.VARIANT_FIELDS}
    )
    return abtest.variant_content(ABTest(kind=kind), content, variants={content.language: row}) or content


def ab_result_text(test: ABTest) -> str:
    """The decision as shown on the campaign and stats pages: "B won: 14 of 500 replied vs 9 of 500"."""
    figures = {
        "repliers_a": formats.number_format(test.repliers_a, force_grouping=True),
        "delivered_a": formats.number_format(test.delivered_a, force_grouping=True),
        "repliers_b": formats.number_format(test.repliers_b, force_grouping=True),
        "delivered_b": formats.number_format(test.delivered_b, force_grouping=True),
    }
    if test.tie:
        return (
            ngettext(
                "Tie, so A won: %(repliers_a)s of %(delivered_a)s replied to A and %(repliers_b)s of "
                "%(delivered_b)s to B.",
                "Tie, so A won: %(repliers_a)s of %(delivered_a)s replied to A and %(repliers_b)s of "
                "%(delivered_b)s to B.",
                test.repliers_a,
            )
            % figures
        )
    if test.winner == "b":
        return (
            ngettext(
                "B won: %(repliers_b)s of %(delivered_b)s replied vs %(repliers_a)s of %(delivered_a)s.",
                "B won: %(repliers_b)s of %(delivered_b)s replied vs %(repliers_a)s of %(delivered_a)s.",
                test.repliers_b,
            )
            % figures
        )
    return (
        ngettext(
            "A won: %(repliers_a)s of %(delivered_a)s replied vs %(repliers_b)s of %(delivered_b)s.",
            "A won: %(repliers_a)s of %(delivered_a)s replied vs %(repliers_b)s of %(delivered_b)s.",
            test.repliers_a,
        )
        % figures
    )


def ab_so_far_text(counts: selectors.ABCounts) -> str:
    """A running test's figures: who replied so far, and who would win now."""
    decision = abtest.judge(counts)
    figures = {
        "repliers_a": formats.number_format(counts.repliers_a, force_grouping=True),
        "delivered_a": formats.number_format(counts.delivered_a, force_grouping=True),
        "repliers_b": formats.number_format(counts.repliers_b, force_grouping=True),
        "delivered_b": formats.number_format(counts.delivered_b, force_grouping=True),
    }
    if decision.tie:
        leader = _("a tie: A would win.")
    else:
        leader = _("%(variant)s would win.") % {"variant": decision.winner.upper()}
    return _(
        "So far %(repliers_a)s of %(delivered_a)s replied to A and %(repliers_b)s of %(delivered_b)s to B; "
        "%(leader)s"
    ) % {**figures, "leader": leader}


def ab_launch_detail(campaign: Campaign, test: ABTest, recipients: int) -> str:
    """The launch confirmation's line: "2 x 250 people get A or B now, the rest (4,500) in 24 h the
    variant with more repliers"."""
    count = selectors.count_sample(campaign, abtest.sample_of(test), recipients=recipients)
    figures = {
        "a": formats.number_format(count.a, force_grouping=True),
        "b": formats.number_format(count.b, force_grouping=True),
        "rest": formats.number_format(count.rest, force_grouping=True),
        "hours": test.wait_hours,
    }
    if count.a == count.b:
        now = _("2 x %(a)s people get A or B now") % figures
    else:
        now = _("%(a)s people get A and %(b)s get B now") % figures
    if count.rest == 0:
        return _("%(now)s; the sample is the whole audience, the winner is recorded after %(hours)s h.") % {
            "now": now,
            **figures,
        }
    return _("%(now)s, the rest (%(rest)s) in %(hours)s h the variant with more repliers.") % {
        "now": now,
        **figures,
    }


def ab_context(campaign: Campaign) -> dict:
    """The A/B section of the campaign and stats pages (empty without a test)."""
    test = abtest.test_of(campaign)
    if test is None:
        return {}
    running = test.decided_at is None and campaign.status in (Campaign.Status.SENDING, Campaign.Status.PAUSED)
    planned = campaign.status in services.EDITABLE and test.decided_at is None
    return {
        "ab_launch": ab_launch_detail(campaign, test, selectors.count_audience(campaign).recipients)
        if planned
        else "",
        "ab_test": test,
        "ab_due_at": abtest.due_at(test, campaign),
        "ab_so_far": ab_so_far_text(selectors.ab_counts(campaign)) if running else "",
        "ab_result": ab_result_text(test) if test.decided_at else "",
        "ab_can_decide": running and test.sample_queued_at is not None,
    }


@marketer_required
@require_POST
def ab_decide(request: HttpRequest, pk: int) -> HttpResponse:
    """Decide an A/B test early, by hand: asks first (with the figures so far), then records it."""
    campaign = get_object_or_404(Campaign, pk=pk)
    if request.POST.get("confirmed") != "1":
        test = abtest.test_of(campaign)
        if test is None:
            messages.error(request, _("This campaign has no A/B test."))
            return redirect("campaigns:detail", pk)
        return _confirmation(
            request,
            campaign,
            action="ab_decide",
            question=_("Decide the A/B test of “%(name)s” now?") % {"name": campaign.name},
            detail=_("%(so_far)s The rest of the audience then gets the winner; this cannot be undone.")
            % {"so_far": ab_so_far_text(selectors.ab_counts(campaign))},
        )
    try:
        test = abtest.decide(campaign=campaign, user=request.user)
    except abtest.ABTestError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, _("A/B test decided. %(result)s") % {"result": ab_result_text(test)})
    return redirect("campaigns:detail", pk)
