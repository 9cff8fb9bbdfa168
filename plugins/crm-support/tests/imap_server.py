"""A throw-away Dovecot IMAP server for the tests of ``crm support fetch-mail``.

Debian's ``dovecot-imapd`` (``scripts/test`` installs it), run unprivileged from a temporary
folder with a configuration of its own: listening on 127.0.0.1 only, on free ports, plain
IMAP (plain-text logins are allowed on loopback) and implicit TLS with a self-signed
certificate made for the occasion, users in a passwd-file, mail in maildirs. As root (CI), the
server runs as ``nobody``; otherwise as the current user.
"""

from __future__ import annotations

import imaplib
import os
import pwd
import shutil
import signal
import ssl
import subprocess
import tempfile
import time
from pathlib import Path

from crmcore.testing.browser import free_port

DOVECOT = shutil.which("dovecot") or shutil.which("dovecot", path="/usr/sbin:/sbin") or ""
OPENSSL = shutil.which("openssl") or ""

CONFIG = """\
base_dir = {dir}/run
state_dir = {dir}/state
log_path = {dir}/dovecot.log
protocols = imap
listen = 127.0.0.1
ssl = yes
ssl_cert = <{dir}/cert.pem
ssl_key = <{dir}/key.pem
default_internal_user = {user}
default_internal_group = {group}
default_login_user = {user}
first_valid_uid = {uid}
last_valid_uid = {uid}
auth_mechanisms = plain login
auth_failure_delay = 0
passdb {{
  driver = passwd-file
  args = username_format=%u {dir}/passwd
}}
userdb {{
  driver = passwd-file
  args = username_format=%u {dir}/passwd
}}
mail_location = maildir:~/Maildir
service imap-login {{
  chroot =
  inet_listener imap {{
    address = 127.0.0.1
    port = {port}
  }}
  inet_listener imaps {{
    address = 127.0.0.1
    port = {tls_port}
    ssl = yes
  }}
}}
service anvil {{
  chroot =
}}
service ipc {{
  chroot =
}}
service stats {{
  inet_listener http {{
    port = 0
  }}
}}
"""


def missing() -> str | None:
    """Why the server cannot run here, or ``None``."""
    if not DOVECOT:
        return "dovecot is not installed (apt-get install dovecot-imapd; scripts/test does)"
    if not OPENSSL:
        return "openssl is not installed"
    return None


class Dovecot:
    """One running server; ``users`` maps logins to passwords (UTF-8 allowed)."""

    def __init__(self, users: dict[str, str]) -> None:
        self.users = users
        self.dir = Path(tempfile.mkdtemp(prefix="crm-dovecot-"))
        self.port = free_port()
        self.tls_port = free_port()
        self.cert = self.dir / "cert.pem"
        self.process: subprocess.Popen[bytes] | None = None
        account = pwd.getpwnam("nobody") if os.geteuid() == 0 else pwd.getpwuid(os.geteuid())
        self.account = account

    @property
    def log(self) -> str:
        path = self.dir / "dovecot.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def start(self) -> Dovecot:
        account = self.account
        for sub in ("run", "state", "mail"):
            (self.dir / sub).mkdir()
        subprocess.run(
            [
                OPENSSL,
                "req",
                "-x509",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-days",
                "2",
                "-subj",
                "/CN=127.0.0.1",
                "-addext",
                "subjectAltName=IP:127.0.0.1,DNS:localhost",
                "-keyout",
                str(self.dir / "key.pem"),
                "-out",
                str(self.cert),
            ],
            check=True,
            capture_output=True,
            timeout=60,
        )
        lines = [
            f"{login}:{{PLAIN}}{password}:{account.pw_uid}:{account.pw_gid}::"
            f"{self.dir}/mail/{n}::\n"
            for n, (login, password) in enumerate(self.users.items())
        ]
        (self.dir / "passwd").write_text("".join(lines), encoding="utf-8")
        (self.dir / "dovecot.conf").write_text(
            CONFIG.format(
                dir=self.dir,
                user=account.pw_name,
                group=_group_name(account.pw_gid),
                uid=account.pw_uid,
                port=self.port,
                tls_port=self.tls_port,
            )
        )
        for path in [self.dir, *self.dir.rglob("*")]:
            os.chown(path, account.pw_uid, account.pw_gid)
        self.dir.chmod(0o755)
        extra = {"user": account.pw_uid, "group": account.pw_gid} if os.geteuid() == 0 else {}
        self.process = subprocess.Popen(  # -F: in the foreground, so it is ours to stop
            [DOVECOT, "-F", "-c", str(self.dir / "dovecot.conf")],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            **extra,  # type: ignore[arg-type]
        )
        deadline = time.monotonic() + 20
        while True:
            try:
                imaplib.IMAP4("127.0.0.1", self.port, timeout=2).logout()
                return self
            except OSError:
                if self.process.poll() is not None or time.monotonic() > deadline:
                    self.stop()
                    raise RuntimeError(f"dovecot did not start:\n{self.log}") from None
                time.sleep(0.1)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self.process is not None and self.process.stderr:
            self.process.stderr.close()
        shutil.rmtree(self.dir, ignore_errors=True)

    def client(self, login: str, tls: bool = False) -> imaplib.IMAP4:
        """A signed-in imaplib client, as a person's mail program would be."""
        if tls:
            context = ssl.create_default_context(cafile=str(self.cert))
            client: imaplib.IMAP4 = imaplib.IMAP4_SSL(
                "127.0.0.1", self.tls_port, ssl_context=context, timeout=10
            )
        else:
            client = imaplib.IMAP4("127.0.0.1", self.port, timeout=10)
        password = self.users[login]
        client.authenticate("PLAIN", lambda _challenge: f"\0{login}\0{password}".encode())
        return client


def _group_name(gid: int) -> str:
    import grp

    return grp.getgrgid(gid).gr_name


def deliver(client: imaplib.IMAP4, raw: bytes, folder: str = "INBOX") -> None:
    """APPEND one message, unread, as an MTA's delivery would leave it."""
    status, data = client.append(folder, None, None, raw)  # type: ignore[arg-type]
    assert status == "OK", data


def flags(client: imaplib.IMAP4, folder: str = "INBOX") -> list[set[str]]:
    """The flags of every message of ``folder``, in order."""
    client.select(folder)
    status, data = client.fetch("1:*", "(FLAGS)")
    if status != "OK" or data == [None]:
        return []
    out = []
    for line in data:
        if isinstance(line, bytes) and b"FLAGS (" in line:
            inner = line.split(b"FLAGS (", 1)[1].split(b")", 1)[0].decode()
            out.append(set(inner.split()))
    return out


def empty(client: imaplib.IMAP4, folder: str = "INBOX") -> None:
    """Remove every message of ``folder``."""
    client.select(folder)
    status, data = client.search(None, "ALL")
    if status == "OK" and data[0]:
        client.store("1:*", "+FLAGS.SILENT", "(\\Deleted)")
        client.expunge()
