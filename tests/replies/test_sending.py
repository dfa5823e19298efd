"""Staff answers are stored at once and sent by a task: queued -> sending -> sent, or failed.

The mail server is a real SMTP server (aiosmtpd, in the test process) that answers what it
is told to (4xx/5xx at RCPT or DATA), otherwise accepts. Celery runs eagerly: the task runs
when the request's on-commit callbacks do (captured here, so the test sees the state in between).
"""

from __future__ import annotations

import email
import email.policy
import smtplib
import threading
from datetime import timedelta

import pytest
from aiosmtpd.controller import Controller
from anymail.exceptions import AnymailAPIError, AnymailRecipientsRefused
from django.test import TestCase
from django.urls import reverse
from django.utils import timezone

from replies import services, tasks
from replies.models import Conversation, Message
from rundbrief.mail.refusals import TransientSendError, classify
from tests.replies.conftest import ingest, make_staff
from tests.support import free_port

pytestmark = pytest.mark.django_db


class ScriptedServer:
    """aiosmtpd handler: the next RCPT/DATA answers come from the lists, then 250."""

    def __init__(self) -> None:
        self.rcpt_answers: list[str] = []
        self.data_answers: list[str] = []
        self.accepted: list[email.message.EmailMessage] = []
        self.lock = threading.Lock()

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):  # noqa: N802
        with self.lock:
            if self.rcpt_answers:
                return self.rcpt_answers.pop(0)
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd's hook name
        with self.lock:
            if self.data_answers:
                return self.data_answers.pop(0)
            self.accepted.append(
                email.message_from_bytes(envelope.original_content, policy=email.policy.default)
            )
        return "250 OK"

    def texts(self) -> list[str]:
        return [m.get_content().splitlines()[0] for m in self.accepted]


@pytest.fixture
def server(settings):
    handler = ScriptedServer()
    controller = Controller(handler, hostname="127.0.0.1", port=free_port())
    controller.start()
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST = "127.0.0.1"
    settings.EMAIL_PORT = controller.port
    settings.EMAIL_HOST_USER = settings.EMAIL_HOST_PASSWORD = ""
    settings.EMAIL_USE_TLS = settings.EMAIL_USE_SSL = False
    settings.EMAIL_TIMEOUT = 10
    yield handler
    controller.stop()


@pytest.fixture
def conversation(world, server):
    ingest("gmail_reply_en.eml")
    server.accepted.clear()  # the assignee's notice of the new reply
    return Conversation.objects.get()


def refused(code: int = 550, text: bytes = b"5.1.1 User unknown") -> smtplib.SMTPRecipientsRefused:
    return smtplib.SMTPRecipientsRefused({"anna@example.org": (code, text)})


def test_submitting_stores_the_answer_queued_and_returns_before_it_is_sent(
    client, world, conversation, server
):
    client.force_login(world.anna_staff)
    with TestCase.captureOnCommitCallbacks(execute=False) as callbacks:
        response = client.post(reverse("replies:reply", args=[conversation.pk]), {"text": "Yes, it does."})
    assert response.status_code == 302
    answer = Message.objects.get(direction="out")
    assert response["Location"].endswith(f"#m{answer.pk}")
    # Stored with everything the mail needs, nothing sent yet.
    assert answer.send_status == Message.SendStatus.QUEUED
    assert answer.author == world.anna_staff
    assert answer.from_address == "Anna Berg <newsletter@localhost>"
    assert answer.in_reply_to == "<CAF=gmail-reply-0001@mail.gmail.com>"
    assert answer.reply_token and answer.message_id
    assert "-- \nAnna Berg\nRedaktion Rundbrief" in answer.text
    assert server.accepted == []
    conversation.refresh_from_db()
    assert conversation.waiting_since is None
    page = client.get(reverse("replies:conversation", args=[conversation.pk])).content.decode()
    assert "send-queued" in page and "Your answer is being sent." in page

    for callback in callbacks:  # the commit: the task runs (eagerly) and sends it
        callback()
    answer.refresh_from_db()
    assert answer.send_status == Message.SendStatus.SENT
    assert answer.sent_at is not None and answer.send_attempts == 1
    [sent] = server.accepted
    assert sent["Message-ID"] == answer.message_id
    assert sent["In-Reply-To"] == answer.in_reply_to
    assert sent["References"].endswith(answer.in_reply_to)
    assert sent["Reply-To"] == f"reply+{answer.reply_token}@reply.localhost"
    assert sent["To"] == "Anna Beispiel <anna@example.org>" and sent["Subject"] == answer.subject
    page = client.get(reverse("replies:conversation", args=[conversation.pk])).content.decode()
    assert "send-sent" in page and "Send again" not in page


