"""Writes for replies: store inbound mail, process it, and everything staff do to a conversation.

One module per job; this package re-exports their public API, so callers keep using
`from replies import services` and `from replies.services import ...`:

- inbound: storing inbound mail (durably, once) and what it refuses
- drains: when a drain is queued, what it does, reprocessing and the stale-mail sweeper
- batches: processing claimed mail in batches (the decision itself: replies.pipeline.chain)
- claims: claims of inbound messages (counted in the row, locked for the claimer)
- answers: staff answers, queued, sent by a task, retried, sent again
- conversations: notes, reassigning, close/reopen/snooze, erasure
- automatic: our automatic mail (notifications, unsubscribe confirmation)
"""

from replies.services.answers import (
    STAFF_ANSWER_STUCK_AFTER,
    ReplyNotPossible,
    SendOutcome,
    can_resend,
    queue_staff_answer,
    requeue_stuck_staff_answers,
    resend_staff_answer,
    send_staff_answer,
    staff_answer_email,
    start_conversation,
    take_back,
    undo_window,
)
from replies.services.automatic import notify_assignee, notify_reassigned, send_unsubscribe_confirmation
from replies.services.batches import (
    PROCESS_BATCH_SIZE,
    PROCESSED_FIELDS,
    BatchLookups,
    process_inbound,
    process_large,
    process_received_batch,
    process_retry,
)
from replies.services.claims import Claim, claim_limit_error
from replies.services.conversations import add_note, close, erase_conversations, reassign, reopen, snooze
from replies.services.drains import (
    DRAIN_LINGER_SECONDS,
    DRAIN_MAX_BATCHES,
    DRAIN_MAX_SECONDS,
    DRAIN_PENDING_KEY,
    DRAIN_PENDING_SECONDS,
    drain_inbound,
    reprocess_inbound,
    requeue_stale_inbound,
    schedule_drain,
)
from replies.services.inbound import (
    InboundError,
    MessageTooLarge,
    RejectedMessage,
    StorageUnavailable,
    content_key,
    dedupe_key,
    split_message,
    store_inbound,
)

__all__ = [
    # inbound
    "InboundError",
    "RejectedMessage",
    "MessageTooLarge",
    "StorageUnavailable",
    "content_key",
    "dedupe_key",
    "split_message",
    "store_inbound",
    # drains
    "DRAIN_PENDING_KEY",
    "DRAIN_LINGER_SECONDS",
    "DRAIN_PENDING_SECONDS",
    "DRAIN_MAX_BATCHES",
    "DRAIN_MAX_SECONDS",
    "schedule_drain",
    "drain_inbound",
    "reprocess_inbound",
    "requeue_stale_inbound",
    # batches
    "PROCESS_BATCH_SIZE",
    "PROCESSED_FIELDS",
    "BatchLookups",
    "process_inbound",
    "process_large",
    "process_received_batch",
    "process_retry",
    # claims
    "Claim",
    "claim_limit_error",
    # answers
    "ReplyNotPossible",
    "STAFF_ANSWER_STUCK_AFTER",
    "SendOutcome",
    "queue_staff_answer",
    "staff_answer_email",
    "start_conversation",
    "send_staff_answer",
    "can_resend",
    "resend_staff_answer",
    "requeue_stuck_staff_answers",
    "take_back",
    "undo_window",
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
