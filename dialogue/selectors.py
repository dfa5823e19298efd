"""Reads of the dialogue app: the public archive, a subscriber's letters and conversations."""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import Exists, OuterRef, Q, QuerySet

from campaigns.models import Campaign, Delivery
from dialogue.models import ArchiveRemoval, CallbackRequest, ConversationWish, ReaderLetter, ReaderOverride
from replies.interface import Attachment, Conversation, Message
from subscribers.models import Subscriber, Topic


def public_topics() -> QuerySet[Topic]:
    return Topic.objects.filter(is_public=True).order_by("name")


def public_topic(slug: str) -> Topic | None:
    return public_topics().filter(slug=slug).first()


def archive_issues(topic: Topic) -> QuerySet[Campaign]:
    """The sent issues of a public topic that no marketer took off the archive, newest first."""
    removed = ArchiveRemoval.objects.filter(campaign=OuterRef("pk"))
    return (
        Campaign.objects.filter(topics=topic, status=Campaign.Status.SENT)
        .exclude(Exists(removed))
        .select_related("contact__staff_profile")
        .prefetch_related("versions")  # each issue is shown in the reader's version (list, feed)
        .order_by("-finished_at", "-pk")
        .distinct()
    )


def archive_issue(topic: Topic, campaign_id: int) -> Campaign | None:
    return archive_issues(topic).filter(pk=campaign_id).first()


def is_on_archive(campaign: Campaign) -> bool:
    """Sent, in a public topic, and not taken off by a marketer."""
    return (
        campaign.status == Campaign.Status.SENT
        and campaign.topics.filter(is_public=True).exists()
        and not ArchiveRemoval.objects.filter(campaign=campaign).exists()
    )


def public_topic_of(campaign: Campaign) -> Topic | None:
    return campaign.topics.filter(is_public=True).order_by("pk").first()


def delivery_for(*, subscriber_id: int, campaign_id: int) -> Delivery | None:
    """The subscriber's own mail of this campaign (the web view shows only mail that was theirs)."""
    return (
        Delivery.objects.filter(subscriber_id=subscriber_id, campaign_id=campaign_id)
        .exclude(status__in=[Delivery.Status.SKIPPED])
        .select_related("subscriber", "campaign__contact__staff_profile")
        .first()
    )


def letter_of(*, subscriber_id: int, letter_id: int) -> ReaderLetter | None:
    return (
        ReaderLetter.objects.filter(pk=letter_id, subscriber_id=subscriber_id)
        .select_related("subscriber", "topic")
        .first()
    )


def letters_of_subscriber(subscriber: Subscriber) -> QuerySet[ReaderLetter]:
    return ReaderLetter.objects.filter(subscriber=subscriber).select_related("topic").order_by("-proposed_at")


def letters_of_conversation(conversation_id: int) -> QuerySet[ReaderLetter]:
    return ReaderLetter.objects.filter(conversation_id=conversation_id).order_by("-proposed_at")


def published_letters(topic: Topic | None = None) -> QuerySet[ReaderLetter]:
    letters = ReaderLetter.objects.filter(status=ReaderLetter.Status.PUBLISHED).select_related("topic")
    if topic is not None:
        letters = letters.filter(topic=topic)
    return letters.order_by("-published_at", "-id")


def callbacks_of_conversation(conversation_id: int) -> QuerySet[CallbackRequest]:
    return CallbackRequest.objects.filter(inbound__thread_message__conversation_id=conversation_id)


def subscriber_replies(conversation: Conversation) -> list[Message]:
    """The subscriber's human replies in a conversation (what a reader letter may quote)."""
    return list(
        conversation.messages.filter(direction=Message.Direction.INBOUND, kind="human").order_by("created_at")
    )


@dataclass(frozen=True)
class ReplyTarget:
    """What a browser reply answers: the reply token of that mail, its Message-ID chain, its subject."""

    reply_token: str
    in_reply_to: str
    references: str
    subject: str


