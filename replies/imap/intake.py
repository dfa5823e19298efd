"""Reading IMAP mailboxes into the inbound store (imapclient), IDLE where the server has it.

For one mailbox, each check does, in UID order, for every message above the last UID handled:

1. fetch its size and flags; a message flagged $RundbriefRefused earlier is passed over;
2. fetch the raw bytes with BODY.PEEK[] (which leaves \\Seen alone) and store them with
   `replies.services.store_inbound` (committed when it returns; a duplicate returns the row
   stored before);
3. only then mark it on the server (moved to the "stored" folder, or \\Seen plus $Rundbrief);
4. only then advance the mailbox's last UID.

A crash between two steps re-reads the message on the next check, and the store dedupes it.
The store refusing a message for good (too large, not an email) moves it to the "refused"
folder or flags it, records an ImapRefusal, and advances: it is never lost and never read
again. The database being unreachable (StorageUnavailable) stops the check before anything is
marked: the message is read again later. A changed UIDVALIDITY means the server renumbered the
folder: reading starts again at UID 1, and the store's deduplication keeps that safe.
"""

from __future__ import annotations

import contextlib
import logging
import random
import socket
import ssl
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from email.parser import BytesHeaderParser

from django.conf import settings
from django.db import DatabaseError, close_old_connections, connections
from django.db.models import F
from django.db.models.functions import Greatest
from django.utils import timezone
from imapclient import IMAPClient
from imapclient.exceptions import IMAPClientError
from imapclient.imapclient import SocketTimeout

from replies import services
from replies.models import ImapMailbox, ImapRefusal, InboundMessage
from replies.parsing import POLICY, safe_header
from rundbrief.secretbox import SecretUnreadable

logger = logging.getLogger(__name__)

STORED_KEYWORD = "$Rundbrief"
REFUSED_KEYWORD = "$RundbriefRefused"
FETCH_CHUNK = 50
IDLE_SLICE_SECONDS = 5.0  # how long one wait inside IDLE lasts before stop is looked at again

# What a broken connection or a misbehaving server raises; all of them mean "reconnect".
CONNECTION_ERRORS: tuple[type[BaseException], ...] = (IMAPClientError, OSError, ssl.SSLError, EOFError)


class ConnectionDropped(Exception):
    """The server closed the connection (BYE, or EOF while idling)."""


class MailboxUnusable(Exception):
    """The configuration cannot work as it is (e.g. the password cannot be decrypted)."""


@dataclass
class CheckResult:
    stored: int = 0
    duplicates: int = 0
    refused: int = 0
    uidvalidity_changed: bool = False
    uids: list[int] = field(default_factory=list)


class Backoff:
    """Exponential waits with jitter between attempts: 1, 2, 4 ... seconds up to a ceiling."""

    def __init__(self, *, ceiling: float, base: float = 1.0) -> None:
        self.ceiling = max(base, ceiling)
        self.base = base
        self.failures = 0

    def reset(self) -> None:
        self.failures = 0

    def next_wait(self) -> float:
        wait = min(self.ceiling, self.base * 2**self.failures)
        self.failures += 1
        return wait * random.uniform(0.8, 1.0)


def connect(mailbox: ImapMailbox) -> IMAPClient:
    """Log in and select the mailbox's folder (read-write); creates the target folders if missing."""
    try:
        password = mailbox.get_password()
    except SecretUnreadable as exc:
        raise MailboxUnusable(
            "The stored password cannot be decrypted (SECRET_KEY changed?): enter it again in the admin."
        ) from exc
    timeout = settings.IMAP_TIMEOUT_SECONDS
    context = ssl.create_default_context()
    client = IMAPClient(
        mailbox.host,
        port=mailbox.port,
        ssl=mailbox.security == ImapMailbox.Security.SSL,
        ssl_context=context,
        timeout=SocketTimeout(connect=min(timeout, 20), read=timeout),
    )
    try:
        if mailbox.security == ImapMailbox.Security.STARTTLS:
            client.starttls(context)
        client.login(mailbox.username, password)
        for folder in {mailbox.processed_folder, mailbox.refused_folder} - {""}:
            if not client.folder_exists(folder):
                client.create_folder(folder)
                client.subscribe_folder(folder)
        client.select_folder(mailbox.folder)
    except BaseException:
        _close_quietly(client)
        raise
    return client