def test_refused_answer_is_failed_with_the_reason_and_its_author_can_send_it_again(
    client, world, conversation, server
):
    server.rcpt_answers.append("550 5.1.1 User unknown")
    client.force_login(world.anna_staff)
    with TestCase.captureOnCommitCallbacks(execute=True):
        client.post(reverse("replies:reply", args=[conversation.pk]), {"text": "Yes, it does."})
    answer = Message.objects.get(direction="out")
    assert answer.send_status == Message.SendStatus.FAILED
    assert answer.send_error == "anna@example.org: 550 5.1.1 User unknown"
    assert answer.send_attempts == 1  # permanent: not tried again
    conversation.refresh_from_db()
    assert conversation.waiting_since is not None  # not answered after all: back in the queue
    page = client.get(reverse("replies:conversation", args=[conversation.pk])).content.decode()
    assert "send-failed" in page and "550 5.1.1 User unknown" in page and "Send again" in page

    # Another staff member (not the author, not a manager) sees no button and may not resend.
    colleague = make_staff("carla", display_name="Carla")
    Conversation.objects.filter(pk=conversation.pk).update(assignee=None)  # visible to her
    client.force_login(colleague)
    assert (
        "Send again"
        not in client.get(reverse("replies:conversation", args=[conversation.pk])).content.decode()
    )
    assert client.post(reverse("replies:resend", args=[answer.pk])).status_code == 403

    # The author sends it again once the address works: the same mail (Message-ID, token).
    client.force_login(world.anna_staff)
    with TestCase.captureOnCommitCallbacks(execute=True):
        response = client.post(reverse("replies:resend", args=[answer.pk]))
    assert response.status_code == 302
    before = (answer.message_id, answer.reply_token)
    answer.refresh_from_db()
    assert answer.send_status == Message.SendStatus.SENT and answer.send_error == ""
    assert (answer.message_id, answer.reply_token) == before
    assert [m["Message-ID"] for m in server.accepted] == [answer.message_id]
    conversation.refresh_from_db()
    assert conversation.waiting_since is None
    # Sending a sent answer again does nothing.
    with TestCase.captureOnCommitCallbacks(execute=True):
        client.post(reverse("replies:resend", args=[answer.pk]))
    assert len(server.accepted) == 1


def test_a_manager_can_send_someone_elses_failed_answer_again(client, world, conversation, server):
    server.rcpt_answers.append("550 5.1.1 User unknown")
    with TestCase.captureOnCommitCallbacks(execute=True):
        answer = services.queue_staff_answer(conversation=conversation, author=world.anna_staff, text="Yes.")
    manager = make_staff("mia", group="Managers", display_name="Mia")
    client.force_login(manager)
    with TestCase.captureOnCommitCallbacks(execute=True):
        client.post(reverse("replies:resend", args=[answer.pk]))
    answer.refresh_from_db()
    assert answer.send_status == Message.SendStatus.SENT


def test_temporary_failure_is_tried_again_later(world, conversation, server, settings):
    with TestCase.captureOnCommitCallbacks(execute=False):
        answer = services.queue_staff_answer(conversation=conversation, author=world.anna_staff, text="Yes.")
    server.data_answers.append("451 4.3.0 Try again later")
    outcome = services.send_staff_answer(message_id=answer.pk)
    assert outcome == services.SendOutcome("queued", retry_in=settings.SEND_RETRY_BASE_SECONDS)
    answer.refresh_from_db()
    assert answer.send_status == Message.SendStatus.QUEUED
    assert answer.send_error == "451 4.3.0 Try again later"
    assert answer.send_status_at > timezone.now()  # due after the backoff
    assert server.accepted == []
    assert services.send_staff_answer(message_id=answer.pk).status == "sent"
    answer.refresh_from_db()
    assert answer.send_attempts == 2 and answer.send_error == ""
    assert len(server.accepted) == 1


