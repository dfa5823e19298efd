"""The audience desk: subscribers, topics, attributes, segments, export (group Marketers, Managers).

Views parse input, call services and selectors, and render. Every page needs the permission
``subscribers.use_audience_desk`` (migration subscribers 0007 gives it to Marketers and
Managers); conversations are linked only for users with inbox rights, and their text is never
shown here.
"""

from __future__ import annotations

from contextlib import suppress

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required, permission_required
from django.http import HttpRequest, HttpResponse, JsonResponse, QueryDict
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from audience import charts, exports, imports, selectors, services
from audience.filters import AudienceFilter, subscribers_matching
from audience.forms import (
    AttributeForm,
    BulkActionForm,
    FilterForm,
    ImportMappingForm,
    ImportUploadForm,
    SegmentNameForm,
    SortForm,
    SubscriberForm,
    TopicForm,
    filter_initial,
)
from subscribers import selectors as subscriber_selectors
from subscribers import services as subscriber_services
from subscribers.models import Attribute, ImportJob, Segment, Subscriber, Topic

FILTER_PARAMS_DROPPED = ("cursor", "sort")


def audience_required(view):
    return login_required(permission_required("subscribers.use_audience_desk", raise_exception=True)(view))


def _filter_from(data: QueryDict) -> tuple[FilterForm, AudienceFilter]:
    form = FilterForm(data)
    form.is_valid()  # invalid fields are dropped from the filter and shown with their error
    return form, form.to_filter()


def _filter_query(data: QueryDict) -> str:
    """The request's filter as a query string, without paging (for links and forms)."""
    kept = data.copy()
    for name in (
        "cursor",
        "csrfmiddlewaretoken",
        "action",
        "scope",
        "selected",
        "confirmation",
        "target_topic",
    ):
        kept.pop(name, None)
    return kept.urlencode()


@audience_required
@require_GET
def subscriber_list(request: HttpRequest) -> HttpResponse:
    form, spec = _filter_from(request.GET)
    sort_form = SortForm(request.GET)
    sort = (
        sort_form.cleaned_data["sort"]
        if sort_form.is_valid() and sort_form.cleaned_data["sort"]
        else "newest"
    )
    matching = subscribers_matching(spec)
    try:
        page, total = selectors.list_page(matching, sort=sort, cursor=request.GET.get("cursor", ""))
    except selectors.BadCursor:
        messages.warning(request, _("That page link was not valid; here is the first page."))
        page, total = selectors.list_page(matching, sort=sort)
    query = _filter_query(request.GET)
    next_query = QueryDict(mutable=True)
    next_query.update(request.GET)
    if page.next_cursor:
        next_query["cursor"] = page.next_cursor
    return render(
        request,
        "audience/list.html",
        {
            "form": form,
            "sort_form": sort_form,
            "page": page,
            "total": total,
            "total_label": total.label,
            "query": query,
            "next_query": next_query.urlencode(),
            "is_first_page": not request.GET.get("cursor"),
            "bulk_form": BulkActionForm(),
            "filtered": not spec.is_empty,
            "chart": charts.audience_chart(),
        },
    )


@audience_required
@require_GET
def count_json(request: HttpRequest) -> JsonResponse:
    """The live count of the segment editor (and of the list's filter)."""
    _form, spec = _filter_from(request.GET)
    total = selectors.count(subscribers_matching(spec))
    return JsonResponse({"count": total.value, "exact": total.exact, "label": total.label})


@audience_required
@require_POST
def bulk_action(request: HttpRequest) -> HttpResponse:
    form = BulkActionForm(request.POST)
    back = f"{redirect('audience:list').url}?{_filter_query(request.POST)}"
    if not form.is_valid():
        for errors in form.errors.values():
            for error in errors:
                messages.error(request, error)
        return redirect(back)
    _filter_form, spec = _filter_from(request.POST)
    chosen = subscribers_matching(spec)
    if form.cleaned_data["scope"] == "selected":
        chosen = chosen.filter(pk__in=form.cleaned_data["selected"])
    action = form.cleaned_data["action"]
    if action == BulkActionForm.EXPORT:
        return exports.csv_response(chosen, filename="subscribers.csv")
    if action == BulkActionForm.ERASE:
        result = services.erase_subscribers(subscribers=chosen, user=request.user)
        messages.success(request, _("%(count)s subscribers erased.") % {"count": result.changed})
        return redirect(back)
    topic = form.cleaned_data["target_topic"]
    if action == BulkActionForm.ADD:
        result = services.add_to_topic(subscribers=chosen, topic=topic, user=request.user)
        messages.success(
            request,
            _(
                "%(count)s subscribers added to “%(topic)s”; "
                "%(skipped)s skipped (not confirmed or suppressed)."
            )
            % {"count": result.changed, "topic": topic.name, "skipped": result.skipped},
        )
    else:
        result = services.remove_from_topic(subscribers=chosen, topic=topic, user=request.user)
        messages.success(
            request,
            _("%(count)s subscribers removed from “%(topic)s”.")
            % {"count": result.changed, "topic": topic.name},
        )
    return redirect(back)


