"""Staff answers: queued under the author's name, sent by a task, retried, failed, sent again."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta
from email.utils import formataddr

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.core.mail import EmailMessage
from django.db import transaction
from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext as _

from replies.models import Conversation, Message
from replies.selectors import can_see_all, staff_display_name
from rundbrief.effects import Enqueue, after_commit
from rundbrief.events import emit
from rundbrief.mail.addresses import REPLY, new_token
from rundbrief.mail.headers import new_message_id, sender_address
from rundbrief.mail.refusals import SendError, TransientSendError, may_retry, retry_delay
from rundbrief.mail.subjects import reply_subject
from rundbrief.mail.transports.esp import send_message

logger = logging.getLogger(__name__)

SEND_TASK = "replies.tasks.send_staff_answer_task"


class ReplyNotPossible(Exception):
    """The conversation has nobody to answer to (e.g. the subscriber was erased)."""


def _last_inbound(conversation: Conversation) -> Message | None:
    return (
        conversation.messages.filter(direction=Message.Direction.INBOUND)
        .order_by("-created_at", "-id")
        .first()
    )


def _quote(message: Message) -> str:
    text = message.stripped_text or message.text
    quoted = "\n".join(f"> {line}" if line else ">" for line in text.splitlines())
    return f"{message.from_address}:\n{quoted}"


# Sending our answers: stored at once ("queued"), sent by replies.tasks.send_staff_answer_task.
# Temporary failures are tried again with the backoff every mail we send has
# (rundbrief.mail.refusals.retry_delay: SEND_RETRY_BASE_SECONDS, doubling, at most
# SEND_RETRY_MAX_SECONDS); after SEND_MAX_ATTEMPTS tries (or at once for a permanent refusal)
# the answer is "failed" and staff can send it again.
# Queued or sending this long after it was due: its task or worker was lost, the sweeper
# (requeue_stuck_staff_answers) enqueues it again. Well above any SMTP/ESP timeout.
STAFF_ANSWER_STUCK_AFTER = timedelta(minutes=10)


def queue_staff_answer(*, conversation: Conversation, author: AbstractBaseUser, text: str) -> Message:
    """Store an answer under the staff member's name, threaded to the subscriber's last mail.

    The answer is recorded at once as "queued" (with its Message-ID, In-Reply-To and
    References, a fresh reply token, the author's name and signature) and the conversation
    counts as answered; a task sends it after the commit (see send_staff_answer).
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
    if last is not None:
        body += "\n\n" + _quote(last)
    now = timezone.now()
    with transaction.atomic():
        answer = Message.objects.create(
            conversation=conversation,
            direction=Message.Direction.OUTBOUND,
            author=author,
            from_address=formataddr((staff_display_name(author), sender_address())),
            to_address=recipient,
            subject=reply_subject(
                (last.subject if last else conversation.subject).strip() or _("Your message")
            ),
            text=body,
            stripped_text=text,
            message_id=message_id,
            in_reply_to=in_reply_to,
            references=references,
            reply_token=new_token(),
            send_status=Message.SendStatus.QUEUED,
            send_status_at=now,
        )
        Conversation.objects.filter(pk=conversation.pk).update(waiting_since=None, last_message_at=now)
        _enqueue_send(answer.pk)
    conversation.refresh_from_db()
    return answer


def _enqueue_send(message_id: int) -> None:
    """Queue the sending task after the commit; if the broker is down the sweeper does it later."""
    after_commit(Enqueue(SEND_TASK, (message_id,), best_effort=True))


def staff_answer_email(answer: Message) -> EmailMessage:
    """The mail of a stored answer, exactly as the subscriber gets it."""
    headers = {"Message-ID": answer.message_id}
    if answer.in_reply_to:
        headers["In-Reply-To"] = answer.in_reply_to
        headers["References"] = answer.references
    return EmailMessage(
        subject=answer.subject,
        body=answer.text,
        from_email=answer.from_address,
        to=[answer.to_address],
        reply_to=[REPLY.address(answer.reply_token)],
        headers=headers,
    )


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
    claimed = Message.objects.filter(
        pk=message_id, direction=Message.Direction.OUTBOUND, send_status=Message.SendStatus.QUEUED
    ).update(send_status=Message.SendStatus.SENDING, send_status_at=now, send_attempts=F("send_attempts") + 1)
    answer = Message.objects.filter(pk=message_id).first()
    if answer is None:
        return SendOutcome("")
    if not claimed:
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