def conversation_of(*, subscriber_id: int, conversation_id: int) -> Conversation | None:
    return (
        Conversation.objects.filter(pk=conversation_id, subscriber_id=subscriber_id)
        .select_related("subscriber", "campaign")
        .first()
    )


def conversation_about(delivery: Delivery) -> Conversation | None:
    """The subscriber's latest conversation about this campaign mail, if they wrote about it."""
    return (
        Conversation.objects.filter(subscriber_id=delivery.subscriber_id, campaign_id=delivery.campaign_id)
        .select_related("subscriber", "campaign")
        .order_by("-created_at", "-pk")
        .first()
    )


def thread(conversation: Conversation) -> list[Message]:
    """What the subscriber sees of a conversation: their own replies and our answers that went out
    (no internal notes, no drafts, no automatic mail)."""
    shown = Q(direction=Message.Direction.INBOUND, kind="human") | Q(
        direction=Message.Direction.OUTBOUND, send_status=Message.SendStatus.SENT
    )
    return list(
        conversation.messages.filter(shown).prefetch_related("attachments").order_by("created_at", "id")
    )


def target_in_conversation(conversation: Conversation) -> ReplyTarget | None:
    """A browser reply answers our latest answer (its reply token), else the campaign mail the
    conversation began with; None when there is no address of ours to answer."""
    messages = conversation.messages.order_by("-created_at", "-id")
    last = messages.first()
    answer = messages.filter(direction=Message.Direction.OUTBOUND).exclude(reply_token=None).first()
    if answer is not None:
        token = answer.reply_token
    else:
        first = conversation.messages.filter(delivery__isnull=False).select_related("delivery").first()
        if first is None:
            return None
        token = first.delivery.reply_token
    return ReplyTarget(
        reply_token=token,
        in_reply_to=last.message_id if last else "",
        references=last.references if last else "",
        subject=conversation.subject,
    )


def target_of_delivery(delivery: Delivery) -> ReplyTarget:
    return ReplyTarget(
        reply_token=delivery.reply_token,
        in_reply_to=delivery.message_id,
        references="",
        subject=delivery.campaign.subject,
    )


def callbacks_of_subscriber(subscriber_id: int, conversation_id: int | None) -> QuerySet[CallbackRequest]:
    requests = CallbackRequest.objects.filter(subscriber_id=subscriber_id)
    if conversation_id is None:
        return requests.none()
    return requests.filter(inbound__thread_message__conversation_id=conversation_id)


def wish_of(conversation: Conversation) -> ConversationWish | None:
    return ConversationWish.objects.filter(conversation=conversation).first()


def conversations_of_subscriber(subscriber: Subscriber) -> QuerySet[Conversation]:
    """My conversations (the preference centre): all but those I deleted, newest first."""
    return (
        Conversation.objects.filter(subscriber=subscriber)
        .exclude(dialogue_wish__deleted_by_subscriber_at__isnull=False)
        .select_related("campaign", "dialogue_wish")
        .order_by("-created_at", "-pk")
    )


def restricted_for(user) -> QuerySet[Conversation]:
    """Conversations kept for their contact person that this manager has not opened by override."""
    return (
        Conversation.objects.filter(dialogue_wish__readers=ConversationWish.Readers.CONTACT)
        .exclude(assignee=user)
        .exclude(reader_overrides__manager=user)
        .select_related("assignee")
        .order_by("-created_at")
    )


def overrides_of(conversation_id: int) -> QuerySet[ReaderOverride]:
    return ReaderOverride.objects.filter(conversation_id=conversation_id).select_related("manager")


def attachment_in(conversation: Conversation, attachment_id: int) -> Attachment | None:
    """An attachment of a message the subscriber sees in this conversation (dialogue.selectors.thread)."""
    shown = [message.pk for message in thread(conversation)]
    return Attachment.objects.filter(pk=attachment_id, message_id__in=shown).first()
