"""Writes for replies: store inbound mail, process it, and everything staff do to a conversation.

One module per job; this package re-exports their public API, so callers keep using
`from replies import services` and `from replies.services import ...`:

- inbound: storing inbound mail (durably, once) and what it refuses
- processing: drains and batches that process stored mail, retries, reprocessing
- claims: claims of inbound messages (counted in the row, locked for the claimer)
- answers: staff answers, their sending, retries and sending again
- conversations: notes, reassigning, close/reopen/snooze, erasure
- automatic: our automatic mail (notifications, unsubscribe confirmation)
"""

from replies.services.answers import (
    STAFF_REPLY_MAX_ATTEMPTS,
    STAFF_REPLY_RETRY_BASE_SECONDS,
    STAFF_REPLY_STUCK_AFTER,
    ReplyNotPossible,
    SendOutcome,
    TemporarySendError,
    can_resend,
    classify_send_error,
    deliver_staff_reply,
    requeue_stuck_staff_replies,
    resend_staff_reply,
    send_staff_reply,
    staff_reply_email,
)
from replies.services.automatic import notify_assignee, notify_reassigned, send_unsubscribe_confirmation
from replies.services.claims import Claim, claim_limit_error
from replies.services.conversations import add_note, close, erase_conversations, reassign, reopen, snooze
from replies.services.inbound import (
    InboundError,
    MessageTooLarge,
    RejectedMessage,
    StorageUnavailable,
    dedupe_key,
    store_inbound,
)
from replies.services.processing import (
    DRAIN_LINGER_SECONDS,
    DRAIN_MAX_BATCHES,
    DRAIN_PENDING_KEY,
    DRAIN_PENDING_SECONDS,
    PROCESS_BATCH_SIZE,
    PROCESSED_FIELDS,
    BatchLookups,
    drain_inbound,
    process_inbound,
    process_received_batch,
    process_retry,
    reprocess_inbound,
    requeue_stale_inbound,
    schedule_drain,
)

__all__ = [
    # inbound
    "InboundError",
    "RejectedMessage",
    "MessageTooLarge",
    "StorageUnavailable",
    "dedupe_key",
    "store_inbound",
    # processing
    "DRAIN_PENDING_KEY",
    "DRAIN_LINGER_SECONDS",
    "DRAIN_PENDING_SECONDS",
    "PROCESS_BATCH_SIZE",
    "DRAIN_MAX_BATCHES",
    "PROCESSED_FIELDS",
    "BatchLookups",
    "schedule_drain",
    "drain_inbound",
    "process_inbound",
    "process_received_batch",
    "process_retry",
    "reprocess_inbound",
    "requeue_stale_inbound",
    # claims
    "Claim",
    "claim_limit_error",
    # answers
    "ReplyNotPossible",
    "STAFF_REPLY_MAX_ATTEMPTS",
    "STAFF_REPLY_RETRY_BASE_SECONDS",
    "STAFF_REPLY_STUCK_AFTER",
    "TemporarySendError",
    "SendOutcome",
    "send_staff_reply",
    "staff_reply_email",
    "classify_send_error",
    "deliver_staff_reply",
    "can_resend",
    "resend_staff_reply",
    "requeue_stuck_staff_replies",
    # conversations
    "add_note",
    "reassign",
    "close",
    "reopen",
    "snooze",
    "erase_conversations",
    # automatic
    "notify_assignee",
    "notify_reassigned",
    "send_unsubscribe_confirmation",
]
