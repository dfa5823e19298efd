"""Recognition, matching, threading and the no-loss guarantees, with real-world .eml fixtures."""

from unittest import mock

import pytest
from django.core import mail as django_mail
from django.test import TestCase, override_settings

from campaigns.models import Delivery
from replies import services
from replies.models import Attachment, Conversation, InboundMessage, Message
from rundbrief.mail.addresses import new_token
from rundbrief.mail.subjects import normalise_subject
from subscribers.models import Bounce, ConsentEvent, Subscriber, Suppression, email_hash
from tests.replies.conftest import ANNA_TOKEN, eml, ingest, make_subscriber

Kind = InboundMessage.Kind
pytestmark = pytest.mark.django_db


def hit_rule(inbound: InboundMessage) -> str:
    return next(h["rule"] for h in inbound.rule_hits if h["hit"] and h["rule"] != "matching")


# --- Human replies, matching paths, threading --------------------------------------------


def test_gmail_reply_matched_by_token_lands_in_contact_persons_queue(world):
    inbound = ingest("gmail_reply_en.eml")
    assert inbound.status == InboundMessage.Status.PROCESSED
    assert inbound.kind == Kind.HUMAN
    assert inbound.match_method == InboundMessage.MatchMethod.REPLY_TOKEN
    conversation = Conversation.objects.get()
    assert conversation.subscriber == world.anna
    assert conversation.campaign == world.campaign
    assert conversation.assignee == world.anna_staff
    assert conversation.routing_rule == "campaign_contact"
    assert conversation.routing_reasons == [{"code": "campaign_contact", "params": {"name": "Anna Berg"}}]
    assert (
        conversation.routing_reason == "Anna Berg is the campaign's contact person"
    )  # English beside the codes
    assert conversation.waiting_since is not None
    message = conversation.messages.get()
    assert message.delivery == world.deliveries["anna"]
    assert "subsidy also applies" in message.stripped_text
    assert "Dear reader" not in message.stripped_text
    assert "<script" not in message.html
    # Every rule checked is recorded, with the reason of the one that fired.
    assert [h["rule"] for h in inbound.rule_hits] == [
        "matching",
        "bounce",
        "complaint",
        "staff_answer",
        "auto_reply",
        "unsubscribe_by_reply",
        "human",
    ]
    assert inbound.rule_hits[0]["reasons"] == [
        {"code": "token_campaign", "params": {"address": f"reply+{ANNA_TOKEN}@reply.localhost"}}
    ]
    assert inbound.rule_hits[-1]["reasons"] == [{"code": "human"}]
    assert [a["code"] for a in inbound.rule_hits[-1]["actions"]] == [
        "opened_conversation",
        "routed",
        "campaign_contact",
    ]


def test_second_reply_joins_the_same_conversation_with_attachment(world):
    ingest("gmail_reply_en.eml")
    ingest("apple_mail_de.eml")
    conversation = Conversation.objects.get()
    assert conversation.messages.count() == 2
    attachment = Attachment.objects.get()
    assert attachment.filename == "waermepumpe.jpg"
    assert attachment.file.read().startswith(b"\xff\xd8")
    assert attachment.size == len(attachment.file.open("rb").read())


def test_outlook_reply_matched_by_in_reply_to(world):
    inbound = ingest("outlook_reply_de.eml")
    assert inbound.match_method == InboundMessage.MatchMethod.IN_REPLY_TO
    conversation = Conversation.objects.get()
    assert conversation.subscriber == world.juergen
    assert "Unterlagen zur Förderung" in conversation.messages.get().stripped_text


def test_thunderbird_reply_matched_by_references(world):
    inbound = ingest("thunderbird_en.eml")
    assert inbound.match_method == InboundMessage.MatchMethod.IN_REPLY_TO
    assert Conversation.objects.get().subscriber == world.ben
    assert Attachment.objects.get().filename == "heating-bill 2025.pdf"


