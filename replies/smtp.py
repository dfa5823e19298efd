"""The inbound SMTP/LMTP receiver (aiosmtpd), for a self-hosted MX or a Postfix transport.

It answers 250 only after the raw message is committed to the database; a temporary
451 when it cannot store (the sending MTA keeps the mail and retries); 552 over the
size limit (aiosmtpd enforces data_size_limit, also for SIZE= in MAIL FROM); 554 for
input that is not an email at all. The database work runs in a thread pool, never on
the event loop.

Lines of any length are accepted (up to the size limit): RFC 5321's 1,000-character limit
binds senders, and real mail breaks it; `ingest_email` takes the same message, so the
receiver must too (aiosmtpd's default answers "500 Line too long" and the mail is lost).

Memory stays bounded when many big messages arrive at once: aiosmtpd holds a message's lines,
then their join, and storing it adds the database driver's copy, so each message in DATA costs a
few times its size. All sessions share one byte budget (INBOUND_SMTP_BUFFER_BYTES, by default
one message of the largest size plus 8 MiB, so small messages pass beside a big one): DATA first
reserves the size the client declared in ``MAIL FROM ... SIZE=`` (RFC 1870; Postfix and other
MTAs declare it, because we advertise SIZE), or the size limit when it declared none, and gives
it back after the answer. A session that finds the budget taken waits up to
INBOUND_SMTP_BUFFER_WAIT_SECONDS, then gets ``451 4.3.1`` (a load condition, so a temporary
answer: the sending MTA retries, nothing is lost). What remains: a client that declares a SIZE
smaller than what it sends holds more than its share, at most the size limit. Measured with
bench/inbound_memory.py (6 clients x 24 MB at once): 248 MB peak RSS, 710 MB without the budget.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from aiosmtpd.controller import Controller
from aiosmtpd.lmtp import LMTP
from aiosmtpd.smtp import SMTP, Envelope, Session
from django.conf import settings
from django.db import DatabaseError, connections

from replies import services
from replies.models import InboundMessage

logger = logging.getLogger(__name__)

Store = Callable[..., InboundMessage]

# Room kept beside one message of the largest size in the default budget.
SMALL_MESSAGES_BESIDE = 8 * 1024 * 1024


def _store_in_thread(store: Store, raw: bytes, source: str, envelope: Envelope) -> InboundMessage:
    try:
        return store(
            raw, source=source, envelope_from=envelope.mail_from or "", envelope_to=envelope.rcpt_tos
        )
    except services.StorageUnavailable:
        # A connection that died while idle (database restarted): drop it and try once more.
        for conn in connections.all(initialized_only=True):
            conn.close()
        return store(
            raw, source=source, envelope_from=envelope.mail_from or "", envelope_to=envelope.rcpt_tos
        )


class InboundHandler:
    """aiosmtpd handler: store the message, answer after the commit."""

    def __init__(self, *, lmtp: bool = False, store: Store | None = None, threads: int = 8) -> None:
        self.source = InboundMessage.Source.LMTP if lmtp else InboundMessage.Source.SMTP
        self.lmtp = lmtp
        self.store = store or services.store_inbound
        self.threads = threads
        self.executor = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="inbound-store")

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        raw = envelope.original_content or b""
        loop = asyncio.get_running_loop()
        try:
            inbound = await loop.run_in_executor(
                self.executor, _store_in_thread, self.store, raw, self.source, envelope
            )
        except services.MessageTooLarge as exc:
            status = f"552 5.3.4 {exc}"
        except services.RejectedMessage as exc:
            status = f"554 5.6.0 {exc}"
        except (services.StorageUnavailable, DatabaseError) as exc:
            logger.error("could not store inbound message, answering 451: %s", exc)
            status = "451 4.3.0 Temporary failure storing the message, please try again later"
        except Exception:
            logger.exception("unexpected error storing inbound message, answering 451")
            status = "451 4.3.0 Temporary failure storing the message, please try again later"
        else:
            status = f"250 2.0.0 Stored as #{inbound.pk}"
        if self.lmtp:
            # LMTP (RFC 2033) answers once per recipient after DATA.
            return "\r\n".join([status] * max(1, len(envelope.rcpt_tos)))
        return status

    def shutdown(self) -> None:
        """Close every storing thread's database connection, then the pool.

        One closing job per thread: each waits at a barrier until all are running, so no
        thread can take two of them and every thread's own connection gets closed.
        """
        threads = self.threads
        barrier = threading.Barrier(threads, timeout=10)

        def close_own_connection() -> None:
            with contextlib.suppress(threading.BrokenBarrierError):
                barrier.wait()
            connections.close_all()

        for _ in range(threads):
            self.executor.submit(close_own_connection)
        self.executor.shutdown(wait=True)


class DataBudget:
    """Bytes of message data that the receiver's sessions may hold at once (one event loop)."""

    def __init__(self, total: int) -> None:
        self.total = max(1, total)
        self.used = 0
        self._condition: asyncio.Condition | None = None

    def _cond(self) -> asyncio.Condition:
        if self._condition is None:  # made inside the controller's loop, on first use
            self._condition = asyncio.Condition()
        return self._condition

    async def reserve(self, size: int, timeout: float) -> int | None:
        """Reserve `size` bytes (at most the whole budget); None when the wait timed out."""
        size = min(max(1, size), self.total)
        cond = self._cond()
        async with cond:
            try:
                await asyncio.wait_for(cond.wait_for(lambda: self.used + size <= self.total), timeout)
            except TimeoutError:
                return None
            self.used += size
        return size

    async def release(self, size: int) -> None:
        cond = self._cond()
        async with cond:
            self.used -= size
            cond.notify_all()


