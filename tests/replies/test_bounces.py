"""Bounces and complaints end to end (issue 9): VERP attribution, suppressing only what bounced,
the soft-bounce score, complaints by mail, the managers' suppression list, erasure."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
import time_machine
from django.contrib.auth.models import Permission
from django.core import mail as django_mail
from django.test import TestCase
from django.urls import reverse

from campaigns.models import Delivery
from campaigns.tracking import record_tracking_event
from replies import services
from replies.models import Conversation, InboundMessage
from rundbrief.mail.addresses import REPLY, verp
from subscribers import services as subscriber_services
from subscribers.mails import send_confirmation_mail
from subscribers.models import Bounce, ConsentEvent, Subscriber, Suppression, SystemMail, email_hash
from tests.conftest import FROZEN_AT
from tests.replies.conftest import ANNA_TOKEN, BEN_TOKEN, JUERGEN_TOKEN, ingest, make_staff, make_subscriber
from tests.replies.test_inbound_channels import run_ingest

pytestmark = pytest.mark.django_db
Kind = InboundMessage.Kind

ORIGINAL = "From: newsletter@localhost\r\nTo: someone@example.org\r\nSubject: Hi\r\n\r\nHi\r\n"


def dsn(
    *, to: str, recipient: str, status: str = "5.1.1", action: str = "failed", original: str = ORIGINAL
) -> bytes:
    """A Postfix-style RFC 3464 report, sent to ``to`` (our return path), about ``recipient``."""
    key = abs(hash((to, recipient, status, action, original)))
    return (
        "From: MAILER-DAEMON@mx.example.net (Mail Delivery System)\r\n"
        f"To: {to}\r\nSubject: Undelivered Mail Returned to Sender\r\n"
        f"Message-ID: <dsn-{key}@mx.example.net>\r\n"
        "MIME-Version: 1.0\r\n"
        'Content-Type: multipart/report; report-type=delivery-status; boundary="B"\r\n\r\n'
        "--B\r\nContent-Type: text/plain\r\n\r\nYour message could not be delivered.\r\n"
        "--B\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx.example.net\r\n\r\n"
        f"Final-Recipient: rfc822; {recipient}\r\nAction: {action}\r\nStatus: {status}\r\n"
        f"Diagnostic-Code: smtp; {status.replace('.', '')[:3]} {status} mailbox problem\r\n"
        "--B\r\nContent-Type: message/rfc822\r\n\r\n" + original + "--B--\r\n"
    ).encode()


def arf(*, original: str, recipient: str = "") -> bytes:
    """An RFC 5965 feedback report (a spam complaint), the complained-about mail attached."""
    rcpt = f"Original-Rcpt-To: {recipient}\r\n" if recipient else ""
    return (
        "From: fbl@isp.example\r\nTo: abuse@localhost\r\nSubject: Abuse report\r\n"
        f"Message-ID: <arf-{abs(hash((original, recipient)))}@isp.example>\r\n"
        "MIME-Version: 1.0\r\n"
        'Content-Type: multipart/report; report-type=feedback-report; boundary="F"\r\n\r\n'
        "--F\r\nContent-Type: text/plain\r\n\r\nThis is an email abuse report.\r\n"
        "--F\r\nContent-Type: message/feedback-report\r\n\r\n"
        "Feedback-Type: abuse\r\nUser-Agent: ISP-FBL/1.0\r\n"
        f"Version: 1\r\n{rcpt}\r\n"
        "--F\r\nContent-Type: message/rfc822\r\n\r\n" + original + "--F--\r\n"
    ).encode()


def ingest_to(raw: bytes, envelope_to: str) -> InboundMessage:
    return ingest(raw, envelope_from="", envelope_to=[envelope_to])


# --- VERP ----------------------------------------------------------------------------------------


def test_a_dsn_to_the_verp_address_suppresses_exactly_that_deliverys_subscriber(world):
    address = verp().address(BEN_TOKEN)
    inbound = ingest_to(dsn(to=address, recipient="ben@example.com"), address)
    assert inbound.kind == Kind.BOUNCE and inbound.match_method == InboundMessage.MatchMethod.VERP
    assert list(Suppression.objects.values_list("email_hash", "reason")) == [
        (email_hash("ben@example.com"), "hard_bounce")
    ]
    bounce = Bounce.objects.get()
    assert (bounce.subscriber, bounce.match, bounce.delivery_id) == (
        world.ben,
        "verp",
        world.deliveries["ben"].pk,
    )
    assert (bounce.reason, bounce.status, bounce.evidence, bounce.rule) == (
        "user_unknown",
        "5.1.1",
        "rfc3464",
        "bounce",
    )
    world.deliveries["ben"].refresh_from_db()
    assert world.deliveries["ben"].status == Delivery.Status.BOUNCED
    details = Suppression.objects.get().details
    assert (
        details["match"] == "verp" and details["evidence"] == "rfc3464" and details["bounce_id"] == bounce.pk
    )
    assert not Conversation.objects.exists()


def test_verp_names_the_delivery_even_when_the_report_names_a_forwarding_target(world):
    address = verp().address(ANNA_TOKEN)
    ingest_to(dsn(to=address, recipient="anna.forwarded@elsewhere.example"), address)
    assert Suppression.objects.get().email_hash == email_hash("anna@example.org")


def test_a_temporary_failure_to_the_verp_address_counts_but_does_not_suppress(world):
    address = verp().address(ANNA_TOKEN)
    inbound = ingest_to(
        dsn(to=address, recipient="anna@example.org", status="4.2.2", action="delayed"), address
    )
    assert inbound.kind == Kind.BOUNCE
    assert not Suppression.objects.exists()
    bounce = Bounce.objects.get()
    assert (bounce.permanent, bounce.reason, bounce.score, bounce.subscriber) == (
        False,
        "mailbox_full",
        0.5,
        world.anna,
    )


def test_the_prefix_is_a_setting(world, settings):
    settings.BOUNCE_ADDRESS_PREFIX = "return"
    address = f"return+{ANNA_TOKEN}@reply.localhost"
    inbound = ingest_to(dsn(to=address, recipient="anna@example.org"), address)
    assert inbound.match_method == InboundMessage.MatchMethod.VERP
    assert Suppression.objects.get().email_hash == email_hash("anna@example.org")


def test_staff_answers_carry_their_verp_return_path(world):
    ingest("gmail_reply_en.eml")
    conversation = Conversation.objects.get()
    with TestCase.captureOnCommitCallbacks(execute=True):
        answer = services.queue_staff_answer(conversation=conversation, author=world.anna_staff, text="Yes.")
    answer.refresh_from_db()
    sent = django_mail.outbox[-1]
    assert sent.from_email == verp().address(answer.reply_token)  # the envelope sender
    assert sent.message()["From"] == "Anna Berg <newsletter@localhost>"
    # A bounce of the answer names the subscriber it went to.
    address = verp().address(answer.reply_token)
    ingest_to(dsn(to=address, recipient="anna@example.org"), address)
    assert Bounce.objects.get().match == "verp"
    assert Suppression.objects.get().email_hash == email_hash("anna@example.org")


# --- Suppress only what bounced -------------------------------------------------------------------


def test_a_forged_dsn_for_an_address_we_never_mailed_suppresses_nothing(world):
    never_mailed = make_subscriber("never.mailed@example.org")
    for recipient in ["stranger@example.net", never_mailed.email]:
        inbound = ingest(dsn(to="bounces@localhost", recipient=recipient))
        assert inbound.kind == Kind.BOUNCE
    assert not Suppression.objects.exists()
    assert set(Bounce.objects.values_list("address", "match")) == {
        ("stranger@example.net", "none"),
        ("never.mailed@example.org", "none"),
    }


def test_our_own_addresses_and_invalid_ones_are_never_failed_recipients(world, settings):
    settings.DEFAULT_FROM_EMAIL = "Rundbrief <newsletter@localhost>"
    for recipient in [
        "newsletter@localhost",
        f"reply+{ANNA_TOKEN}@reply.localhost",
        "|/usr/bin/procmail",
        "@relay:anna@example.org",
        "'anna@@example.org",
    ]:
        ingest(dsn(to="bounces@localhost", recipient=recipient))
    assert not Suppression.objects.exists()
    assert set(Bounce.objects.values_list("address", flat=True)) == {""}


def test_the_returned_originals_message_id_names_the_delivery(world):
    delivery = world.deliveries["juergen"]
    original = (
        "From: newsletter@localhost\r\nTo: juergen.mueller@example.com\r\n"
        f"Message-ID: {delivery.message_id}\r\nSubject: x\r\n\r\nx\r\n"
    )
    ingest(dsn(to="bounces@localhost", recipient="juergen.mueller@example.com", original=original))
    bounce = Bounce.objects.get()
    assert (bounce.match, bounce.delivery_id, bounce.campaign_id) == (
        "message_id",
        delivery.pk,
        world.campaign.pk,
    )
    assert Suppression.objects.get().email_hash == world.juergen.email_hash


# --- Soft bounces count ---------------------------------------------------------------------------


def test_temporary_bounces_suppress_at_the_threshold_once_a_day_and_the_score_goes_stale(world, settings):
    address = verp().address(ANNA_TOKEN)
    with time_machine.travel(FROZEN_AT, tick=False) as clock:
        for day in range(9):
            for repeat in range(2):  # a second bounce on the same day does not count
                raw = dsn(to=address, recipient="anna@example.org", status="4.2.2", action="delayed")
                ingest_to(raw.replace(b"mailbox problem", f"day {day} try {repeat}".encode()), address)
            clock.shift(timedelta(days=1))
        assert subscriber_services.bounce_score(subscriber=world.anna) == 4.5
        assert not Suppression.objects.exists()
        clock.shift(timedelta(days=8))  # a quiet spell: the score starts afresh
        assert subscriber_services.bounce_score(subscriber=world.anna) == 0
        for day in range(10):
            raw = dsn(to=address, recipient="anna@example.org", status="4.4.7", action="failed")
            ingest_to(raw.replace(b"mailbox problem", f"later {day}".encode()), address)
            clock.shift(timedelta(days=1))
    suppression = Suppression.objects.get()
    assert suppression.reason == Suppression.Reason.SOFT_BOUNCES and suppression.details["score"] == 5.0
    assert Bounce.objects.filter(subscriber=world.anna).count() == 28  # the whole history is kept


# --- Complaints by mail -------------------------------------------------------------------------


def test_an_arf_complaint_unsubscribes_and_suppresses_the_delivery_it_is_about(world):
    delivery = world.deliveries["ben"]
    original = (
        "From: newsletter@localhost\r\nTo: redacted@isp.example\r\n"
        f"Message-ID: {delivery.message_id}\r\nSubject: x\r\n\r\nx\r\n"
    )
    inbound = ingest(arf(original=original))
    assert inbound.kind == Kind.COMPLAINT
    world.ben.refresh_from_db()
    assert world.ben.status == Subscriber.Status.UNSUBSCRIBED
    assert Suppression.objects.get().reason == Suppression.Reason.COMPLAINT
    delivery.refresh_from_db()
    assert delivery.status == Delivery.Status.COMPLAINED
    assert not Conversation.objects.exists()


def test_an_ses_complaint_notification_by_mail_is_a_complaint(world):
    delivery = world.deliveries["anna"]
    notice = {
        "notificationType": "Complaint",
        "complaint": {
            "complainedRecipients": [{"emailAddress": "anna@example.org"}],
            "complaintFeedbackType": "abuse",
        },
        "mail": {"messageId": "0100018-ses", "commonHeaders": {"messageId": delivery.message_id}},
    }
    sns = {"Type": "Notification", "Message": json.dumps(notice)}
    raw = (
        "From: no-reply@sns.amazonaws.com\r\nTo: bounces@localhost\r\nSubject: AWS Notification Message\r\n"
        "Message-ID: <sns-1@sns.amazonaws.com>\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"
        + json.dumps(sns)
    ).encode()
    inbound = ingest(raw)
    assert inbound.kind == Kind.COMPLAINT
    assert Suppression.objects.get().reason == Suppression.Reason.COMPLAINT
    assert Bounce.objects.get().evidence == "amazon_ses"


# --- Every system mail can be answered ------------------------------------------------------------


def test_the_confirmation_mail_can_be_answered_and_lands_with_the_topic_owner(world):
    pending = Subscriber.objects.create(
        email="new.one@example.org", email_hash=email_hash("new.one@example.org")
    )
    django_mail.outbox.clear()
    send_confirmation_mail(subscriber=pending, topics=[world.topic])
    [sent] = django_mail.outbox
    system_mail = SystemMail.objects.get(subscriber=pending)
    assert system_mail.kind == SystemMail.Kind.CONFIRMATION and system_mail.topic_ids == [world.topic.pk]
    assert sent.reply_to == [REPLY.address(system_mail.token)]
    assert sent.from_email == verp().address(system_mail.token)
    assert sent.message()["From"] == "Rundbrief <newsletter@localhost>"
    answer = (
        f"From: new.one@example.org\r\nTo: {REPLY.address(system_mail.token)}\r\nSubject: Re: confirm\r\n"
        "Message-ID: <q-1@example.org>\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"
        "Which topics do you have besides this one?\r\n"
    ).encode()
    inbound = ingest(answer)
    assert inbound.kind == Kind.HUMAN and inbound.match_method == InboundMessage.MatchMethod.REPLY_TOKEN
    conversation = Conversation.objects.get()
    assert conversation.subscriber == pending and conversation.assignee == world.topic_owner


def test_the_unsubscribe_confirmation_carries_a_reply_token_too(world):
    django_mail.outbox.clear()
    services.send_unsubscribe_confirmation(subscriber_id=world.anna.pk, inbound=None)
    [sent] = django_mail.outbox
    system_mail = SystemMail.objects.get(subscriber=world.anna, kind=SystemMail.Kind.UNSUBSCRIBED)
    assert sent.reply_to == [REPLY.address(system_mail.token)]
    assert sent.from_email == verp().address(system_mail.token)


# --- The managers' suppression list ------------------------------------------------------------


@pytest.fixture
def manager(world):
    return make_staff("mia.manager", group="Managers", display_name="Mia")  # the group has the permission


def test_a_manager_sees_why_and_lifts_a_bounce_suppression_recorded_in_the_proof(client, world, manager):
    address = verp().address(ANNA_TOKEN)
    ingest_to(dsn(to=address, recipient="anna@example.org"), address)
    suppression = Suppression.objects.get()
    client.force_login(manager)
    page = client.get(reverse("subscribers:suppressions"))
    assert page.status_code == 200
    html = page.content.decode()
    assert "anna@example.org" in html and "verp" in html and "rfc3464" in html and "5.1.1" in html
    response = client.post(
        reverse("subscribers:lift_suppression", args=[suppression.pk]), {"note": "typo fixed"}
    )
    assert response.status_code == 302
    assert not Suppression.objects.exists()
    event = ConsentEvent.objects.get(subscriber=world.anna, kind=ConsentEvent.Kind.UNSUPPRESSED)
    assert event.details["by"] == "mia.manager" and event.details["note"] == "typo fixed"
    assert event.details["reason"] == "hard_bounce" and event.details["suppressed"]["match"] == "verp"
    assert not Bounce.objects.filter(counts=True).exists()  # the score starts afresh


def test_a_complaint_cannot_be_lifted_and_staff_cannot_open_the_list(client, world, manager):
    subscriber_services.suppress_address(email="anna@example.org", reason="complaint", source="email_reply")
    suppression = Suppression.objects.get()
    client.force_login(manager)
    client.post(reverse("subscribers:lift_suppression", args=[suppression.pk]))
    assert Suppression.objects.filter(pk=suppression.pk).exists()
    client.force_login(world.anna_staff)
    assert client.get(reverse("subscribers:suppressions")).status_code == 403


def test_unknown_address_bounces_are_shown_on_the_list(client, world, manager):
    ingest(dsn(to="bounces@localhost", recipient="stranger@example.net"))
    client.force_login(manager)
    html = client.get(reverse("subscribers:suppressions")).content.decode()
    assert "stranger@example.net" in html


# --- Erasure ------------------------------------------------------------------------------------


def test_erasure_deletes_the_bounce_records(world):
    address = verp().address(ANNA_TOKEN)
    ingest_to(dsn(to=address, recipient="anna@example.org", status="4.2.2", action="delayed"), address)
    ingest(dsn(to="bounces@localhost", recipient="anna@example.org"))  # before it was attributed, say
    Bounce.objects.create(
        address="anna@example.org", address_hash=email_hash("anna@example.org"), match="none"
    )
    assert Bounce.objects.count() == 3
    subscriber_services.erase(subscriber=world.anna, source="admin")
    assert not Bounce.objects.exists()


# --- ESP tracking webhooks keep their bounces too -------------------------------------------------


def test_tracking_events_are_kept_as_bounces_and_soft_ones_count(world):
    anna, ben = world.deliveries["anna"], world.deliveries["ben"]
    record_tracking_event(
        event_type="deferred", message_id=anna.message_id, recipient="anna@example.org", esp="x"
    )
    record_tracking_event(
        event_type="bounced", message_id=ben.message_id, recipient="ben@example.com", esp="x"
    )
    soft = Bounce.objects.get(subscriber=world.anna)
    assert (soft.permanent, soft.match, soft.score, soft.campaign_id) == (
        False,
        "esp_event",
        0.5,
        world.campaign.pk,
    )
    hard = Bounce.objects.get(subscriber=world.ben)
    assert (hard.permanent, hard.suppressed, hard.match) == (True, True, "esp_event")
    assert list(Suppression.objects.values_list("email_hash", flat=True)) == [world.ben.email_hash]


def test_a_person_forwarding_a_bounce_to_us_reaches_the_queue(world):
    forwarded = (
        "From: Anna Beispiel <anna@example.org>\r\nTo: reply+" + ANNA_TOKEN + "@reply.localhost\r\n"
        "Subject: Fwd: Undelivered Mail Returned to Sender\r\nMessage-ID: <fwd-1@example.org>\r\n"
        "Content-Type: text/plain; charset=utf-8\r\n\r\n"
        "Why did my colleague not get your newsletter?\r\n\r\n"
        "---------- Forwarded message ---------\r\nFrom: MAILER-DAEMON@mx.example.org\r\n"
        "Subject: Undelivered Mail Returned to Sender\r\n\r\n"
        "<ben@example.com>: host mx.example.com said: 550 5.1.1 User unknown\r\n"
    ).encode()
    inbound = ingest(forwarded)
    assert inbound.kind == Kind.HUMAN
    assert Conversation.objects.get().subscriber == world.anna
    assert not Suppression.objects.exists() and not Bounce.objects.exists()


def test_the_mta_pipe_takes_a_bounce_for_the_verp_address(world):
    address = verp().address(JUERGEN_TOKEN)
    code, _out, _err = run_ingest(
        dsn(to="x@y", recipient="juergen.mueller@example.com"), "--recipient", address
    )
    assert code == 0
    inbound = InboundMessage.objects.get()
    assert (inbound.kind, inbound.match_method) == (Kind.BOUNCE, InboundMessage.MatchMethod.VERP)
    assert Suppression.objects.get().email_hash == world.juergen.email_hash


def test_the_subscribers_page_in_the_audience_desk_shows_their_bounces_and_score(client, world):
    address = verp().address(ANNA_TOKEN)
    ingest_to(dsn(to=address, recipient="anna@example.org", status="4.2.2", action="delayed"), address)
    # Not through the Marketers group: a transactional test before this one may have flushed it.
    desk = make_staff("maria.marketing", display_name="Maria")
    desk.user_permissions.add(Permission.objects.get(codename="use_audience_desk"))
    client.force_login(desk)
    html = client.get(reverse("audience:subscriber", args=[world.anna.pk])).content.decode()
    assert 'id="bounces"' in html and "Mailbox full" in html and "4.2.2" in html
    assert '<b id="bounce-score">0.5</b>' in html


def test_a_bounce_of_a_forward_that_quotes_our_mail_suppresses_nobody(world):
    delivery = world.deliveries["anna"]
    forwarded = (
        "From: Anna Beispiel <anna@example.org>\r\nTo: colleague@elsewhere.example\r\n"
        f"Message-ID: {delivery.message_id}\r\nSubject: Fwd: Unser Rundbrief\r\n\r\nFYI\r\n"
    )
    ingest(dsn(to="anna@example.org", recipient="colleague@elsewhere.example", original=forwarded))
    assert not Suppression.objects.exists()
    assert Bounce.objects.get().match == "none"


def test_a_double_bounce_is_read_at_its_own_level_only(world):
    inner = dsn(to="newsletter@localhost", recipient="anna@example.org").decode()
    inner = inner.replace('boundary="B"', 'boundary="C"').replace("--B", "--C")
    inbound = ingest(dsn(to="bounces@localhost", recipient="postmaster-gone@mx.example.net", original=inner))
    assert inbound.kind == Kind.BOUNCE
    assert not Suppression.objects.exists()
    assert set(Bounce.objects.values_list("address", flat=True)) == {"postmaster-gone@mx.example.net"}
