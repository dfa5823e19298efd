"""The staff inbox. Views are thin: they check permissions, call selectors and services, render.

Everything needs the `replies.view_conversation` permission (group Staff or Managers):
marketers without it get 403. Which conversations a person sees is decided by
selectors.visible_conversations (own, teams', unassigned; managers: all).
"""

from __future__ import annotations

import hashlib

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required, permission_required
from django.core.exceptions import PermissionDenied
from django.http import FileResponse, Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.template.loader import render_to_string
from django.urls import NoReverseMatch, reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_POST

from campaigns.interface import deliveries_of_subscriber
from replies import pagination, presence, saved_replies, selectors, services
from replies.forms import AssignForm, ComposeForm, NoteForm, ProfileForm, ReplyForm, SearchForm, SnoozeForm
from replies.models import Attachment, Conversation, InboundMessage, Message, StaffProfile
from replies.parsing import html_to_text, parse_mail, sanitise_html
from replies.search import ORDER as SEARCH_ORDER
from replies.search import find as find_conversations
from replies.search import uses_full_text
from replies.selectors import staff_display_name
from subscribers.models import Subscriber
from subscribers.selectors import is_suppressed

QUEUE_LABELS = {
    "mine": gettext_lazy("My queue"),
    "team": gettext_lazy("My teams"),
    "unassigned": gettext_lazy("Unassigned"),
    "unmatched": gettext_lazy("Unmatched"),
    "snoozed": gettext_lazy("Snoozed"),
    "closed": gettext_lazy("Closed"),
    "all": gettext_lazy("All open"),
}


def staff_view(view):
    """Logged in, and staff (or manager): anybody else gets 403, never a conversation."""
    return login_required(permission_required("replies.view_conversation", raise_exception=True)(view))


def staff_action(view):
    return staff_view(
        permission_required("replies.change_conversation", raise_exception=True)(require_POST(view))
    )


def _conversation(request: HttpRequest, pk: int) -> Conversation:
    return get_object_or_404(selectors.visible_conversations(request.user), pk=pk)


def _queue_name(request: HttpRequest) -> str:
    name = request.GET.get("queue", "mine")
    if name not in selectors.QUEUES or (name == "all" and not selectors.can_see_all(request.user)):
        name = "mine"
    return name


def _queue_page(request: HttpRequest, name: str) -> pagination.Page:
    return pagination.page(
        selectors.queue(request.user, name), selectors.queue_order(name), request.GET.get("after", "")
    )


def _nav_context(request: HttpRequest, name: str = "") -> dict:
    counts = selectors.queue_counts(request.user)
    return {
        "queue_name": name,
        "queues": [(key, QUEUE_LABELS[key], counts.get(key)) for key in selectors.QUEUES if key in counts]
        + [("closed", QUEUE_LABELS["closed"], None)],
        "failed_count": selectors.failed_inbound().count(),
        "can_see_inbound": request.user.has_perm("replies.view_inboundmessage"),
        "search_query": request.GET.get("q", "") if request.resolver_match.url_name == "search" else "",
    }


@staff_view
def inbox(request: HttpRequest) -> HttpResponse:
    name = _queue_name(request)
    page = _queue_page(request, name)
    table = _queue_table(request, page, name)
    context = {
        **_nav_context(request, name),
        "queue_label": QUEUE_LABELS[name],
        "page": page,
        "conversations": page.items,
        "queue_table": table.decode(),
        "queue_etag": _etag(table),
        "live_url": reverse("replies:queue_live") + "?" + request.GET.urlencode(),
    }
    return render(request, "replies/inbox.html", context)


def _queue_table(request: HttpRequest, page: pagination.Page, name: str) -> bytes:
    """The queue's table, the same bytes on the page and in its live refresh (so the ETag matches)."""
    return render_to_string(
        "replies/_queue_table.html",
        {"page": page, "conversations": page.items, "queue_name": name},
        request=request,
    ).encode()


def _etag(content: bytes) -> str:
    return '"' + hashlib.sha256(content).hexdigest()[:20] + '"'


@staff_view
def queue_live(request: HttpRequest) -> HttpResponse:
    """The queue's table again (static/js/inbox.js, every 15 s while the tab is visible), or
    304 when nothing in it changed: replies, answers and assignments show without a reload."""
    name = _queue_name(request)
    html = _queue_table(request, _queue_page(request, name), name)
    etag = _etag(html)
    if request.headers.get("If-None-Match") == etag:
        response = HttpResponse(status=304)
    else:
        response = HttpResponse(html)
    response["ETag"] = etag
    response["Cache-Control"] = "no-store"
    return response