@audience_required
@require_GET
def export_csv(request: HttpRequest) -> HttpResponse:
    _form, spec = _filter_from(request.GET)
    return exports.csv_response(subscribers_matching(spec), filename="subscribers.csv")


# A subscriber's page.


@audience_required
def subscriber_detail(request: HttpRequest, pk: int) -> HttpResponse:
    subscriber = get_object_or_404(Subscriber, pk=pk)
    form = SubscriberForm(request.POST or None, subscriber=subscriber)
    if request.method == "POST" and form.is_valid():
        change = services.update_subscriber(
            subscriber=subscriber,
            user=request.user,
            name=form.cleaned_data["name"],
            language=form.cleaned_data["language"],
            attributes=form.cleaned_data["attribute_values"],
        )
        messages.success(request, _("Saved.") if change else _("Nothing changed."))
        return redirect("audience:subscriber", pk)
    can_read_inbox = request.user.has_perm("replies.view_conversation")
    return render(
        request,
        "audience/subscriber.html",
        {
            "subscriber": subscriber,
            "form": form,
            "subscriptions": subscriber.subscriptions.select_related("topic").order_by("topic__name"),
            "consent_history": subscriber.consent_events.order_by("created_at", "id"),
            "deliveries": selectors.deliveries(subscriber),
            "conversations": selectors.conversations(subscriber),
            "can_read_inbox": can_read_inbox,
            "suppression": selectors.suppression(subscriber),
            "bounces": subscriber_selectors.subscriber_bounces(subscriber),
            "bounce_score": subscriber_services.bounce_score(subscriber=subscriber),
            "bounce_threshold": settings.BOUNCE_SCORE_THRESHOLD,
            "attributes": selectors.attribute_values(subscriber),
            "changes": selectors.changes(subscriber),
        },
    )


# Topics.


@audience_required
@require_GET
def topic_list(request: HttpRequest) -> HttpResponse:
    return render(
        request,
        "audience/topics.html",
        {"topics": selectors.topics_with_counts(), "archived": selectors.topics_with_counts(archived=True)},
    )


@audience_required
def topic_edit(request: HttpRequest, pk: int | None = None) -> HttpResponse:
    topic = get_object_or_404(Topic, pk=pk) if pk else None
    form = TopicForm(request.POST or None, instance=topic)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        saved = services.save_topic(
            topic=topic,
            name=data["name"],
            slug=data.get("slug") or "",
            description=data["description"],
            is_public=data["is_public"],
            owner=data["owner"],
            translations=form.translations(),
        )
        messages.success(request, _("Topic saved."))
        return redirect("audience:topic", saved.pk)
    return render(request, "audience/topic_edit.html", {"form": form, "topic": topic})


@audience_required
@require_GET
def topic_detail(request: HttpRequest, pk: int) -> HttpResponse:
    topic = get_object_or_404(Topic.objects.select_related("owner"), pk=pk)
    counts = selectors.topic_counts(topic)
    return render(
        request,
        "audience/topic.html",
        {"topic": topic, "counts": counts, "chart": charts.audience_chart(topic)},
    )


@audience_required
@require_POST
def topic_archive(request: HttpRequest, pk: int) -> HttpResponse:
    topic = get_object_or_404(Topic, pk=pk)
    if request.POST.get("restore"):
        services.restore_topic(topic=topic)
        messages.success(request, _("Topic restored."))
    else:
        services.archive_topic(topic=topic)
        messages.success(request, _("Topic archived: no longer offered, its subscribers and history stay."))
    return redirect("audience:topic", pk)


# Attributes.


@audience_required
def attribute_list(request: HttpRequest) -> HttpResponse:
    return render(request, "audience/attributes.html", {"attributes": Attribute.objects.all()})


@audience_required
def attribute_edit(request: HttpRequest, pk: int | None = None) -> HttpResponse:
    attribute = get_object_or_404(Attribute, pk=pk) if pk else None
    form = AttributeForm(request.POST or None, instance=attribute)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        services.save_attribute(
            attribute=attribute,
            key=data.get("key") or (attribute.key if attribute else ""),
            label_en=data["label_en"],
            label_de=data["label_de"],
            kind=data.get("kind") or (attribute.kind if attribute else ""),
            choices=data["choices"],
            is_public=data["is_public"],
        )
        messages.success(request, _("Field saved."))
        return redirect("audience:attributes")
    return render(request, "audience/attribute_edit.html", {"form": form, "attribute": attribute})


@audience_required
@require_POST
def attribute_delete(request: HttpRequest, pk: int) -> HttpResponse:
    attribute = get_object_or_404(Attribute, pk=pk)
    if request.POST.get("confirmation", "").strip() != attribute.key:
        messages.error(request, _("Type the field's key to delete it with every stored value."))
        return redirect("audience:attribute_edit", pk)
    removed = services.delete_attribute(attribute=attribute)
    messages.success(request, _("Field deleted with %(count)s stored values.") % {"count": removed})
    return redirect("audience:attributes")


# Segments.


