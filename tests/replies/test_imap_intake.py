"""IMAP intake against a real Dovecot started by the test (tests/replies/dovecot.py).

In-process checks (`check_once`) prove the order store -> mark -> advance, the folders, the
UIDVALIDITY change and refusals; the long-running `run_imap_intake` process proves IDLE, the
server dropping the connection, and the database being unreachable (behind a TCP proxy the
test cuts).
"""

from __future__ import annotations

import subprocess
import sys
from email.message import EmailMessage
from pathlib import Path

import pytest
from django.contrib.auth.models import Group, User
from django.db import connection

from replies.imap.intake import REFUSED_KEYWORD, STORED_KEYWORD, check_once
from replies.models import ImapMailbox, ImapRefusal, InboundMessage
from tests.replies import dovecot as dovecot_server
from tests.support import ROOT, wait_for, worker_environment
from tests.tcpproxy import TcpProxy

pytestmark = pytest.mark.skipif(
    not dovecot_server.available(),
    reason="Dovecot is not installed (.ci/ensure-services installs dovecot-imapd)",
)


@pytest.fixture
def dovecot():
    server = dovecot_server.Dovecot().start()
    yield server
    server.stop()


def mail(n: int, *, subject: str | None = None, body: str = "Hallo, eine Antwort.\n") -> bytes:
    message = EmailMessage()
    message["From"] = f"Leser {n} <leser{n}@example.org>"
    message["To"] = "antworten@example.org"
    message["Subject"] = subject or f"Antwort {n}"
    message["Message-ID"] = f"<imap-{n}@example.org>"
    message["Return-Path"] = f"<leser{n}@example.org>"
    message["Delivered-To"] = f"reply+token{n}@reply.example.org"
    message.set_content(body)
    return bytes(message)


def make_mailbox(server: dovecot_server.Dovecot, **fields) -> ImapMailbox:
    mailbox = ImapMailbox(
        name=fields.pop("name", "Antworten"),
        host="127.0.0.1",
        port=server.port,
        security=ImapMailbox.Security.NONE,
        username=dovecot_server.USER,
        **fields,
    )
    mailbox.set_password(dovecot_server.PASSWORD)
    mailbox.save()
    return mailbox


@pytest.mark.django_db
def test_stores_raw_bytes_then_marks_then_remembers_the_uid(dovecot):
    raws = [mail(1), mail(2)]
    for raw in raws:
        dovecot.append(raw)
    mailbox = make_mailbox(dovecot)
    assert "imap-test-secret" not in mailbox.password_encrypted  # encrypted at rest

    result = check_once(mailbox)

    assert (result.stored, result.duplicates, result.refused) == (2, 0, 0)
    stored = list(InboundMessage.objects.order_by("id"))
    assert [bytes(m.raw).replace(b"\r\n", b"\n") for m in stored] == [r.replace(b"\r\n", b"\n") for r in raws]
    assert {m.source for m in stored} == {InboundMessage.Source.IMAP}
    assert stored[0].envelope_from == "leser1@example.org"  # from Return-Path
    # Marked on the server only now: read, and our keyword.
    assert all({"\\Seen", STORED_KEYWORD} <= flags for flags in dovecot.messages().values())
    mailbox.refresh_from_db()
    assert mailbox.last_uid == 2 and mailbox.uidvalidity and mailbox.stored_count == 2
    assert mailbox.last_checked_at is not None and mailbox.last_error == ""

    # Nothing is read twice: the next check finds only the new message.
    dovecot.append(mail(3))
    again = check_once(mailbox)
    assert (again.stored, again.duplicates, again.uids) == (1, 0, [3])
    assert InboundMessage.objects.count() == 3


@pytest.mark.django_db
def test_a_processed_folder_receives_what_was_stored(dovecot):
    dovecot.append(mail(1))
    mailbox = make_mailbox(dovecot, processed_folder="Rundbrief-Gespeichert")

    assert check_once(mailbox).stored == 1

    assert dovecot.messages("INBOX") == {}
    moved = dovecot.messages("Rundbrief-Gespeichert")
    assert len(moved) == 1
    assert "\\Seen" not in next(iter(moved.values()))  # BODY.PEEK: a person still sees it as new