@staff_view
def search(request: HttpRequest) -> HttpResponse:
    form = SearchForm(request.GET or None, user=request.user)
    page = None
    if form.is_valid():
        results = find_conversations(request.user, form.cleaned_data["q"], form.filters())
        page = pagination.page(
            results.conversations, SEARCH_ORDER, request.GET.get("after", ""), count=results.exact
        )
    return render(
        request,
        "replies/search.html",
        {
            **_nav_context(request),
            "form": form,
            "page": page,
            "conversations": page.items if page else [],
            "full_text": uses_full_text(),
        },
    )


def _campaign_context(conversation: Conversation) -> dict:
    campaign = conversation.campaign
    if campaign is None:
        return {}
    url = ""
    for name in ("campaigns:detail", "campaigns:edit"):
        try:
            url = reverse(name, args=[campaign.pk])
            break
        except NoReverseMatch:
            continue
    text = campaign.text_body.strip() or html_to_text(campaign.mjml_body)
    return {"campaign": campaign, "campaign_url": url, "campaign_text": text}


def _subscriber_context(conversation: Conversation) -> dict:
    subscriber = conversation.subscriber
    if subscriber is None:
        return {}
    return {
        "subscriber": subscriber,
        "deliveries": deliveries_of_subscriber(subscriber.pk),
        "subscriptions": subscriber.subscriptions.select_related("topic").order_by("topic__name"),
        "consent_events": selectors.consent_lines(subscriber),
        "suppressed": is_suppressed(subscriber.email),
    }


@staff_view
def conversation(request: HttpRequest, pk: int) -> HttpResponse:
    item = _conversation(request, pk)
    return render(request, "replies/conversation.html", _conversation_context(request, item))


def _conversation_context(request: HttpRequest, item: Conversation, **forms: object) -> dict:
    last_inbound = item.messages.filter(direction=Message.Direction.INBOUND).select_related("inbound").last()
    initial_assignee = item.assignee_id
    can_change = request.user.has_perm("replies.change_conversation")
    return {
        **_nav_context(request),
        "conversation": item,
        "thread": selectors.thread(item),
        "rule_hits": last_inbound.inbound.rule_hits if last_inbound and last_inbound.inbound else [],
        "last_inbound": last_inbound,
        "can_change": can_change,
        "is_manager": selectors.can_see_all(request.user),
        "reply_form": forms.get("reply_form") or _reply_form(request, item),
        "saved_replies": saved_replies.usable(request.user)[:8] if can_change else [],
        "thread_version": selectors.thread_version(item),
        "next_conversation": selectors.next_waiting(request.user, item),
        "now": timezone.now(),
        "undo_seconds": settings.ANSWER_UNDO_SECONDS,
        "others_answers": forms.get("others_answers") or [],
        "note_form": forms.get("note_form") or NoteForm(),
        "assign_form": forms.get("assign_form") or AssignForm(initial={"assignee": initial_assignee}),
        "snooze_form": forms.get("snooze_form") or SnoozeForm(),
        "tags": list(item.tags.all()),
        "is_following": selectors.is_following(request.user, item),
        "other_conversations": selectors.other_conversations(request.user, item),
        **_subscriber_context(item),
        **_campaign_context(item),
    }


def _reply_form(request: HttpRequest, item: Conversation) -> ReplyForm:
    """An empty composer, or (?use=<id>) one filled in from a saved reply for this conversation."""
    initial: dict = {"seen_answer": selectors.last_answer_id(item)}
    use = request.GET.get("use", "")
    saved = saved_replies.usable(request.user).filter(pk=use).first() if use.isdigit() else None
    if saved is not None:
        initial.update(
            text=saved_replies.render(saved, conversation=item, staff=request.user), saved_reply=saved.pk
        )
    return ReplyForm(initial=initial)


def _invalid(request: HttpRequest, item: Conversation, **forms: object) -> HttpResponse:
    messages.error(request, _("Please correct the errors below."))
    return render(
        request, "replies/conversation.html", _conversation_context(request, item, **forms), status=400
    )


