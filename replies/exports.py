"""What replies stores about a subscriber, for their data download (see subscribers.exports):
conversations with every message, attachments, the raw mails they sent, and staff notes."""

from __future__ import annotations

import io

from django.utils.translation import gettext_lazy as _

from replies.models import Conversation, ConversationEvent, InboundMessage
from replies.selectors import staff_display_name
from subscribers import exports
from subscribers.models import Subscriber


def _conversations(subscriber: Subscriber):
    return Conversation.objects.filter(subscriber=subscriber).order_by("created_at", "pk")


def _raw(inbound_id: int) -> io.BytesIO:
    return io.BytesIO(bytes(InboundMessage.objects.values_list("raw", flat=True).get(pk=inbound_id)))


def _collect(subscriber: Subscriber) -> exports.SectionData:
    records, files = [], []
    conversations = _conversations(subscriber).select_related("campaign")
    for conversation in conversations.prefetch_related("messages__attachments", "events__actor"):
        messages = []
        for message in conversation.messages.all():
            record = {
                "direction": message.direction,
                "from": message.from_address,
                "to": message.to_address,
                "subject": message.subject,
                "text": message.text,
                "html": message.html,
                "created_at": message.created_at,
                "sent_at": message.sent_at,
                "message_id": message.message_id,
                "attachments": [],
            }
            folder = f"{conversation.pk}/{message.pk}"
            if message.inbound_id:
                record["original"] = {}
                files.append(
                    exports.ExportFile(
                        f"{folder}/original.eml", lambda pk=message.inbound_id: _raw(pk), record["original"]
                    )
                )
            for attachment in message.attachments.all():
                entry = {"filename": attachment.filename, "content_type": attachment.content_type}
                entry["size"] = attachment.size
                record["attachments"].append(entry)
                opener = attachment.file.open  # noqa: B023 - bound method of this attachment's file
                files.append(
                    exports.ExportFile(f"{folder}/{attachment.filename}", lambda o=opener: o("rb"), entry)
                )
            messages.append(record)
        notes = [
            {
                "created_at": event.created_at,
                "author": staff_display_name(event.actor) if event.actor else "",
                "text": event.text,
            }
            for event in conversation.events.all()
            if event.kind == ConversationEvent.Kind.NOTE
        ]
        records.append(
            {
                "subject": conversation.subject,
                "campaign": conversation.campaign.name if conversation.campaign else None,
                "status": conversation.status,
                "created_at": conversation.created_at,
                "messages": messages,
                "staff_notes": notes,
            }
        )
    return exports.SectionData(records=records, files=files)


def register() -> None:
    """Called from RepliesConfig.ready."""
    exports.register(
        exports.Section(
            key="conversations",
            label=_("Your replies and our answers, with attachments and staff notes"),
            count=lambda subscriber: _conversations(subscriber).count(),
            collect=_collect,
        )
    )