class MailboxReader:
    """Reads one mailbox: `check(client)` once, or `run(stop)` until stopped (IDLE or polling)."""

    def __init__(self, mailbox: ImapMailbox) -> None:
        self.mailbox = mailbox
        self.limit = settings.INBOUND_MAX_MESSAGE_BYTES

    # --- one check ----------------------------------------------------------------------
    def check(self, client: IMAPClient) -> CheckResult:
        """Store every message above the last UID handled. Raises StorageUnavailable (nothing
        after the failing message is touched) and connection errors."""
        result = CheckResult()
        # A fresh SELECT: the folder's current UIDVALIDITY and flags, and every message that
        # arrived since the last one.
        selected = client.select_folder(self.mailbox.folder)
        result.uidvalidity_changed = self._adopt_uidvalidity(int(selected[b"UIDVALIDITY"]))
        last_uid = self.mailbox.last_uid
        # "n:*" always includes the highest UID, even when it is below n: filter here.
        uids = sorted(uid for uid in client.search(["UID", f"{last_uid + 1}:*"]) if uid > last_uid)
        # Keywords only where the server keeps them (RFC 3501: \* in PERMANENTFLAGS).
        keywords = b"\\*" in selected.get(b"PERMANENTFLAGS", (b"\\*",))
        for start in range(0, len(uids), FETCH_CHUNK):
            chunk = uids[start : start + FETCH_CHUNK]
            meta = client.fetch(chunk, ["RFC822.SIZE", "FLAGS"])
            for uid in chunk:
                info = meta.get(uid)
                if info is None:  # expunged by someone else meanwhile
                    self._advance(uid)
                    continue
                flags = {_text(flag) for flag in info.get(b"FLAGS", ())}
                if REFUSED_KEYWORD in flags:  # refused before a UIDVALIDITY change: leave it be
                    self._advance(uid)
                    continue
                self._handle(client, uid, int(info.get(b"RFC822.SIZE", 0)), keywords, result)
                result.uids.append(uid)
        self._record_checked()
        return result

    def _handle(self, client: IMAPClient, uid: int, size: int, keywords: bool, result: CheckResult) -> None:
        if size > self.limit:
            headers = _fetch(client, uid, b"BODY.PEEK[HEADER]", b"BODY[HEADER]")
            reason = services.MessageTooLarge(
                f"The message is {size} bytes; the limit is {self.limit} bytes."
            )
            self._refuse(client, uid, headers, size, reason, keywords)
            result.refused += 1
            return
        raw = _fetch(client, uid, b"BODY.PEEK[]", b"BODY[]")
        if raw is None:  # expunged between the two fetches
            self._advance(uid)
            return
        headers = BytesHeaderParser(policy=POLICY).parsebytes(raw)
        try:
            inbound = services.store_inbound(
                raw,
                source=InboundMessage.Source.IMAP,
                envelope_from=_return_path(headers),
            )
        except services.RejectedMessage as exc:
            self._refuse(client, uid, raw, len(raw), exc, keywords)
            result.refused += 1
            return
        # Committed: now (and only now) the server may be told.
        self._mark_stored(client, uid, keywords)
        self._advance(uid, stored=not inbound.duplicate)
        if inbound.duplicate:
            result.duplicates += 1
        else:
            result.stored += 1
            logger.info("IMAP %s: UID %s stored as inbound #%s", self.mailbox, uid, inbound.pk)

    def _refuse(
        self, client: IMAPClient, uid: int, raw: bytes | None, size: int, reason: Exception, keywords: bool
    ) -> None:
        headers = BytesHeaderParser(policy=POLICY).parsebytes(raw or b"")
        folder = self.mailbox.refused_folder or self.mailbox.folder
        # Recorded before the server is touched: a failure in between leaves a second record
        # on the next attempt, never a refused message nobody knows about.
        ImapRefusal.objects.create(
            mailbox=self.mailbox,
            uidvalidity=self.mailbox.uidvalidity or 0,
            uid=uid,
            message_id=safe_header(headers, "Message-ID")[:998],
            from_address=safe_header(headers, "From")[:998],
            subject=safe_header(headers, "Subject")[:998],
            size=size,
            reason=str(reason),
            left_in=folder,
        )
        if self.mailbox.refused_folder:
            _move(client, uid, folder)
        else:
            client.add_flags([uid], [b"\\Flagged", *([REFUSED_KEYWORD.encode()] if keywords else [])])
        ImapMailbox.objects.filter(pk=self.mailbox.pk).update(refused_count=F("refused_count") + 1)
        self._advance(uid)
        logger.warning("IMAP %s: UID %s refused (%s), left in %s", self.mailbox, uid, reason, folder)

    def _mark_stored(self, client: IMAPClient, uid: int, keywords: bool) -> None:
        if self.mailbox.processed_folder:
            _move(client, uid, self.mailbox.processed_folder)
        else:
            client.add_flags([uid], [b"\\Seen", *([STORED_KEYWORD.encode()] if keywords else [])])

    # --- the mailbox's reading state ----------------------------------------------------
    def _adopt_uidvalidity(self, uidvalidity: int) -> bool:
        """Start over at UID 1 when the folder was renumbered; True when that happened."""
        known = self.mailbox.uidvalidity
        if known == uidvalidity:
            return False
        changed = known is not None
        if changed:
            logger.warning(
                "IMAP %s: UIDVALIDITY changed from %s to %s; reading the folder again from UID 1 "
                "(messages stored before are recognised as duplicates)",
                self.mailbox,
                known,
                uidvalidity,
            )
        ImapMailbox.objects.filter(pk=self.mailbox.pk).update(uidvalidity=uidvalidity, last_uid=0)
        self.mailbox.uidvalidity, self.mailbox.last_uid = uidvalidity, 0
        return changed

    def _advance(self, uid: int, *, stored: bool = False) -> None:
        updates: dict = {"last_uid": Greatest(F("last_uid"), uid)}
        if stored:
            updates["stored_count"] = F("stored_count") + 1
        ImapMailbox.objects.filter(pk=self.mailbox.pk, uidvalidity=self.mailbox.uidvalidity).update(**updates)
        self.mailbox.last_uid = max(self.mailbox.last_uid, uid)

    def _record_checked(self) -> None:
        now = timezone.now()
        ImapMailbox.objects.filter(pk=self.mailbox.pk).update(last_checked_at=now, last_error="")
        self.mailbox.last_checked_at = now

    def record_error(self, error: BaseException) -> None:
        text = f"{type(error).__name__}: {error}"[:2000]
        try:
            ImapMailbox.objects.filter(pk=self.mailbox.pk).update(
                last_error=text, last_error_at=timezone.now()
            )
        except DatabaseError:  # the database may be the thing that is down
            _close_database_connections()

    # --- the long-running loop ------------------------------------------------------------
    def run(self, stop: threading.Event) -> None:
        """Check, then wait (IDLE, else poll), until stop is set; reconnect with backoff on errors."""
        backoff = Backoff(ceiling=settings.IMAP_RETRY_MAX_SECONDS)
        while not stop.is_set():
            client = None
            try:
                close_old_connections()
                client = connect(self.mailbox)
                logger.info("IMAP %s: connected to %s:%s", self.mailbox, self.mailbox.host, self.mailbox.port)
                idle = self.mailbox.use_idle and b"IDLE" in client.capabilities()
                while not stop.is_set():
                    try:
                        self.check(client)
                    except (services.StorageUnavailable, DatabaseError) as exc:
                        # Nothing was marked; the same messages are read again after the wait.
                        logger.error("IMAP %s: cannot store, will read again: %s", self.mailbox, exc)
                        _close_database_connections()
                        stop.wait(backoff.next_wait())
                        continue
                    backoff.reset()
                    close_old_connections()
                    if idle:
                        self._idle(client, stop)
                    else:
                        self._poll_wait(client, stop)
            except MailboxUnusable as exc:
                logger.error("IMAP %s: %s", self.mailbox, exc)
                self.record_error(exc)
                stop.wait(settings.IMAP_RETRY_MAX_SECONDS)
            except (*CONNECTION_ERRORS, ConnectionDropped) as exc:
                wait = backoff.next_wait()
                logger.warning("IMAP %s: %s; reconnecting in %.1f s", self.mailbox, _describe(exc), wait)
                self.record_error(exc)
                stop.wait(wait)
            except Exception as exc:  # a bug must not end the reader for good
                wait = backoff.next_wait()
                logger.exception("IMAP %s: unexpected error; reconnecting in %.1f s", self.mailbox, wait)
                self.record_error(exc)
                stop.wait(wait)
            finally:
                if client is not None:
                    _close_quietly(client)
        _close_database_connections()

    def _idle(self, client: IMAPClient, stop: threading.Event) -> None:
        """Wait in IDLE until the server reports something, stop is set, or it is time to renew."""
        client.idle()
        deadline = time.monotonic() + settings.IMAP_IDLE_SECONDS
        try:
            while not stop.is_set() and time.monotonic() < deadline:
                started = time.monotonic()
                responses = client.idle_check(timeout=IDLE_SLICE_SECONDS)
                if any(_is_bye(response) for response in responses):
                    raise ConnectionDropped("the server said BYE")
                if responses:
                    return
                # idle_check returns nothing before its timeout only when the socket hit EOF.
                if time.monotonic() - started < IDLE_SLICE_SECONDS * 0.5:
                    raise ConnectionDropped("the server closed the connection while idling")
        finally:
            with _suppress_connection_errors():
                client.idle_done()

    def _poll_wait(self, client: IMAPClient, stop: threading.Event) -> None:
        stop.wait(self.mailbox.poll_seconds)
        if not stop.is_set():
            client.noop()