def test_the_task_enqueues_its_own_retry_and_gives_up_after_the_last_attempt(
    world, conversation, server, settings
):
    with TestCase.captureOnCommitCallbacks(execute=False):
        answer = services.queue_staff_answer(conversation=conversation, author=world.anna_staff, text="Yes.")
    # Eager: each retry runs at once. A 452 at RCPT, then a 421 at DATA, then accepted.
    server.rcpt_answers.append("452 4.2.2 Mailbox full, try later")
    server.data_answers.append("421 4.7.0 Busy")
    assert tasks.send_staff_answer_task.delay(answer.pk).get() == "queued"
    answer.refresh_from_db()
    assert answer.send_status == Message.SendStatus.SENT and answer.send_attempts == 3
    assert len(server.accepted) == 1

    # Nobody listens (connection refused) every time: failed after the last attempt.
    settings.EMAIL_PORT = free_port()

    with TestCase.captureOnCommitCallbacks(execute=False):
        second = services.queue_staff_answer(
            conversation=conversation, author=world.anna_staff, text="Again."
        )
    tasks.send_staff_answer_task.delay(second.pk)
    second.refresh_from_db()
    assert second.send_status == Message.SendStatus.FAILED
    assert second.send_attempts == settings.SEND_MAX_ATTEMPTS
    assert "gave up after 5 attempts" in second.send_error


def test_a_redelivered_task_never_sends_twice(world, conversation, server):
    with TestCase.captureOnCommitCallbacks(execute=False):
        answer = services.queue_staff_answer(conversation=conversation, author=world.anna_staff, text="Yes.")
    assert tasks.send_staff_answer_task.delay(answer.pk).get() == "sent"
    assert tasks.send_staff_answer_task.delay(answer.pk).get() == "sent"  # redelivered: left alone
    assert len(server.accepted) == 1
    # Claimed by another worker right now: a duplicate task does not send it either.
    with TestCase.captureOnCommitCallbacks(execute=False):
        other = services.queue_staff_answer(conversation=conversation, author=world.anna_staff, text="More.")
    Message.objects.filter(pk=other.pk).update(send_status=Message.SendStatus.SENDING)
    assert tasks.send_staff_answer_task.delay(other.pk).get() == "sending"
    assert len(server.accepted) == 1


def test_the_sweeper_enqueues_answers_whose_task_or_worker_was_lost(world, conversation, server, settings):
    with TestCase.captureOnCommitCallbacks(execute=False):  # enqueueing was lost (broker down)
        lost_task = services.queue_staff_answer(
            conversation=conversation, author=world.anna_staff, text="One."
        )
        died = services.queue_staff_answer(conversation=conversation, author=world.anna_staff, text="Two.")
        fresh = services.queue_staff_answer(conversation=conversation, author=world.anna_staff, text="Three.")
        dead_too_often = services.queue_staff_answer(
            conversation=conversation, author=world.anna_staff, text="Four."
        )
    long_ago = timezone.now() - services.STAFF_ANSWER_STUCK_AFTER - timedelta(minutes=1)
    Message.objects.filter(pk=lost_task.pk).update(send_status_at=long_ago)
    Message.objects.filter(pk=died.pk).update(send_status="sending", send_attempts=1, send_status_at=long_ago)
    Message.objects.filter(pk=dead_too_often.pk).update(
        send_status="sending", send_attempts=settings.SEND_MAX_ATTEMPTS, send_status_at=long_ago
    )
    with TestCase.captureOnCommitCallbacks(execute=True):
        assert tasks.requeue_stuck_staff_answers_task.delay().get() == 2
    states = dict(Message.objects.filter(direction="out").values_list("pk", "send_status"))
    assert states == {lost_task.pk: "sent", died.pk: "sent", fresh.pk: "queued", dead_too_often.pk: "failed"}
    assert "without finishing" in Message.objects.get(pk=dead_too_often.pk).send_error
    assert sorted(server.texts()) == ["One.", "Two."]
    # A second sweep finds nothing stuck and sends nothing again.
    with TestCase.captureOnCommitCallbacks(execute=True):
        assert services.requeue_stuck_staff_answers() == 0
    assert len(server.accepted) == 2


@pytest.mark.parametrize(
    ("error", "temporary"),
    [
        (smtplib.SMTPResponseException(421, b"busy"), True),
        (smtplib.SMTPDataError(554, b"rejected"), False),
        (smtplib.SMTPSenderRefused(550, b"no", "newsletter@localhost"), False),
        (smtplib.SMTPServerDisconnected("lost"), True),
        (TimeoutError("timed out"), True),
        (refused(550), False),
        (refused(452), True),
        (AnymailRecipientsRefused("all rejected"), False),
        (AnymailAPIError("bad request", status_code=400), False),
        (AnymailAPIError("rate limited", status_code=429), True),
        (AnymailAPIError("server error", status_code=503), True),
        (ValueError("a bug"), False),
    ],
)
def test_which_failures_are_temporary(error, temporary):
    assert isinstance(classify(error), TransientSendError) is temporary