@staff_action
def reply(request: HttpRequest, pk: int) -> HttpResponse:
    item = _conversation(request, pk)
    form = ReplyForm(request.POST, request.FILES)
    if not form.is_valid():
        return _invalid(request, item, reply_form=form)
    others = selectors.answers_since(
        item, form.cleaned_data["seen_answer"] or 0, exclude_author_id=request.user.pk
    )
    if others and not form.cleaned_data["confirm"]:
        # Somebody answered since this page was loaded: show their answer and ask first.
        form = ReplyForm(
            initial={
                "text": form.cleaned_data["text"],
                "seen_answer": others[-1].pk,
                "confirm": True,
                "saved_reply": form.cleaned_data["saved_reply"],
            }
        )
        messages.warning(
            request,
            _(
                "Someone else answered since you opened this conversation. "
                "Read their answer, then send yours or not."
            ),
        )
        context = _conversation_context(request, item, reply_form=form, others_answers=others)
        return render(request, "replies/conversation.html", context, status=409)
    try:
        answer = services.queue_staff_answer(
            conversation=item,
            author=request.user,
            text=form.cleaned_data["text"],
            cc=form.cleaned_data["cc"],
            attachments=form.cleaned_data["attachments"],
        )
    except services.ReplyNotPossible as exc:
        form.add_error(None, str(exc))
        return _invalid(request, item, reply_form=form)
    saved_id = form.cleaned_data["saved_reply"]
    if saved_id and saved_replies.usable(request.user).filter(pk=saved_id).exists():
        saved_replies.record_use(saved_id)
    # Stored; a task sends it. The thread shows its state (queued, sending, sent, failed).
    if request.POST.get("and_close"):
        services.close(conversation=item, actor=request.user)
        messages.success(request, _("Your answer is being sent, and the conversation is closed."))
    else:
        messages.success(request, _("Your answer is being sent."))
    return redirect(reverse("replies:conversation", args=[item.pk]) + f"#m{answer.pk}")


@staff_view
def compose(request: HttpRequest, subscriber_pk: int) -> HttpResponse:
    """Write to a subscriber first (the "Write to" link on their page): a new conversation, if
    their consent allows it; otherwise the reason, and their conversations, which can be answered."""
    subscriber = get_object_or_404(Subscriber, pk=subscriber_pk)
    refusal = selectors.new_conversation_refusal(subscriber)
    form = ComposeForm(request.POST or None, request.FILES or None)
    if request.method == "POST":
        if not request.user.has_perm("replies.change_conversation"):
            raise PermissionDenied
        if not refusal and form.is_valid():
            try:
                item = services.start_conversation(
                    subscriber=subscriber,
                    author=request.user,
                    subject=form.cleaned_data["subject"],
                    text=form.cleaned_data["text"],
                    cc=form.cleaned_data["cc"],
                    attachments=form.cleaned_data["attachments"],
                )
            except (services.ReplyNotPossible, ValueError) as exc:
                form.add_error(None, str(exc))
            else:
                messages.success(request, _("Your message is being sent. Their answer comes back to you."))
                return redirect("replies:conversation", pk=item.pk)
    status = 200
    if request.method == "POST":
        status = 409 if refusal else 400
    return render(
        request,
        "replies/compose.html",
        {
            **_nav_context(request),
            "subscriber": subscriber,
            "refusal": refusal,
            "form": form,
            "conversations": selectors.visible_conversations(request.user)
            .filter(subscriber=subscriber)
            .order_by("-last_message_at", "-id")[:20],
            "can_change": request.user.has_perm("replies.change_conversation"),
        },
        status=status,
    )


@staff_action
def undo(request: HttpRequest, pk: int) -> HttpResponse:
    """Take a queued answer back within its undo window: its text returns to the composer."""
    answer = _message(request, pk)
    item = answer.conversation
    text = services.take_back(answer=answer, actor=request.user)
    if text is None:
        messages.error(request, _("Too late: the answer has gone out already."))
        return redirect(reverse("replies:conversation", args=[item.pk]) + f"#m{answer.pk}")
    if item.status == Conversation.Status.CLOSED:
        services.reopen(conversation=item, actor=request.user)
    messages.success(request, _("The answer was not sent. Its text is back in the composer."))
    form = ReplyForm(initial={"text": text, "seen_answer": selectors.last_answer_id(item)})
    return render(request, "replies/conversation.html", _conversation_context(request, item, reply_form=form))