@audience_required
@require_GET
def segment_list(request: HttpRequest) -> HttpResponse:
    return render(request, "audience/segments.html", {"segments": selectors.segments()})


@audience_required
def segment_edit(request: HttpRequest, pk: int | None = None) -> HttpResponse:
    segment = get_object_or_404(Segment, pk=pk) if pk else None
    if request.method == "POST":
        name_form = SegmentNameForm(request.POST)
        form, spec = _filter_from(request.POST)
        if name_form.is_valid() and form.is_valid():
            saved = services.save_segment(
                segment=segment,
                name=name_form.cleaned_data["name"],
                definition=spec.as_json(),
                user=request.user,
            )
            messages.success(request, _("Segment saved."))
            return redirect("audience:segment", saved.pk)
    else:
        if segment is not None:
            initial = filter_initial(AudienceFilter.from_json(segment.definition))
            name_form = SegmentNameForm(initial={"name": segment.name})
        else:
            initial = request.GET.dict()  # "save this filter as a segment" from the list
            name_form = SegmentNameForm()
        form = FilterForm(initial=initial) if segment is not None or not initial else FilterForm(initial)
        spec = AudienceFilter.from_json(segment.definition) if segment else _filter_from(request.GET)[1]
    total = selectors.count(subscribers_matching(spec))
    return render(
        request,
        "audience/segment_edit.html",
        {"segment": segment, "form": form, "name_form": name_form, "total_label": total.label},
    )


@audience_required
@require_GET
def segment_detail(request: HttpRequest, pk: int) -> HttpResponse:
    segment = get_object_or_404(Segment, pk=pk)
    spec = AudienceFilter.from_json(segment.definition)
    matching = subscribers_matching(spec)
    total = selectors.count(matching)
    page = selectors.subscriber_page(matching, sort="newest", limit=20)
    return render(
        request,
        "audience/segment.html",
        {
            "segment": segment,
            "total_label": total.label,
            "page": page,
            "campaigns": segment.campaigns.order_by("-created_at"),
        },
    )


@audience_required
@require_GET
def segment_export(request: HttpRequest, pk: int) -> HttpResponse:
    segment = get_object_or_404(Segment, pk=pk)
    matching = subscribers_matching(AudienceFilter.from_json(segment.definition))
    return exports.csv_response(matching, filename=f"segment-{segment.pk}.csv")


@audience_required
@require_POST
def segment_delete(request: HttpRequest, pk: int) -> HttpResponse:
    segment = get_object_or_404(Segment, pk=pk)
    try:
        services.delete_segment(segment=segment)
    except services.SegmentInUse:
        messages.error(request, _("A campaign is narrowed by this segment; it cannot be deleted."))
        return redirect("audience:segment", pk)
    messages.success(request, _("Segment deleted."))
    return redirect("audience:segments")


# CSV import.


@audience_required
def import_upload(request: HttpRequest) -> HttpResponse:
    form = ImportUploadForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        upload = form.cleaned_data["file"]
        try:
            job = imports.start_draft(
                data=upload.read(),
                filename=upload.name,
                topic=form.cleaned_data["topic"],
                source=form.cleaned_data["source"].strip(),
                user=request.user,
            )
        except imports.UnreadableFile as exc:
            form.add_error("file", exc.message)
        else:
            return redirect("audience:import", job.pk)
    recent = ImportJob.objects.select_related("topic", "created_by")[:10]
    return render(request, "audience/import_upload.html", {"form": form, "recent": recent})


@audience_required
def import_detail(request: HttpRequest, pk: int) -> HttpResponse:
    """Map the columns, preview, dry run, start; once started, the progress and the report."""
    job = get_object_or_404(ImportJob.objects.select_related("topic"), pk=pk)
    if job.status != ImportJob.Status.DRAFT:
        return render(
            request,
            "audience/import_progress.html",
            {"job": job, "done": imports.progress(job), "errors": imports.report_errors(job)},
        )
    form = ImportMappingForm(request.POST or None, columns=job.columns, mapping=job.mapping)
    result = None
    if request.method == "POST" and form.is_valid():
        job = imports.save_mapping(job=job, mapping=form.mapping())
        if request.POST.get("action") == "start":
            with suppress(imports.NotStartable):  # started meanwhile (another tab): its progress is shown
                imports.launch(job=job)
            return redirect("audience:import", pk)
        result = imports.check(job)
    header, rows = imports.preview(job.data, job.mapping)
    return render(
        request,
        "audience/import_map.html",
        {"job": job, "form": form, "preview_header": header, "preview_rows": rows, "result": result},
    )


@audience_required
@require_GET
def import_progress(request: HttpRequest, pk: int) -> JsonResponse:
    job = get_object_or_404(ImportJob, pk=pk)
    done = imports.progress(job)
    percent = (
        100 if job.status == ImportJob.Status.DONE else (round(100 * done / job.total) if job.total else 0)
    )
    return JsonResponse(
        {
            "status": job.status,
            "status_label": job.get_status_display(),
            "done": done,
            "total": job.total,
            "percent": percent,
            "finished": job.status in (ImportJob.Status.DONE, ImportJob.Status.FAILED),
        }
    )