@pytest.mark.django_db
def test_a_crash_between_store_and_mark_rereads_and_dedupes(dovecot):
    dovecot.append(mail(1))
    mailbox = make_mailbox(dovecot)
    check_once(mailbox)
    # As if the process died after the commit, before the server and the UID were updated.
    ImapMailbox.objects.filter(pk=mailbox.pk).update(last_uid=0)
    with dovecot.client() as client:
        client.select_folder("INBOX")
        client.remove_flags([1], [b"\\Seen", STORED_KEYWORD.encode()])
    mailbox.refresh_from_db()

    result = check_once(mailbox)

    assert (result.stored, result.duplicates) == (0, 1)
    assert InboundMessage.objects.count() == 1
    assert STORED_KEYWORD in dovecot.messages()[1]
    mailbox.refresh_from_db()
    assert mailbox.last_uid == 1


@pytest.mark.django_db
def test_a_uidvalidity_change_rereads_the_folder_safely(dovecot):
    folder = "Antworten"
    dovecot.append(mail(1), folder)
    dovecot.append(mail(2), folder)
    mailbox = make_mailbox(dovecot, folder=folder)
    check_once(mailbox)
    mailbox.refresh_from_db()
    old_validity = mailbox.uidvalidity
    assert mailbox.last_uid == 2

    # The server renumbers the folder (restored from a backup, migrated to a new server): a
    # new message now has UID 1, below the last UID handled, and an old one comes back.
    with dovecot.client() as client:
        client.delete_folder(folder)
    dovecot.append(mail(3), folder)
    dovecot.append(mail(1), folder)

    result = check_once(mailbox)

    mailbox.refresh_from_db()
    assert mailbox.uidvalidity != old_validity
    assert result.uidvalidity_changed
    assert (result.stored, result.duplicates) == (1, 1)
    assert sorted(InboundMessage.objects.values_list("message_id", flat=True)) == [
        "<imap-1@example.org>",
        "<imap-2@example.org>",
        "<imap-3@example.org>",
    ]
    assert mailbox.last_uid == 2


@pytest.mark.django_db
def test_refused_mail_is_moved_aside_recorded_and_not_read_again(dovecot, settings):
    settings.INBOUND_MAX_MESSAGE_BYTES = 20_000
    dovecot.append(mail(1, subject="Zu groß", body="x" * 30_000))
    dovecot.append(b"just some text without any header\r\n")
    dovecot.append(mail(2))
    mailbox = make_mailbox(dovecot, refused_folder="Rundbrief-Abgelehnt")

    result = check_once(mailbox)

    assert (result.stored, result.refused) == (1, 2)
    assert InboundMessage.objects.count() == 1
    assert len(dovecot.messages("Rundbrief-Abgelehnt")) == 2  # kept on the server, never deleted
    assert len(dovecot.messages("INBOX")) == 1
    refusals = {r.subject: r for r in ImapRefusal.objects.all()}
    too_large = refusals["Zu groß"]
    assert "20000 bytes" in too_large.reason and too_large.left_in == "Rundbrief-Abgelehnt"
    assert refusals["Zu groß"].size > 20_000
    assert "header" in refusals[""].reason
    mailbox.refresh_from_db()
    assert (mailbox.refused_count, mailbox.last_uid) == (2, 3)

    # Read once, refused once: the next checks do not try them again.
    assert check_once(mailbox).uids == []
    assert ImapRefusal.objects.count() == 2


@pytest.mark.django_db
def test_refused_mail_without_a_folder_is_flagged_in_place_and_passed_over(dovecot):
    dovecot.append(b"no headers here either\r\n")
    mailbox = make_mailbox(dovecot)

    assert check_once(mailbox).refused == 1

    flags = dovecot.messages()[1]
    assert {"\\Flagged", REFUSED_KEYWORD} <= flags and "\\Seen" not in flags
    # Even when the folder's UIDs must be read again, a message we refused is passed over.
    ImapMailbox.objects.filter(pk=mailbox.pk).update(last_uid=0)
    mailbox.refresh_from_db()
    assert check_once(mailbox).refused == 0
    assert ImapRefusal.objects.count() == 1


# --- the long-running process -------------------------------------------------------------


