"""Staff answers: queued under the author's name, sent by a task, retried, failed, sent again."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta
from email.utils import formataddr, parseaddr

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.core.mail import EmailMessage
from django.db import transaction
from django.db.models import F, Q
from django.utils import formats, timezone, translation
from django.utils.translation import gettext as _

from dialogue.links import answer_links_text
from replies.models import Attachment, Conversation, ConversationEvent, Message
from replies.reasons import as_json, reason
from replies.selectors import can_see_all, new_conversation_refusal, staff_display_name
from rundbrief.effects import Enqueue, after_commit
from rundbrief.events import emit
from rundbrief.mail.addresses import REPLY, new_token, set_return_path
from rundbrief.mail.headers import new_message_id, sender_address
from rundbrief.mail.refusals import SendError, TransientSendError, may_retry, retry_delay
from rundbrief.mail.subjects import reply_subject
from rundbrief.mail.transports.esp import send_message

logger = logging.getLogger(__name__)

SEND_TASK = "replies.tasks.send_staff_answer_task"


class ReplyNotPossible(ValueError):
    """The conversation has nobody to answer to (e.g. the subscriber was erased)."""


def _last_inbound(conversation: Conversation) -> Message | None:
    return (
        conversation.messages.filter(direction=Message.Direction.INBOUND)
        .order_by("-created_at", "-id")
        .first()
    )


def subscriber_language(conversation: Conversation) -> str:
    """The language the subscriber reads (their preference; the site's default for unknown senders)."""
    if conversation.subscriber_id and conversation.subscriber.language:
        return conversation.subscriber.language
    return settings.LANGUAGE_CODE


def recipient_name(conversation: Conversation, last: Message | None) -> str:
    """How we address them: the subscriber's name, else the name their mail client sent."""
    if conversation.subscriber_id and conversation.subscriber.name:
        return conversation.subscriber.name
    return parseaddr(last.from_address)[0] if last is not None else ""


def quote_line(message: Message, *, name: str, language: str) -> str:
    """'On <date>, <name> wrote:' in the subscriber's language, with the date in its format."""
    with translation.override(language):
        when = formats.date_format(timezone.localtime(message.created_at), "DATETIME_FORMAT")
        return _("On %(date)s, %(name)s wrote:") % {
            "date": when,
            "name": name or parseaddr(message.from_address)[1] or message.from_address,
        }


def _quote(message: Message, *, name: str, language: str) -> str:
    text = message.stripped_text or message.text
    quoted = "\n".join(f"> {line}" if line else ">" for line in text.splitlines())
    return f"{quote_line(message, name=name, language=language)}\n{quoted}"


# Sending our answers: stored at once ("queued"), sent by replies.tasks.send_staff_answer_task.
# Temporary failures are tried again with the backoff every mail we send has
# (rundbrief.mail.refusals.retry_delay: SEND_RETRY_BASE_SECONDS, doubling, at most
# SEND_RETRY_MAX_SECONDS); after SEND_MAX_ATTEMPTS tries (or at once for a permanent refusal)
# the answer is "failed" and staff can send it again.
# Queued or sending this long after it was due: its task or worker was lost, the sweeper
# (requeue_stuck_staff_answers) enqueues it again. Well above any SMTP/ESP timeout.
STAFF_ANSWER_STUCK_AFTER = timedelta(minutes=10)


def undo_window() -> timedelta:
    """How long a queued answer waits before it goes out, so its author can take it back."""
    return timedelta(seconds=settings.ANSWER_UNDO_SECONDS)


def queue_staff_answer(
    *,
    conversation: Conversation,
    author: AbstractBaseUser,
    text: str,
    cc: list[str] | None = None,
    attachments: list | None = None,
) -> Message:
    """Store an answer under the staff member's name, threaded to the subscriber's last mail.

    The answer is recorded at once as "queued" (with its Message-ID, In-Reply-To and
    References, a fresh reply token, the author's name and signature, its CC addresses and
    attached files) and the conversation counts as answered; a task sends it after the commit
    and after the undo window (ANSWER_UNDO_SECONDS; see send_staff_answer and take_back).
    """
    recipient = conversation.subscriber.email if conversation.subscriber_id else conversation.contact_address
    if not recipient:
        raise ReplyNotPossible(_("This conversation has no address to answer to."))
    text = text.strip()
    if not text:
        raise ValueError(_("The answer is empty."))
    last = _last_inbound(conversation)
    message_id = new_message_id()
    in_reply_to = references = ""
    if last is not None and last.message_id:
        references = " ".join(filter(None, [last.references, last.message_id]))
        in_reply_to = last.message_id
    signature = ""
    try:
        signature = author.staff_profile.signature.strip()
    except Exception:  # noqa: BLE001 - no profile: no signature
        signature = ""
    body = text + (f"\n\n-- \n{signature}" if signature else "")
    name = recipient_name(conversation, last)
    body += answer_links_text(conversation)  # continue in the browser, ask for a call back (dialogue)
    if last is not None:
        body += "\n\n" + _quote(last, name=name, language=subscriber_language(conversation))
    now = timezone.now()
    send_after = now + undo_window() if settings.ANSWER_UNDO_SECONDS else None
    with transaction.atomic():
        answer = Message.objects.create(
            conversation=conversation,
            direction=Message.Direction.OUTBOUND,
            author=author,
            from_address=formataddr((staff_display_name(author), sender_address())),
            to_address=recipient,
            # The first mail of a conversation we start carries its subject as it is.
            subject=reply_subject(last.subject.strip() or _("Your message"))
            if last is not None
            else (conversation.subject.strip() or _("Your message")),
            text=body,
            stripped_text=text,
            message_id=message_id,
            in_reply_to=in_reply_to,
            references=references,
            reply_token=new_token(),
            send_status=Message.SendStatus.QUEUED,
            send_status_at=now,
            send_after=send_after,
            cc="\n".join(cc or []),
        )
        for upload in attachments or []:
            attachment = Attachment(
                message=answer,
                filename=upload.name[:255],
                content_type=(getattr(upload, "content_type", "") or "application/octet-stream")[:255],
                size=upload.size,
            )
            attachment.file.save(upload.name, upload, save=False)
            attachment.save()
        Conversation.objects.filter(pk=conversation.pk).update(waiting_since=None, last_message_at=now)
        _enqueue_send(answer.pk, countdown=settings.ANSWER_UNDO_SECONDS or None)
    conversation.refresh_from_db()
    return answer


def start_conversation(
    *,
    subscriber: object,
    author: AbstractBaseUser,
    subject: str,
    text: str,
    cc: list[str] | None = None,
    attachments: list | None = None,
) -> Conversation:
    """Write to a subscriber first, from their page: a new conversation, routed to its author,
    and its first mail sent as any staff answer is (the author's name and signature, a fresh
    reply token as Reply-To, the VERP return path; queued, then sent by the task).

    Only with their consent (selectors.new_conversation_refusal): otherwise ReplyNotPossible,
    with the reason, and nothing is stored. Their answer threads back by the reply token and
    stays with the author (an open conversation keeps its assignee).
    """
    refusal = new_conversation_refusal(subscriber)
    if refusal:
        raise ReplyNotPossible(refusal)
    subject = " ".join(subject.split())[:998]
    if not subject:
        raise ValueError(_("The subject is empty."))
    if not text.strip():
        raise ValueError(_("The answer is empty."))
    reasons = [reason("started_by_staff", name=staff_display_name(author))]
    with transaction.atomic():
        conversation = Conversation.objects.create(
            subscriber=subscriber,
            subject=subject,
            assignee=author,
            routing_rule="started_by_staff",
            routing_reasons=as_json(reasons),
            last_message_at=timezone.now(),
        )
        ConversationEvent.objects.create(
            conversation=conversation,
            kind=ConversationEvent.Kind.STARTED,
            actor=author,
            assignee=author,
            reasons=as_json(reasons),
        )
        queue_staff_answer(
            conversation=conversation, author=author, text=text, cc=cc, attachments=attachments
        )
    return conversation


def _enqueue_send(message_id: int, countdown: float | None = None) -> None:
    """Queue the sending task after the commit; if the broker is down the sweeper does it later."""
    after_commit(Enqueue(SEND_TASK, (message_id,), countdown=countdown, best_effort=True))


def take_back(*, answer: Message, actor: AbstractBaseUser) -> str | None:
    """Undo: the author takes a queued answer back within the undo window. It is deleted (a
    conditional DELETE: the sending task cannot have claimed it), the conversation waits again,
    and the act is recorded; returns the answer's text for the composer, or None if too late."""
    if answer.author_id != actor.pk:
        return None
    files = [attachment.file for attachment in answer.attachments.all()]
    with transaction.atomic():
        deleted, _rows = Message.objects.filter(
            pk=answer.pk, send_status=Message.SendStatus.QUEUED, send_after__gt=timezone.now()
        ).delete()
        if not deleted:
            return None
        for file in files:
            file.delete(save=False)
        ConversationEvent.objects.create(
            conversation_id=answer.conversation_id, kind=ConversationEvent.Kind.UNDONE, actor=actor
        )
        _waiting_again(answer)
    return answer.stripped_text


def staff_answer_email(answer: Message) -> EmailMessage:
    """The mail of a stored answer, exactly as the subscriber gets it."""
    headers = {"Message-ID": answer.message_id}
    if answer.in_reply_to:
        headers["In-Reply-To"] = answer.in_reply_to
        headers["References"] = answer.references
    # Addressed by name in the header; the envelope recipient stays the bare address.
    name = recipient_name(answer.conversation, _last_inbound(answer.conversation))
    if name:
        headers["To"] = formataddr((name, answer.to_address))
    mail = EmailMessage(
        subject=answer.subject,
        body=answer.text,
        from_email=answer.from_address,
        to=[answer.to_address],
        cc=[address for address in answer.cc.splitlines() if address.strip()],
        reply_to=[REPLY.address(answer.reply_token)],
        headers=headers,
    )
    for attachment in answer.attachments.all():
        with attachment.file.open("rb") as handle:
            mail.attach(attachment.filename, handle.read(), attachment.content_type or None)
    set_return_path(mail, answer.reply_token)  # a bounce of the answer names the answer
    return mail


@dataclass(frozen=True)
class SendOutcome:
    status: str
    retry_in: float | None = None  # seconds until the next try, after a temporary failure


def send_staff_answer(*, message_id: int) -> SendOutcome:
    """Send one stored answer, at most once as far as we can tell.

    The row is claimed by a conditional UPDATE (queued -> sending, attempts + 1), committed
    before the mail goes out: a redelivered or duplicate task finds it sending or sent and
    leaves it alone. After the send it is marked sent. A temporary failure puts it back to
    queued with the time of the next try (the task enqueues that), a permanent one, or the
    last temporary one, marks it failed with the reason.
    """
    now = timezone.now()
    claimed = (
        Message.objects.filter(
            pk=message_id, direction=Message.Direction.OUTBOUND, send_status=Message.SendStatus.QUEUED
        )
        .filter(Q(send_after__isnull=True) | Q(send_after__lte=now))
        .update(
            send_status=Message.SendStatus.SENDING, send_status_at=now, send_attempts=F("send_attempts") + 1
        )
    )
    answer = Message.objects.filter(pk=message_id).first()
    if answer is None:
        return SendOutcome("")  # taken back (undo) or erased
    if not claimed:
        if answer.send_status == Message.SendStatus.QUEUED and answer.send_after and answer.send_after > now:
            # Still in its undo window (a task that ran early): try again when it ends.
            return SendOutcome(answer.send_status, retry_in=(answer.send_after - now).total_seconds())
        return SendOutcome(answer.send_status)
    try:
        send_message(staff_answer_email(answer))
    except SendError as exc:  # every failure is recorded on the answer, with its reason
        return _send_failed(answer, exc)
    # Whatever the sweeper did meanwhile (it thought this worker dead): the mail has left.
    Message.objects.filter(pk=answer.pk).update(
        send_status=Message.SendStatus.SENT,
        sent_at=timezone.now(),
        send_status_at=timezone.now(),
        send_error="",
    )
    emit("conversation.answered", conversation_id=answer.conversation_id, message_id=answer.pk)
    return SendOutcome(Message.SendStatus.SENT)


def _send_failed(answer: Message, error: SendError) -> SendOutcome:
    reason = error.reason
    temporary = isinstance(error, TransientSendError)
    sending = Message.objects.filter(pk=answer.pk, send_status=Message.SendStatus.SENDING)
    if temporary and may_retry(answer.send_attempts):
        delay = retry_delay(answer.send_attempts)
        logger.warning("answer #%s: temporary failure, retry in %ss: %s", answer.pk, delay, reason)
        sending.update(
            send_status=Message.SendStatus.QUEUED,
            send_status_at=timezone.now() + timedelta(seconds=delay),
            send_error=reason,
        )
        return SendOutcome(Message.SendStatus.QUEUED, retry_in=delay)
    if temporary:
        reason = f"{reason} (gave up after {answer.send_attempts} attempts)"
    logger.warning("answer #%s could not be sent: %s", answer.pk, reason)
    with transaction.atomic():
        if sending.update(
            send_status=Message.SendStatus.FAILED, send_status_at=timezone.now(), send_error=reason
        ):
            _waiting_again(answer)
    return SendOutcome(Message.SendStatus.FAILED)


def _waiting_again(answer: Message) -> None:
    """A failed answer did not answer: the conversation waits again (from the subscriber's mail)."""
    last = _last_inbound(answer.conversation)
    if last is not None:
        Conversation.objects.filter(pk=answer.conversation_id, waiting_since__isnull=True).update(
            waiting_since=last.created_at
        )


def can_resend(user: AbstractBaseUser, answer: Message) -> bool:
    """The author of a failed answer, or a manager, may send it again."""
    return answer.send_status == Message.SendStatus.FAILED and (
        answer.author_id == user.pk or can_see_all(user)
    )


def resend_staff_answer(*, answer: Message, actor: AbstractBaseUser) -> bool:
    """Queue a failed answer again (same Message-ID and reply token); False if it was not failed."""
    if not can_resend(actor, answer):
        return False
    now = timezone.now()
    with transaction.atomic():
        updated = Message.objects.filter(pk=answer.pk, send_status=Message.SendStatus.FAILED).update(
            send_status=Message.SendStatus.QUEUED, send_status_at=now, send_attempts=0, send_error=""
        )
        if updated:
            Conversation.objects.filter(pk=answer.conversation_id).update(waiting_since=None)
            _enqueue_send(answer.pk)
    answer.refresh_from_db()
    return bool(updated)


def requeue_stuck_staff_answers(*, older_than: timedelta | None = None) -> int:
    """The sweeper: answers queued or sending long after they were due lost their task or
    worker. Sending ones go back to queued (the mail may or may not have left: we retry,
    since an answer that never arrives is worse), up to SEND_MAX_ATTEMPTS claims, then
    failed; every stuck queued answer is enqueued again. Returns how many were enqueued."""
    cutoff = timezone.now() - (older_than if older_than is not None else STAFF_ANSWER_STUCK_AFTER)
    stuck_sending = Message.objects.filter(
        direction=Message.Direction.OUTBOUND,
        send_status=Message.SendStatus.SENDING,
        send_status_at__lt=cutoff,
    )
    for answer in stuck_sending.filter(send_attempts__gte=settings.SEND_MAX_ATTEMPTS).select_related(
        "conversation"
    ):
        reason = (
            f"Sending was started {answer.send_attempts} times without finishing (the worker probably died)."
        )
        with transaction.atomic():
            if Message.objects.filter(pk=answer.pk, send_status=Message.SendStatus.SENDING).update(
                send_status=Message.SendStatus.FAILED, send_status_at=timezone.now(), send_error=reason
            ):
                _waiting_again(answer)
    stuck_sending.update(send_status=Message.SendStatus.QUEUED)
    ids = list(
        Message.objects.filter(
            direction=Message.Direction.OUTBOUND,
            send_status=Message.SendStatus.QUEUED,
            send_status_at__lt=cutoff,
        ).values_list("pk", flat=True)
    )
    for pk in ids:
        _enqueue_send(pk)
    return len(ids)