def test_known_sender_without_token_or_headers_is_matched_by_address(world):
    inbound = ingest("sender_only_de.eml")
    assert inbound.match_method == InboundMessage.MatchMethod.SENDER
    assert inbound.rule_hits[0]["reasons"] == [
        {"code": "known_sender", "params": {"address": "anna@example.org"}}
    ]
    conversation = Conversation.objects.get()
    assert conversation.subscriber == world.anna
    assert conversation.campaign is None
    assert not conversation.is_unmatched
    # No campaign: the owner of the subscriber's topic answers.
    assert conversation.assignee == world.topic_owner
    assert conversation.routing_rule == "topic_owner"
    assert [a["code"] for a in inbound.rule_hits[-1]["actions"]] == [
        "opened_conversation",
        "new_for_sender",
        "routed",
        "topic_owner",
    ]


def sender_only(subject: str, body: str, sender: bytes = b"anna@example.org") -> bytes:
    """A known subscriber's mail to the general address: no reply token, no In-Reply-To/References."""
    return simple_reply("X-Mailer: x", subject, body, to="hello@localhost").replace(
        b"anna@example.org", sender
    )


def test_new_mail_from_a_subscriber_starts_a_new_conversation_not_their_campaign_one(world):
    ingest("gmail_reply_en.eml")  # open, about the November campaign, with its contact person
    campaign_conversation = Conversation.objects.get()
    inbound = ingest(sender_only("Frage zum Abo", "Bekomme ich den Rundbrief auch auf Englisch?"))
    assert inbound.match_method == InboundMessage.MatchMethod.SENDER
    new = Conversation.objects.exclude(pk=campaign_conversation.pk).get()
    assert (new.subscriber, new.campaign, new.contact_address) == (world.anna, None, "anna@example.org")
    assert new.messages.get().inbound == inbound
    # Routed by the normal rules, without the campaign's contact person: the topic owner.
    assert (new.assignee, new.routing_rule) == (world.topic_owner, "topic_owner")
    assert campaign_conversation.messages.count() == 1
    assert "new_for_sender" in [a["code"] for a in inbound.rule_hits[-1]["actions"]]


@pytest.mark.parametrize(
    "subject", ["AW: Frage zum Abo", "re:  frage  ZUM abo ", "Fwd: WG: Re[2]: Frage zum Abo", "Frage zum Abo"]
)
def test_same_subject_as_an_open_conversation_joins_it(world, subject):
    first = ingest(sender_only("Re: Frage zum Abo", "Bekomme ich den Rundbrief auch auf Englisch?"))
    conversation = Conversation.objects.get()
    inbound = ingest(sender_only(subject, "Und gibt es ihn auch gedruckt?"))
    assert first.pk != inbound.pk and Conversation.objects.count() == 1
    assert conversation.messages.count() == 2
    actions = inbound.rule_hits[-1]["actions"]
    assert actions[:2] == [
        {"code": "joined_conversation", "params": {"id": conversation.pk}},
        {"code": "same_subject", "params": {"id": conversation.pk, "subject": "Re: Frage zum Abo"}},
    ]


def test_same_subject_joins_a_campaign_conversation_too_but_never_a_closed_one(world):
    ingest("gmail_reply_en.eml")  # "Re: Our November newsletter"
    conversation = Conversation.objects.get()
    ingest(sender_only("Fwd: our november newsletter", "One more question"))
    assert Conversation.objects.count() == 1 and conversation.messages.count() == 2
    services.close(conversation=conversation, actor=world.anna_staff)
    ingest(sender_only("Re: Our November newsletter", "And another one"))
    assert Conversation.objects.count() == 2
    assert conversation.messages.count() == 2


def test_a_different_subscriber_never_joins_by_subject(world):
    ingest(sender_only("Frage zum Abo", "first"))
    ingest(sender_only("Frage zum Abo", "second", sender=b"ben@example.com"))
    assert sorted(Conversation.objects.values_list("subscriber__email", flat=True)) == [
        "anna@example.org",
        "ben@example.com",
    ]


def test_empty_subjects_do_not_count_as_the_same_subject(world):
    ingest(sender_only("", "first"))
    ingest(sender_only("Re:", "second"))
    assert Conversation.objects.count() == 2


