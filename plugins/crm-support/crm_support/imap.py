"""IMAP polling per queue (imaplib): unread messages are ingested and marked read.

A queue polls when it has ``imap_host``; ``imap_tls`` (default on) uses implicit TLS with
certificate checks against the system's trusted certificates (port 993; a server with a
private CA is trusted through ``SSL_CERT_FILE``), otherwise plain IMAP (port 143, for a local
server only).

What becomes of a message:

- ingested (a ticket, a reply, a duplicate, ignored automatic mail): marked ``\\Seen``;
- refused for good (too large, unparseable, data the records refuse): marked ``\\Seen`` too, so
  it is not fetched again and again, and logged;
- anything else (the database is away): left unread, the queue stops, and the next run tries
  again; the Message-ID check makes a message ingested twice create nothing.

Errors name the queue and the server's answer, never the password.
"""

from __future__ import annotations

import imaplib
import logging
import re
import socket
import ssl
from collections import Counter
from typing import Any

from sqlalchemy import select

from crmcore import CRMError

from . import secretbox
from .incoming import ingest, max_bytes
from .models import SupportQueue

log = logging.getLogger(__name__)
TIMEOUT = 30
BATCH = 200
_SIZE = re.compile(rb"RFC822\.SIZE (\d+)")


class FetchError(Exception):
    """A queue's mailbox could not be polled; the message says why, for the administrator."""


def _text(exc: BaseException) -> str:
    """An imaplib error as the server worded it (imaplib wraps it in ``b'...'``)."""
    args = exc.args
    value = args[0] if len(args) == 1 else exc
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    text = str(value)
    match = re.fullmatch(r"b(['\"])(.*)\1", text)
    return match.group(2) if match else text


def login(client: imaplib.IMAP4, user: str, password: str) -> None:
    """LOGIN; or AUTHENTICATE PLAIN in UTF-8 for a name or password that is not ASCII
    (imaplib's LOGIN can only send ASCII)."""
    if user.isascii() and password.isascii():
        client.login(user, password)
        return
    if "AUTH=PLAIN" not in client.capabilities:
        raise FetchError("the server accepts no password that is not plain ASCII")
    credentials = f"\0{user}\0{password}".encode()
    client.authenticate("PLAIN", lambda _challenge: credentials)


def connect(crm: Any, queue: SupportQueue) -> imaplib.IMAP4:
    """A signed-in client for the queue's mailbox; ``FetchError`` with a clear reason."""
    if not queue.imap_password:
        # cleared when the server or user changed: set again by someone allowed to
        raise FetchError("no password is set for this mailbox: set the queue's imap_password")
    host = queue.imap_host or ""
    port = queue.imap_port or (993 if queue.imap_tls else 143)
    try:
        if queue.imap_tls:
            context = ssl.create_default_context()
            client: imaplib.IMAP4 = imaplib.IMAP4_SSL(
                host, port, ssl_context=context, timeout=TIMEOUT
            )
        else:
            client = imaplib.IMAP4(host, port, timeout=TIMEOUT)
    except ssl.SSLCertVerificationError as exc:
        raise FetchError(
            f"the certificate of {host}:{port} is not trusted ({exc.verify_message})"
        ) from None
    except ssl.SSLError as exc:
        raise FetchError(f"TLS with {host}:{port} failed ({exc.reason or exc})") from None
    except socket.gaierror:
        raise FetchError(f"unknown host {host!r}") from None
    except TimeoutError:
        raise FetchError(f"{host}:{port} did not answer within {TIMEOUT} s") from None
    except OSError as exc:
        raise FetchError(f"cannot connect to {host}:{port} ({exc.strerror or exc})") from None
    except imaplib.IMAP4.error as exc:
        raise FetchError(f"{host}:{port} is not an IMAP server ({_text(exc)})") from None
    try:
        login(client, queue.imap_user or "", secretbox.unseal(crm, queue.imap_password))
    except secretbox.SecretUnreadable as exc:
        _logout(client)
        raise FetchError(str(exc)) from None
    except (imaplib.IMAP4.error, FetchError) as exc:
        _logout(client)
        raise FetchError(
            f"login as {queue.imap_user or '(no user)'} failed: {_text(exc)}"
        ) from None
    return client


def _logout(client: imaplib.IMAP4) -> None:
    try:
        client.logout()
    except (imaplib.IMAP4.error, OSError):
        pass


def _size(meta: list[Any]) -> int | None:
    match = _SIZE.search(b" ".join(m for m in meta if isinstance(m, bytes)))
    return int(match.group(1)) if match else None


def _check(status: str, data: list[Any], what: str) -> list[Any]:
    if status != "OK":
        detail = b" ".join(d for d in data if isinstance(d, bytes)).decode("utf-8", "replace")
        raise FetchError(f"{what} failed: {detail or status}")
    return data


def fetch_queue(crm: Any, queue: SupportQueue) -> Counter[str]:
    """Ingest the queue's unread mail (see the module's docstring for each outcome)."""
    counts: Counter[str] = Counter()
    limit = max_bytes(crm)
    name, folder = queue.name, queue.imap_folder or "INBOX"
    client = connect(crm, queue)
    try:
        _check(*client.select(_quoted(folder)), f"opening folder {folder!r}")
        found = _check(*client.uid("SEARCH", "UNSEEN"), "searching unread mail")
        for uid in (found[0] or b"").split()[:BATCH]:
            size = _size(_check(*client.uid("FETCH", uid, "(RFC822.SIZE)"), "reading a size"))
            if size is not None and size > limit:
                log.warning("queue %s: message %s is too large; marked read", name, uid.decode())
                counts["rejected"] += 1
            else:
                parts = _check(*client.uid("FETCH", uid, "(BODY.PEEK[])"), "fetching a message")
                raw = next((p[1] for p in parts if isinstance(p, tuple)), b"")
                try:
                    counts[ingest(crm, raw, queue).action] += 1
                except CRMError as exc:  # MailRejected, or data the records refuse
                    crm.session.rollback()
                    log.warning("queue %s: message %s rejected: %s", name, uid.decode(), exc)
                    counts["rejected"] += 1
                except Exception:
                    crm.session.rollback()
                    log.exception("queue %s: message %s left unread for the next run", name, uid)
                    raise FetchError(
                        f"a message could not be stored and was left unread ({dict(counts)} "
                        "before it)"
                    ) from None
            _check(*client.uid("STORE", uid, "+FLAGS.SILENT", "(\\Seen)"), "marking read")
    except (imaplib.IMAP4.error, OSError) as exc:
        raise FetchError(f"the server failed: {_text(exc)}") from None
    finally:
        _logout(client)
    return counts


def _quoted(folder: str) -> str:
    """A mailbox name as an IMAP quoted string (names with spaces; imaplib sends it as is)."""
    return '"' + folder.replace("\\", "\\\\").replace('"', '\\"') + '"'


def fetch_all(crm: Any, only: str | None = None) -> dict[str, Counter[str] | FetchError]:
    """Poll every queue with a mailbox; a failing queue is logged and the others go on."""
    stmt = select(SupportQueue).where(
        SupportQueue.deleted_at.is_(None), SupportQueue.imap_host.is_not(None)
    )
    if only:
        stmt = stmt.where(SupportQueue.name == only)
    results: dict[str, Counter[str] | FetchError] = {}
    for queue in list(crm.session.scalars(stmt.order_by(SupportQueue.id))):
        name = queue.name
        try:
            results[name] = fetch_queue(crm, queue)
        except FetchError as exc:
            log.error("queue %s: %s", name, exc)
            results[name] = exc
    return results
