"""Conversations and their messages: read, answer (under a staff member's name), assign, close, reopen.

Actions are done in the name of the manager who made the key (the conversation's history
says so); an answer goes out under `author_id`'s name, by default the conversation's assignee,
else that manager. The replies services do the work, as in the staff inbox.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from django.http import HttpRequest
from django.utils.translation import gettext as _
from ninja import Field, Router, Schema, Status

from api import selectors
from api.models import Scope
from api.v1.common import NOT_FOUND, Error, Key, bad_request, conflict, not_found, page, responses
from replies import services
from replies.models import Conversation, Message
from replies.selectors import assignable_staff, staff_display_name

router = Router(tags=["inbox"])
READ = Key(Scope.INBOX_READ)
WRITE = Key(Scope.INBOX_WRITE)
ConversationStatus = Literal["open", "snoozed", "closed"]


class ConversationOut(Schema):
    id: int
    subject: str
    status: ConversationStatus
    subscriber_id: int | None
    campaign_id: int | None
    contact_address: str
    assignee_id: int | None
    assignee_name: str | None
    waiting_since: datetime | None
    last_message_at: datetime | None
    created_at: datetime


class ConversationPage(Schema):
    items: list[ConversationOut]
    next_after: int | None


class MessageOut(Schema):
    id: int
    direction: Literal["in", "out"]
    kind: str
    from_address: str
    to_address: str
    subject: str
    text: str
    stripped_text: str
    author_id: int | None
    send_status: str
    created_at: datetime
    sent_at: datetime | None


class ConversationDetail(ConversationOut):
    messages: list[MessageOut]


class AnswerIn(Schema):
    text: str = Field(min_length=1, max_length=100_000)
    author_id: int | None = Field(None, description="Staff member the answer goes out under.")


class AssignIn(Schema):
    assignee_id: int | None = Field(description="A member of Staff or Managers; null: unassigned.")
    note: str = Field("", max_length=10_000)


def conversation_out(conversation: Conversation) -> dict:
    return {
        "id": conversation.pk,
        "subject": conversation.subject,
        "status": conversation.status,
        "subscriber_id": conversation.subscriber_id,
        "campaign_id": conversation.campaign_id,
        "contact_address": conversation.contact_address,
        "assignee_id": conversation.assignee_id,
        "assignee_name": staff_display_name(conversation.assignee) if conversation.assignee_id else None,
        "waiting_since": conversation.waiting_since,
        "last_message_at": conversation.last_message_at,
        "created_at": conversation.created_at,
    }


def message_out(message: Message) -> dict:
    return {
        "id": message.pk,
        "direction": message.direction,
        "kind": message.kind,
        "from_address": message.from_address,
        "to_address": message.to_address,
        "subject": message.subject,
        "text": message.text,
        "stripped_text": message.stripped_text,
        "author_id": message.author_id,
        "send_status": message.send_status,
        "created_at": message.created_at,
        "sent_at": message.sent_at,
    }


def _conversation_or_404(pk: int) -> Conversation:
    conversation = selectors.conversation(pk)
    if conversation is None:
        raise not_found()
    return conversation


def _actor(request: HttpRequest):
    actor = request.api_key.created_by
    if actor is None or not actor.is_active:
        raise conflict(_("The manager who made this API key can no longer log in; make a new key."))
    return actor


def _detail(pk: int) -> dict:
    conversation = _conversation_or_404(pk)
    messages = conversation.messages.order_by("created_at", "id").defer("html")
    return {**conversation_out(conversation), "messages": [message_out(m) for m in messages]}


@router.get(
    "/conversations", response=responses({200: ConversationPage}), auth=READ, summary="List conversations"
)
def list_conversations(
    request: HttpRequest,
    status: ConversationStatus | None = None,
    assignee_id: int | None = None,
    after: int | None = None,
    limit: int = 50,
):
    rows = selectors.conversations(status=status, assignee_id=assignee_id)
    return page(rows, after=after, limit=limit, out=conversation_out)


@router.get(
    "/conversations/{conversation_id}",
    response=responses({200: ConversationDetail}, NOT_FOUND),
    auth=READ,
    summary="One conversation with its messages",
)
def get_conversation(request: HttpRequest, conversation_id: int):
    return _detail(conversation_id)


@router.post(
    "/conversations/{conversation_id}/answer",
    response=responses({202: MessageOut}, NOT_FOUND, {409: Error}),
    auth=WRITE,
    summary="Answer the subscriber (threaded, sent by a worker)",
)
def answer_conversation(request: HttpRequest, conversation_id: int, payload: AnswerIn):
    conversation = _conversation_or_404(conversation_id)
    if payload.author_id is not None:
        author = assignable_staff().filter(pk=payload.author_id).first()
        if author is None:
            raise bad_request("author_id", "unknown_staff", _("No active staff member has this id."))
    elif conversation.assignee_id and conversation.assignee.is_active:
        author = conversation.assignee
    else:
        author = _actor(request)
    try:
        answer = services.queue_staff_answer(conversation=conversation, author=author, text=payload.text)
    except services.ReplyNotPossible as exc:
        raise conflict(str(exc)) from exc
    except ValueError as exc:
        raise bad_request("text", "invalid", str(exc)) from exc
    return Status(202, message_out(answer))


@router.post(
    "/conversations/{conversation_id}/assign",
    response=responses({200: ConversationDetail}, NOT_FOUND, {409: Error}),
    auth=WRITE,
    summary="Give the conversation to a staff member (or nobody)",
)
def assign_conversation(request: HttpRequest, conversation_id: int, payload: AssignIn):
    conversation = _conversation_or_404(conversation_id)
    assignee = None
    if payload.assignee_id is not None:
        assignee = assignable_staff().filter(pk=payload.assignee_id).first()
        if assignee is None:
            raise bad_request("assignee_id", "unknown_staff", _("No active staff member has this id."))
    services.reassign(conversation=conversation, actor=_actor(request), assignee=assignee, note=payload.note)
    return _detail(conversation_id)


@router.post(
    "/conversations/{conversation_id}/close",
    response=responses({200: ConversationDetail}, NOT_FOUND, {409: Error}),
    auth=WRITE,
)
def close_conversation(request: HttpRequest, conversation_id: int):
    services.close(conversation=_conversation_or_404(conversation_id), actor=_actor(request))
    return _detail(conversation_id)


@router.post(
    "/conversations/{conversation_id}/reopen",
    response=responses({200: ConversationDetail}, NOT_FOUND, {409: Error}),
    auth=WRITE,
)
def reopen_conversation(request: HttpRequest, conversation_id: int):
    services.reopen(conversation=_conversation_or_404(conversation_id), actor=_actor(request))
    return _detail(conversation_id)