def declared_size(mail_options: list[str]) -> int | None:
    """The SIZE= a client declared in MAIL FROM (aiosmtpd checked it against the limit)."""
    for option in mail_options:
        name, _, value = option.partition("=")
        if name.upper() == "SIZE" and value.isdigit():
            return int(value)
    return None


class _BoundedData:
    """DATA only within the shared byte budget (see the module's docstring)."""

    budget: DataBudget
    budget_wait_seconds: float

    async def smtp_DATA(self, arg: str) -> None:
        wanted = declared_size(self.envelope.mail_options) or self.data_size_limit
        reserved = await self.budget.reserve(wanted, self.budget_wait_seconds)
        if reserved is None:
            logger.warning("inbound receiver busy with large messages: answering DATA with 451")
            await self.push("451 4.3.1 Too many large messages at once, please try again later")
            return
        try:
            await super().smtp_DATA(arg)
        finally:
            await self.budget.release(reserved)


class _LongLines:
    """aiosmtpd's SMTP/LMTP with its line length limit (1,001 bytes) raised to `line_length_limit`.

    aiosmtpd reads with an asyncio StreamReader whose limit is this value, so it also bounds
    what one connection buffers; data_size_limit still bounds the message.
    """

    def __init__(self, *args: object, line_length_limit: int, **kwargs: object) -> None:
        self.line_length_limit = line_length_limit  # read by SMTP.__init__ for its StreamReader
        super().__init__(*args, **kwargs)


class LongLineSMTP(_BoundedData, _LongLines, SMTP):
    pass


class LongLineLMTP(_BoundedData, _LongLines, LMTP):
    pass


class InboundController(Controller):
    """aiosmtpd's threaded controller, building an SMTP or LMTP server around our handler."""

    def __init__(
        self,
        handler: InboundHandler,
        *,
        host: str,
        port: int,
        max_bytes: int | None = None,
        buffer_bytes: int | None = None,
        buffer_wait_seconds: float | None = None,
    ) -> None:
        limit = max_bytes if max_bytes is not None else settings.INBOUND_MAX_MESSAGE_BYTES
        self.budget = DataBudget(
            buffer_bytes or settings.INBOUND_SMTP_BUFFER_BYTES or limit + SMALL_MESSAGES_BESIDE
        )
        self.budget_wait_seconds = (
            buffer_wait_seconds
            if buffer_wait_seconds is not None
            else settings.INBOUND_SMTP_BUFFER_WAIT_SECONDS
        )
        # A line may be as long as the whole message (plus its CRLF), and no longer.
        self.line_length_limit = max(SMTP.line_length_limit, limit + 2)
        super().__init__(
            handler,
            hostname=host,
            port=port,
            data_size_limit=limit,
            enable_SMTPUTF8=True,
            server_hostname=settings.REPLY_DOMAIN,
        )

    def factory(self) -> SMTP:
        server_class = LongLineLMTP if self.handler.lmtp else LongLineSMTP
        server = server_class(self.handler, line_length_limit=self.line_length_limit, **self.SMTP_kwargs)
        server.budget = self.budget
        server.budget_wait_seconds = self.budget_wait_seconds
        return server

    def stop(self, no_assert: bool = False) -> None:
        super().stop(no_assert=no_assert)
        self.handler.shutdown()