def test_replies_with_token_or_references_still_thread_as_before(world):
    ingest("gmail_reply_en.eml")
    campaign_conversation = Conversation.objects.get()
    ingest(sender_only("Frage zum Abo", "Bekomme ich den Rundbrief auch auf Englisch?"))
    own = Conversation.objects.exclude(pk=campaign_conversation.pk).get()
    # A reply token (any subject) still joins the campaign conversation, not the newer one.
    by_token = ingest(simple_reply("X-Mailer: x", "Something else entirely", "About the campaign"))
    assert by_token.match_method == InboundMessage.MatchMethod.REPLY_TOKEN
    assert campaign_conversation.messages.count() == 2
    # A reply to our answer in the new conversation (References only, other subject) joins it.
    answer = services.queue_staff_answer(conversation=own, author=world.topic_owner, text="Ja, auf Englisch.")
    raw = sender_only("Danke!", "Prima").replace(
        b"X-Mailer: x", f"References: <older@example.org> {answer.message_id}".encode()
    )
    by_references = ingest(raw)
    assert by_references.match_method == InboundMessage.MatchMethod.IN_REPLY_TO
    assert own.messages.filter(direction="in").count() == 2
    assert Conversation.objects.count() == 2
    assert "same_subject" not in [a["code"] for a in by_references.rule_hits[-1]["actions"]]


@pytest.mark.parametrize(
    ("subject", "normalised"),
    [
        ("Re: Hello", "hello"),
        ("AW: WG: Fwd:  Hello   World", "hello world"),
        ("RE[3]: re(2): Hello", "hello"),
        ("Antw: SV: Fw: Hello", "hello"),
        ("Hello: Re: World", "hello: re: world"),  # only leading prefixes
        ("Reply needed", "reply needed"),  # "Re" only as a prefix with a colon
        ("  ", ""),
    ],
)
def test_normalise_subject(subject, normalised):
    assert normalise_subject(subject) == normalised


def test_unknown_sender_goes_to_the_unmatched_queue(world):
    inbound = ingest("unknown_sender_en.eml")
    assert inbound.match_method == InboundMessage.MatchMethod.NONE
    conversation = Conversation.objects.get()
    assert conversation.is_unmatched
    assert conversation.subscriber is None
    assert conversation.contact_address == "carla@unknown.example"
    assert conversation.assignee is None
    assert conversation.routing_rule == "fallback"


@pytest.mark.parametrize("name", ["broken_charset.eml", "broken_mime.eml"])
def test_broken_mail_is_processed_not_lost(world, name):
    inbound = ingest(name)
    assert inbound.status == InboundMessage.Status.PROCESSED
    assert Conversation.objects.get().subscriber == world.anna


# --- Auto-replies ---------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["ooo_exchange_de.eml", "vacation_gmail_en.eml", "ooo_subject_only_de.eml"])
def test_auto_replies_are_recognised_and_never_queued(world, name):
    inbound = ingest(name)
    assert inbound.kind == Kind.AUTO_REPLY
    assert hit_rule(inbound) == "auto_reply"
    assert not Conversation.objects.exists()


AUTO_HEADERS = [
    ("Auto-Submitted: auto-generated", "Re: Hello"),
    ("X-Autorespond: yes", "Re: Hello"),
    ("Precedence: junk", "Re: Hello"),
    ("Precedence: auto_reply", "Re: Hello"),
    ("X-Auto-Response-Suppress: OOF", "Out of Office: Hello"),  # alone it is no evidence (test_auto_reply.py)
    ("X-Mailer: x", "Out of Office: Hello"),
    ("X-Mailer: x", "Automatische Antwort: Hallo"),
    ("X-Mailer: x", "AW: Abwesenheitsnotiz"),
]


def simple_reply(header: str, subject: str, body: str = "Some text", to: str = "") -> bytes:
    to = to or f"reply+{ANNA_TOKEN}@reply.localhost"
    return (
        f"From: Anna Beispiel <anna@example.org>\r\nTo: {to}\r\nSubject: {subject}\r\n"
        f"Message-ID: <{abs(hash((header, subject, body)))}@example.org>\r\n{header}\r\n"
        f"Content-Type: text/plain; charset=utf-8\r\n\r\n{body}\r\n"
    ).encode()