# --- every mailbox of the installation ----------------------------------------------------


def enabled_mailboxes(names: Iterable[str] = ()) -> list[ImapMailbox]:
    queryset = ImapMailbox.objects.filter(enabled=True)
    names = list(names)
    if names:
        queryset = queryset.filter(name__in=names)
    return list(queryset)


def check_once(mailbox: ImapMailbox) -> CheckResult:
    """Connect, check, log out: for `run_imap_intake --once` and the admin's "check now"."""
    client = connect(mailbox)
    try:
        return MailboxReader(mailbox).check(client)
    finally:
        _close_quietly(client)


def run_intake(stop: threading.Event, *, names: Iterable[str] = ()) -> None:
    """One reader thread per enabled mailbox; the list is re-read every IMAP_RELOAD_SECONDS, and a
    mailbox whose configuration changed (or that was disabled or deleted) gets a fresh reader."""
    names = list(names)
    running: dict[int, tuple[threading.Thread, threading.Event, object]] = {}
    while True:
        try:
            close_old_connections()
            wanted = {mailbox.pk: mailbox for mailbox in enabled_mailboxes(names)}
        except DatabaseError as exc:
            logger.error("IMAP intake: cannot read the mailbox list (keeping the readers running): %s", exc)
            _close_database_connections()
            wanted = None
        if wanted is not None:
            for pk, (thread, thread_stop, version) in list(running.items()):
                if pk not in wanted or wanted[pk].updated_at != version or not thread.is_alive():
                    thread_stop.set()
                    thread.join(timeout=settings.IMAP_TIMEOUT_SECONDS)
                    del running[pk]
            for pk, mailbox in wanted.items():
                if pk not in running:
                    thread_stop = threading.Event()
                    reader = MailboxReader(mailbox)
                    thread = threading.Thread(
                        target=reader.run, args=(thread_stop,), name=f"imap-{mailbox.pk}", daemon=True
                    )
                    thread.start()
                    running[pk] = (thread, thread_stop, mailbox.updated_at)
            _close_database_connections()
        if stop.wait(settings.IMAP_RELOAD_SECONDS):
            break
    for _thread, thread_stop, _version in running.values():
        thread_stop.set()
    for thread, _thread_stop, _version in running.values():
        thread.join(timeout=settings.IMAP_TIMEOUT_SECONDS)