@staff_action
def resend(request: HttpRequest, pk: int) -> HttpResponse:
    """Send a failed answer again: its author or a manager."""
    answer = _message(request, pk)
    if answer.direction != Message.Direction.OUTBOUND:
        raise Http404
    if not services.can_resend(request.user, answer):
        if answer.send_status != Message.SendStatus.FAILED:
            messages.info(request, _("This answer has not failed; there is nothing to send again."))
            return redirect(reverse("replies:conversation", args=[answer.conversation_id]) + f"#m{answer.pk}")
        raise PermissionDenied
    services.resend_staff_answer(answer=answer, actor=request.user)
    messages.success(request, _("Your answer is being sent again."))
    return redirect(reverse("replies:conversation", args=[answer.conversation_id]) + f"#m{answer.pk}")


@staff_action
def note(request: HttpRequest, pk: int) -> HttpResponse:
    item = _conversation(request, pk)
    form = NoteForm(request.POST)
    if not form.is_valid():
        return _invalid(request, item, note_form=form)
    services.add_note(conversation=item, author=request.user, text=form.cleaned_data["text"])
    messages.success(request, _("Note added."))
    return redirect("replies:conversation", pk=item.pk)


@staff_action
def assign(request: HttpRequest, pk: int) -> HttpResponse:
    item = _conversation(request, pk)
    form = AssignForm(request.POST)
    if not form.is_valid():
        return _invalid(request, item, assign_form=form)
    services.reassign(
        conversation=item,
        actor=request.user,
        assignee=form.cleaned_data["assignee"],
        note=form.cleaned_data["note"],
    )
    if form.cleaned_data["assignee"] == request.user:
        messages.success(request, _("The conversation is yours now."))
        return redirect("replies:conversation", pk=item.pk)
    # Back to the queue: the conversation may have left what this person sees (a 404 otherwise).
    name = staff_display_name(form.cleaned_data["assignee"]) if form.cleaned_data["assignee"] else None
    if name:
        messages.success(
            request,
            _("“%(subject)s” was assigned to %(name)s.")
            % {"subject": item.subject or f"#{item.pk}", "name": name},
        )
    else:
        messages.success(
            request,
            _("“%(subject)s” is in the shared queue now.") % {"subject": item.subject or f"#{item.pk}"},
        )
    return redirect("replies:inbox")


@staff_action
def change_status(request: HttpRequest, pk: int) -> HttpResponse:
    item = _conversation(request, pk)
    action = request.POST.get("action")
    if action == "close":
        services.close(conversation=item, actor=request.user)
        messages.success(request, _("Conversation closed."))
    elif action == "reopen":
        services.reopen(conversation=item, actor=request.user)
        messages.success(request, _("Conversation reopened."))
    else:
        messages.error(request, _("Unknown action."))
    return redirect("replies:conversation", pk=item.pk)


@staff_action
def snooze(request: HttpRequest, pk: int) -> HttpResponse:
    item = _conversation(request, pk)
    form = SnoozeForm(request.POST)
    if not form.is_valid():
        return _invalid(request, item, snooze_form=form)
    services.snooze(conversation=item, actor=request.user, until=form.cleaned_data["until"])
    messages.success(request, _("Conversation snoozed."))
    return redirect("replies:conversation", pk=item.pk)


@staff_view
@require_POST
def conversation_live(request: HttpRequest, pk: int) -> JsonResponse:
    """The open conversation's heartbeat (static/js/inbox.js, every few seconds while visible):
    records that this person views it (and is typing, or not), answers who else does, and the
    thread again only when it changed since the version the page has."""
    item = _conversation(request, pk)
    presence.touch(
        conversation_id=item.pk,
        user_id=request.user.pk,
        name=staff_display_name(request.user),
        typing=request.POST.get("typing") == "1",
    )
    version = selectors.thread_version(item)
    others = presence.present(item.pk, exclude_user_id=request.user.pk)
    seen = request.POST.get("seen_answer", "")
    data: dict = {
        "version": version,
        "viewing": [person.name for person in others if not person.typing],
        "typing": [person.name for person in others if person.typing],
        # Answers by others since the composer was loaded: the page asks before sending another.
        "answers_since": [
            {
                "id": answer.pk,
                "name": staff_display_name(answer.author) if answer.author else "",
                "text": answer.stripped_text,
            }
            for answer in selectors.answers_since(item, int(seen), exclude_author_id=request.user.pk)
        ]
        if seen.isdigit()
        else [],
    }
    if version != request.POST.get("version"):
        data["html"] = render(
            request,
            "replies/_thread.html",
            {
                "now": timezone.now(),
                "thread": selectors.thread(item),
                "conversation": item,
                "can_change": request.user.has_perm("replies.change_conversation"),
                "is_manager": selectors.can_see_all(request.user),
            },
        ).content.decode()
    return JsonResponse(data)