@pytest.mark.parametrize(("header", "subject"), AUTO_HEADERS)
def test_each_auto_reply_signal(world, header, subject):
    assert ingest(simple_reply(header, subject)).kind == Kind.AUTO_REPLY


def test_auto_submitted_no_is_a_human(world):
    assert ingest(simple_reply("Auto-Submitted: no", "Re: Hello")).kind == Kind.HUMAN


def test_auto_reply_joins_an_existing_conversation_without_making_it_wait(world):
    ingest("gmail_reply_en.eml")
    conversation = Conversation.objects.get()
    services.queue_staff_answer(conversation=conversation, author=world.anna_staff, text="Yes, it does.")
    ingest("vacation_gmail_en.eml")
    conversation.refresh_from_db()
    assert conversation.waiting_since is None  # still answered: nothing new for a person
    assert conversation.messages.filter(kind=Kind.AUTO_REPLY).count() == 1


# --- Bounces -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "address"),
    [
        ("dsn_postfix.eml", "anna@example.org"),
        ("bounce_exim.eml", "ben@example.com"),
        ("bounce_qmail.eml", "dora@example.info"),
        ("bounce_exchange_de.eml", "emil.weber@example.de"),
    ],
)
def test_bounces_suppress_the_failed_address_without_queue_item(world, name, address):
    if not Subscriber.objects.filter(email=address).exists():
        # Only the address of a subscriber we have mailed is ever suppressed.
        Delivery.objects.create(
            campaign=world.campaign,
            subscriber=make_subscriber(address),
            status="sent",
            reply_token=new_token(),
            message_id=f"<{new_token()}@rundbrief.localhost>",
        )
    inbound = ingest(name)
    assert inbound.kind == Kind.BOUNCE
    suppression = Suppression.objects.get(email_hash=email_hash(address))
    assert suppression.reason == Suppression.Reason.HARD_BOUNCE
    assert Suppression.objects.count() == 1  # never the postmaster, never our own addresses
    assert not Conversation.objects.exists()


def test_postfix_dsn_marks_the_delivery_bounced_and_records_consent_proof(world):
    ingest("dsn_postfix.eml")
    world.deliveries["anna"].refresh_from_db()
    assert world.deliveries["anna"].status == "bounced"
    event = ConsentEvent.objects.get(subscriber=world.anna, kind=ConsentEvent.Kind.SUPPRESSED)
    assert event.source == ConsentEvent.Source.EMAIL_REPLY


@pytest.mark.parametrize("name", ["bounce_qmail.eml", "bounce_exchange_de.eml"])
def test_a_bounce_for_an_address_we_do_not_know_is_kept_and_suppresses_nothing(world, name):
    inbound = ingest(name)
    assert inbound.kind == Kind.BOUNCE
    assert not Suppression.objects.exists()
    bounce = Bounce.objects.get()
    assert bounce.subscriber is None and bounce.match == Bounce.Match.NONE
    assert bounce.permanent and bounce.reason == Bounce.Reason.USER_UNKNOWN
    assert not Conversation.objects.exists()


def test_delay_warning_suppresses_nothing(world):
    inbound = ingest("dsn_delayed.eml")
    assert inbound.kind == Kind.BOUNCE
    assert not Suppression.objects.exists()


# --- Unsubscribe by reply -------------------------------------------------------------------


def test_reply_saying_only_abmelden_unsubscribes_and_confirms(world):
    inbound = ingest("unsubscribe_de.eml")
    assert inbound.kind == Kind.UNSUBSCRIBE
    world.anna.refresh_from_db()
    assert world.anna.status == Subscriber.Status.UNSUBSCRIBED
    event = ConsentEvent.objects.get(subscriber=world.anna, kind=ConsentEvent.Kind.UNSUBSCRIBED)
    assert event.source == ConsentEvent.Source.EMAIL_REPLY
    assert event.details["campaign_id"] == world.campaign.pk
    confirmation = django_mail.outbox[-1]
    assert confirmation.to == ["anna@example.org"]
    assert confirmation.extra_headers["Auto-Submitted"] == "auto-replied"
    assert "Sie wurden abgemeldet" in confirmation.subject or "unsubscribed" in confirmation.subject
    assert not Conversation.objects.exists()