# --- small helpers ------------------------------------------------------------------------


def _fetch(client: IMAPClient, uid: int, item: bytes, key: bytes) -> bytes | None:
    data = client.fetch([uid], [item.decode()]).get(uid)
    if data is None:
        return None
    return data.get(key)


def _move(client: IMAPClient, uid: int, folder: str) -> None:
    """MOVE (RFC 6851) where the server has it; else COPY, \\Deleted and UID EXPUNGE (UIDPLUS) of
    this one message only (a plain EXPUNGE would also remove what a person marked deleted)."""
    capabilities = client.capabilities()
    if b"MOVE" in capabilities:
        client.move([uid], folder)
        return
    client.copy([uid], folder)
    client.add_flags([uid], [b"\\Deleted", b"\\Seen"])
    if b"UIDPLUS" in capabilities:
        client.uid_expunge([uid])


def _return_path(headers) -> str:
    """The envelope sender as the delivering MTA recorded it ("<>" for a bounce's null sender)."""
    value = safe_header(headers, "Return-Path").strip()
    if value in ("<>", ""):
        return value
    return value.strip("<>").strip()[:998]


def _text(value: bytes | str) -> str:
    return value.decode(errors="replace") if isinstance(value, bytes) else str(value)


def _is_bye(response: tuple) -> bool:
    return bool(response) and response[0] == b"BYE"


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


def _close_quietly(client: IMAPClient) -> None:
    with _suppress_connection_errors():
        client.logout()
    with _suppress_connection_errors():
        client.shutdown()


class _suppress_connection_errors:
    def __enter__(self) -> None:
        return None

    def __exit__(self, exc_type, exc, tb) -> bool:
        return exc_type is not None and issubclass(exc_type, (*CONNECTION_ERRORS, socket.timeout))


def _close_database_connections() -> None:
    """This thread's connections only (Django's are per thread); a broken one is dropped."""
    for conn in connections.all(initialized_only=True):
        with contextlib.suppress(DatabaseError):
            conn.close()