@staff_view
def profile(request: HttpRequest) -> HttpResponse:
    """The staff member's own profile: name, signature, absence and deputy, notifications."""
    own, _created = StaffProfile.objects.get_or_create(user=request.user)
    form = ProfileForm(request.POST or None, instance=own)
    if request.method == "POST" and form.is_valid():
        form.save()
        messages.success(request, _("Your profile is saved."))
        return redirect("replies:profile")
    return render(
        request,
        "replies/profile.html",
        {**_nav_context(request), "form": form, "away_now": own.is_away_now},
        status=400 if form.errors else 200,
    )


def _message(request: HttpRequest, pk: int) -> Message:
    message = get_object_or_404(Message.objects.select_related("conversation", "inbound"), pk=pk)
    if not selectors.visible_conversations(request.user).filter(pk=message.conversation_id).exists():
        raise Http404
    return message


@staff_view
def message_original(request: HttpRequest, pk: int) -> HttpResponse:
    """The full original: every header, the whole text, the (sanitised) HTML in a sandboxed frame."""
    message = _message(request, pk)
    headers: list[tuple[str, str]] = []
    if message.inbound_id:
        parsed = parse_mail(bytes(message.inbound.raw))
        headers = [(key, str(value)) for key, value in parsed.message.raw_items()]
    return render(
        request,
        "replies/message_original.html",
        {"message": message, "headers": headers, "html": sanitise_html(message.html) if message.html else ""},
    )


@staff_view
def attachment(request: HttpRequest, pk: int) -> FileResponse:
    item = get_object_or_404(Attachment.objects.select_related("message"), pk=pk)
    _message(request, item.message_id)
    # Always a download, never rendered in our origin (an HTML or SVG attachment could carry script).
    return FileResponse(item.file.open("rb"), as_attachment=True, filename=item.filename)


def _inbound(request: HttpRequest, pk: int) -> InboundMessage:
    if not request.user.has_perm("replies.view_inboundmessage"):
        raise PermissionDenied
    inbound = get_object_or_404(InboundMessage, pk=pk)
    thread_message = Message.objects.filter(inbound=inbound).first()
    if (
        thread_message is not None
        and not selectors.visible_conversations(request.user)
        .filter(pk=thread_message.conversation_id)
        .exists()
    ):
        raise Http404
    return inbound


@staff_view
def inbound_list(request: HttpRequest) -> HttpResponse:
    if not request.user.has_perm("replies.view_inboundmessage"):
        raise PermissionDenied
    lists = {
        "failed": selectors.failed_inbound,
        "automatic": selectors.automatic_inbound,
        "refused": selectors.refused_inbound,  # answers by mail to a notification, refused
    }
    show = request.GET.get("show", "") if request.GET.get("show", "") in lists else "failed"
    items = lists[show]()
    page = pagination.page(items, selectors.INBOUND_ORDER, request.GET.get("after", ""))
    return render(
        request,
        "replies/inbound_list.html",
        {**_nav_context(request), "show": show, "items": page.items, "page": page},
    )


@staff_view
def inbound_detail(request: HttpRequest, pk: int) -> HttpResponse:
    inbound = _inbound(request, pk)
    parsed = parse_mail(bytes(inbound.raw), inbound.envelope_to)
    return render(
        request,
        "replies/inbound_detail.html",
        {
            "inbound": inbound,
            "text": parsed.text,
            "headers": [(key, str(value)) for key, value in parsed.message.raw_items()],
            "thread_message": Message.objects.filter(inbound=inbound).first(),
        },
    )


@staff_view
def inbound_raw(request: HttpRequest, pk: int) -> HttpResponse:
    inbound = _inbound(request, pk)
    response = HttpResponse(bytes(inbound.raw), content_type="message/rfc822")
    response["Content-Disposition"] = f'attachment; filename="message-{inbound.pk}.eml"'
    return response


@staff_action
def reprocess(request: HttpRequest, pk: int) -> HttpResponse:
    inbound = _inbound(request, pk)
    services.reprocess_inbound(inbound=inbound)
    inbound.refresh_from_db()
    if inbound.status == InboundMessage.Status.FAILED:
        messages.error(request, _("Processing failed again; the error is shown below."))
    else:
        messages.success(request, _("The message was put back into processing."))
    return redirect("replies:inbound_detail", pk=inbound.pk)