def test_unsubscribe_in_english_with_mobile_signature(world):
    inbound = ingest("unsubscribe_en.eml")
    assert inbound.kind == Kind.UNSUBSCRIBE
    world.ben.refresh_from_db()
    assert world.ben.status == Subscriber.Status.UNSUBSCRIBED


def test_longer_mail_mentioning_unsubscribe_is_a_human_reply(world):
    body = "I do not want to unsubscribe, but could you send fewer mails? Once a month would be great."
    assert ingest(simple_reply("X-Mailer: x", "Re: Hello", body)).kind == Kind.HUMAN


def test_unsubscribe_from_an_unknown_sender_goes_to_a_person(world):
    raw = simple_reply("X-Mailer: x", "Re: Hello", "stop", to="hello@localhost").replace(
        b"anna@example.org", b"who@unknown.example"
    )
    inbound = ingest(raw)
    assert inbound.kind == Kind.HUMAN
    assert inbound.rule_hits[-1]["reasons"] == [{"code": "unsubscribe_unmatched"}]


# --- Store first, deduplicate, never lose ------------------------------------------------------


def test_the_same_message_twice_is_stored_once(world):
    raw = eml("gmail_reply_en.eml")
    first = ingest(raw)
    # The same message by another route: other line endings and an extra trace header.
    again = services.store_inbound(
        b"Received: from relay2.example\r\n" + raw.replace(b"\n", b"\r\n"), source=InboundMessage.Source.SMTP
    )
    assert again.pk == first.pk and again.duplicate
    assert InboundMessage.objects.count() == 1
    assert Message.objects.count() == 1


def test_empty_unreadable_and_oversized_input_is_refused_clearly(world):
    with pytest.raises(services.RejectedMessage, match="empty"):
        services.store_inbound(b"  \r\n", source="pipe")
    with pytest.raises(services.RejectedMessage, match="no header"):
        services.store_inbound(b"\x00\x01 just garbage without any header", source="pipe")
    with override_settings(INBOUND_MAX_MESSAGE_BYTES=100), pytest.raises(services.MessageTooLarge):
        services.store_inbound(eml("gmail_reply_en.eml"), source="pipe")
    assert not InboundMessage.objects.exists()


def test_a_message_that_crashes_processing_stays_failed_and_can_be_reprocessed(world):
    with mock.patch("replies.pipeline.chain.classify", side_effect=RuntimeError("rule exploded")):
        inbound = ingest("gmail_reply_en.eml")
    assert inbound.status == InboundMessage.Status.FAILED
    assert "rule exploded" in inbound.error
    assert not Conversation.objects.exists()  # nothing half-done
    assert bytes(inbound.raw) == eml("gmail_reply_en.eml")  # the raw message is kept as it came
    with TestCase.captureOnCommitCallbacks(execute=True):
        services.reprocess_inbound(inbound=inbound)  # eager Celery: processed right away
    inbound.refresh_from_db()
    assert inbound.status == InboundMessage.Status.PROCESSED
    assert inbound.attempts == 1  # reprocessing starts the count of claims afresh
    assert Conversation.objects.get().messages.count() == 1


def test_processing_twice_does_nothing_the_second_time(world):
    inbound = ingest("gmail_reply_en.eml")
    services.process_inbound(inbound_id=inbound.pk)
    assert Message.objects.count() == 1


def test_stale_received_messages_are_requeued(world):
    with mock.patch("replies.services.inbound.schedule_drain"):
        inbound = services.store_inbound(eml("gmail_reply_en.eml"), source="pipe")
    InboundMessage.objects.filter(pk=inbound.pk).update(received_at=inbound.received_at.replace(year=2020))
    with TestCase.captureOnCommitCallbacks(execute=True):
        assert services.requeue_stale_inbound() == 1
    inbound.refresh_from_db()
    assert inbound.status == InboundMessage.Status.PROCESSED


# --- Staff answers thread ---------------------------------------------------------------------