def _start_intake(log: Path, database_port: int) -> subprocess.Popen:
    db = connection.settings_dict
    env = worker_environment(
        DATABASE_URL=f"postgres://{db['USER']}@127.0.0.1:{database_port}/{db['NAME']}",
        IMAP_RETRY_MAX_SECONDS="2",
        IMAP_IDLE_SECONDS="600",  # renewing IDLE cannot explain a quick pick-up
        IMAP_RELOAD_SECONDS="600",
        DB_CONNECT_TIMEOUT="3",
        LOG_LEVEL="INFO",
        PYTHONUNBUFFERED="1",
    )
    return subprocess.Popen(
        [sys.executable, str(ROOT / "manage.py"), "run_imap_intake"],
        cwd=ROOT,
        env=env,
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def _stored(message_id: str) -> int:
    return InboundMessage.objects.filter(message_id=message_id).count()


@pytest.mark.django_db(transaction=True)
def test_the_intake_process_idles_reconnects_and_waits_out_the_database(dovecot, tmp_path):
    db = connection.settings_dict
    proxy = TcpProxy(db["HOST"] or "127.0.0.1", int(db["PORT"] or 5432)).start()
    mailbox = make_mailbox(dovecot, use_idle=True, poll_seconds=600)
    log = tmp_path / "intake.log"
    process = _start_intake(log, proxy.port)

    def log_text() -> str:
        return log.read_text(errors="replace")

    try:
        wait_for(
            lambda: ImapMailbox.objects.get(pk=mailbox.pk).last_checked_at,
            timeout=30,
            what=f"the first check\n{log_text()}",
        )
        # 1. A message arriving while the reader idles is stored at once (polling is 10 min away).
        dovecot.append(mail(1))
        wait_for(lambda: _stored("<imap-1@example.org>"), timeout=30, what=f"the IDLE pick-up\n{log_text()}")
        wait_for(lambda: STORED_KEYWORD in dovecot.messages()[1], timeout=10, what="the mark")

        # 2. The server drops the connection: the reader reconnects (after a backoff) and goes on.
        dovecot.kick()
        wait_for(lambda: "reconnecting" in log_text(), timeout=20, what=f"the reconnect\n{log_text()}")
        dovecot.append(mail(2))
        wait_for(
            lambda: _stored("<imap-2@example.org>"), timeout=30, what=f"mail after reconnect\n{log_text()}"
        )

        # 3. The database becomes unreachable: the message is read but not stored, so nothing
        #    is marked on the server; once the database is back it is read again and stored.
        proxy.stop()
        dovecot.append(mail(3))
        wait_for(lambda: "cannot store" in log_text(), timeout=30, what=f"the failed store\n{log_text()}")
        flags = dovecot.messages()[3]
        assert "\\Seen" not in flags and STORED_KEYWORD not in flags
        assert _stored("<imap-3@example.org>") == 0
        proxy.start()
        wait_for(lambda: _stored("<imap-3@example.org>"), timeout=40, what=f"the store after\n{log_text()}")
        wait_for(lambda: STORED_KEYWORD in dovecot.messages()[3], timeout=10, what="the late mark")

        assert InboundMessage.objects.count() == 3  # each once
        mailbox.refresh_from_db()
        assert mailbox.last_uid == 3 and mailbox.stored_count == 3
        assert process.poll() is None, log_text()
    finally:
        if process.poll() is None:
            process.terminate()
            process.wait(timeout=30)
        proxy.stop()
    assert process.returncode == 0, log_text()


@pytest.mark.django_db
def test_the_admin_checks_selected_mailboxes_now(dovecot, client):
    manager = User.objects.create_user("clara", password="pw", is_staff=True)
    manager.groups.add(Group.objects.get(name="Managers"))
    client.force_login(manager)
    dovecot.append(mail(1))
    mailbox = make_mailbox(dovecot)
    broken = make_mailbox(dovecot, name="Falsch", folder="INBOX.missing")  # no such folder

    response = client.post(
        "/admin/replies/imapmailbox/",
        {"action": "check_now", "_selected_action": [mailbox.pk, broken.pk]},
        follow=True,
    )

    text = response.content.decode()
    assert "Antworten: 1 stored, 0 already stored, 0 refused." in text
    assert "Falsch: could not check" in text
    assert InboundMessage.objects.count() == 1
