"""A real IMAP server for the tests: Debian's Dovecot, started from a config in a temp dir.

Plain IMAP on 127.0.0.1 and a free port, one passwd-file user, Maildir storage under the
temp dir. As root (CI) the mail processes run as Dovecot's own unprivileged users; as
anyone else everything runs as that user.
"""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import subprocess
import tempfile
from pathlib import Path

from imapclient import IMAPClient

from tests.support import free_port, wait_for

DOVECOT = shutil.which("dovecot") or "/usr/sbin/dovecot"
DOVEADM = shutil.which("doveadm") or "/usr/bin/doveadm"
USER = "replies"
PASSWORD = "imap-test-secret"

CONFIG = """
base_dir = {dir}/run
state_dir = {dir}/state
log_path = {dir}/dovecot.log
protocols = imap
listen = 127.0.0.1
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
default_internal_user = {internal}
default_login_user = {login}
first_valid_uid = 1
mail_location = maildir:{dir}/mail/%u
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {dir}/passwd
}}
userdb {{
  driver = static
  args = uid={mail_user} gid={mail_group} home={dir}/home/%u
}}
service imap-login {{
  chroot =
  inet_listener imap {{
    address = 127.0.0.1
    port = {port}
  }}
}}
service anvil {{
  chroot =
}}
"""


def available() -> bool:
    return os.path.exists(DOVECOT) and os.path.exists(DOVEADM)


class Dovecot:
    def __init__(self) -> None:
        # Its own directory, not pytest's (which is private to root: Dovecot's unprivileged
        # processes must be able to read the passwd file and write the mail).
        self.dir = Path(tempfile.mkdtemp(prefix="rb-dovecot-"))
        self.dir.chmod(0o755)
        self.port = free_port()
        self.config = self.dir / "dovecot.conf"
        self.process: subprocess.Popen | None = None

    def start(self) -> Dovecot:
        if os.geteuid() == 0:
            internal, login, mail_user = "dovecot", "dovenull", "dovecot"
        else:
            internal = login = mail_user = pwd.getpwuid(os.geteuid()).pw_name
        mail_group = pwd.getpwnam(mail_user).pw_gid
        for sub in ("run", "state", "mail", "home"):
            (self.dir / sub).mkdir(parents=True, exist_ok=True)
        if os.geteuid() == 0:
            for sub in ("mail", "home"):
                shutil.chown(self.dir / sub, mail_user, mail_group)
        (self.dir / "passwd").write_text(f"{USER}:{{PLAIN}}{PASSWORD}\n")
        self.config.write_text(
            CONFIG.format(
                dir=self.dir,
                port=self.port,
                internal=internal,
                login=login,
                mail_user=mail_user,
                mail_group=mail_group,
            )
        )
        self.process = subprocess.Popen(
            [DOVECOT, "-F", "-c", str(self.config)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        wait_for(self._answers, timeout=20, what="Dovecot to answer")
        return self

    def _answers(self) -> bool:
        if self.process is not None and self.process.poll() is not None:
            raise AssertionError(f"Dovecot exited:\n{self.log()}")
        try:
            with self.client():
                return True
        except OSError:
            return False

    def client(self) -> IMAPClient:
        """A logged-in client, as a person's mail program (or the MTA delivering) would be."""
        client = IMAPClient("127.0.0.1", port=self.port, ssl=False, timeout=10)
        client.login(USER, PASSWORD)
        return client

    def append(self, raw: bytes, folder: str = "INBOX") -> int:
        with self.client() as client:
            if not client.folder_exists(folder):
                client.create_folder(folder)
            response = client.append(folder, raw)
        # b"[APPENDUID <uidvalidity> <uid>] Append completed."
        return int(response.split(b"]")[0].split()[-1])

    def messages(self, folder: str = "INBOX") -> dict[int, set[str]]:
        """UID -> flags of every message in the folder (without touching \\Seen)."""
        with self.client() as client:
            if not client.folder_exists(folder):
                return {}
            client.select_folder(folder, readonly=True)
            uids = client.search(["ALL"])
            if not uids:
                return {}
            return {
                uid: {f.decode() for f in data[b"FLAGS"]}
                for uid, data in client.fetch(uids, ["FLAGS"]).items()
            }

    def kick(self) -> None:
        """Drop every connection of the user, as a server restart or an admin would."""
        subprocess.run(
            [DOVEADM, "-c", str(self.config), "kick", USER], check=True, capture_output=True, timeout=20
        )

    def log(self) -> str:
        try:
            return (self.dir / "dovecot.log").read_text(errors="replace")[-4000:]
        except OSError:
            return "(no log)"

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=5)
        shutil.rmtree(self.dir, ignore_errors=True)