def test_staff_answer_is_threaded_signed_and_carries_a_fresh_reply_token(world):
    ingest("gmail_reply_en.eml")
    conversation = Conversation.objects.get()
    django_mail.outbox.clear()
    with TestCase.captureOnCommitCallbacks(execute=True):  # the task sends it after the commit
        answer = services.queue_staff_answer(
            conversation=conversation, author=world.anna_staff, text="Yes, it does."
        )
    answer.refresh_from_db()
    assert answer.send_status == Message.SendStatus.SENT
    sent = django_mail.outbox[-1]
    assert sent.extra_headers["From"] == "Anna Berg <newsletter@localhost>"
    assert sent.from_email == f"bounces+{answer.reply_token}@reply.localhost"  # VERP envelope sender
    assert sent.to == ["anna@example.org"]
    assert sent.extra_headers["In-Reply-To"] == "<CAF=gmail-reply-0001@mail.gmail.com>"
    assert sent.extra_headers["References"].endswith("<CAF=gmail-reply-0001@mail.gmail.com>")
    assert "<20261121100000.1.anna@rundbrief.localhost>" in sent.extra_headers["References"]
    assert sent.reply_to == [f"reply+{answer.reply_token}@reply.localhost"]
    assert answer.reply_token != ANNA_TOKEN
    assert "-- \nAnna Berg\nRedaktion Rundbrief" in sent.body
    assert sent.subject == "Re: Our November newsletter"
    conversation.refresh_from_db()
    assert conversation.waiting_since is None

    # The subscriber answers the answer (to its reply token): same conversation, waiting again.
    raw = simple_reply("X-Mailer: x", "Re: Re: Our November newsletter", "Great, thank you!")
    raw = raw.replace(ANNA_TOKEN.encode(), answer.reply_token.encode())
    inbound = ingest(raw)
    assert inbound.match_method == InboundMessage.MatchMethod.REPLY_TOKEN
    conversation.refresh_from_db()
    assert conversation.messages.count() == 3
    assert conversation.waiting_since is not None
    assert conversation.routing_rule == "campaign_contact"  # the original reason stays
    assert [a["code"] for a in inbound.rule_hits[-1]["actions"][-2:]] == [
        "kept_with_assignee",
        "keep_assignee",
    ]


def test_reply_to_our_answer_by_in_reply_to_only(world):
    ingest("gmail_reply_en.eml")
    conversation = Conversation.objects.get()
    answer = services.queue_staff_answer(conversation=conversation, author=world.anna_staff, text="Yes.")
    raw = simple_reply(f"In-Reply-To: {answer.message_id}", "Re: x", "Thanks", to="hello@localhost").replace(
        b"anna@example.org", b"anna.other-address@example.net"
    )
    inbound = ingest(raw)
    assert inbound.match_method == InboundMessage.MatchMethod.IN_REPLY_TO
    assert Conversation.objects.count() == 1


def test_new_reply_notifies_the_assignee_unless_they_opted_out(world):
    django_mail.outbox.clear()
    ingest("gmail_reply_en.eml")
    notice = django_mail.outbox[-1]
    assert notice.to == [world.anna_staff.email]
    assert notice.extra_headers["Auto-Submitted"] == "auto-generated"
    assert "/inbox/conversations/" in notice.body
    world.anna_staff.staff_profile.notify_by_email = False
    world.anna_staff.staff_profile.save()
    django_mail.outbox.clear()
    ingest("apple_mail_de.eml")
    assert django_mail.outbox == []


def test_closed_conversation_is_reopened_by_a_new_reply(world):
    ingest("gmail_reply_en.eml")
    conversation = Conversation.objects.get()
    services.close(conversation=conversation, actor=world.anna_staff)
    ingest("apple_mail_de.eml")
    conversation.refresh_from_db()
    assert conversation.status == Conversation.Status.OPEN
    assert conversation.messages.count() == 2


def test_erasing_a_subscriber_erases_their_conversations(world):
    from subscribers.services import erase

    ingest("gmail_reply_en.eml")
    erase(subscriber=world.anna, source="admin")
    assert not Conversation.objects.exists()
    assert not InboundMessage.objects.exists()
