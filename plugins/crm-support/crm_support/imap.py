"""IMAP polling per queue (imaplib): unread messages are ingested and marked read.

A queue polls when it has ``imap_host``; ``imap_tls`` (default on) uses implicit TLS with
certificate checks (port 993), otherwise plain IMAP (port 143, for a local server only).
"""

from __future__ import annotations

import imaplib
import logging
import re
import ssl
from collections import Counter
from typing import Any

from sqlalchemy import select

from .incoming import MailRejected, ingest, max_bytes
from .models import SupportQueue

log = logging.getLogger(__name__)
TIMEOUT = 30
BATCH = 200
_SIZE = re.compile(rb"RFC822\.SIZE (\d+)")


def connect(queue: SupportQueue) -> imaplib.IMAP4:
    if queue.imap_tls:
        context = ssl.create_default_context()
        client: imaplib.IMAP4 = imaplib.IMAP4_SSL(
            queue.imap_host or "", queue.imap_port or 993, ssl_context=context, timeout=TIMEOUT
        )
    else:
        client = imaplib.IMAP4(queue.imap_host or "", queue.imap_port or 143, timeout=TIMEOUT)
    client.login(queue.imap_user or "", queue.imap_password or "")
    return client


def fetch_queue(crm: Any, queue: SupportQueue) -> Counter[str]:
    """Ingest the queue's unread mail; each message is marked read whatever became of it."""
    counts: Counter[str] = Counter()
    limit = max_bytes(crm)
    client = connect(queue)
    try:
        status, _data = client.select(queue.imap_folder or "INBOX")
        if status != "OK":
            raise imaplib.IMAP4.error(f"cannot open folder {queue.imap_folder or 'INBOX'}")
        _status, found = client.uid("SEARCH", None, "UNSEEN")  # type: ignore[arg-type]
        for uid in (found[0] or b"").split()[:BATCH]:
            _s, meta = client.uid("FETCH", uid, "(RFC822.SIZE)")
            size_match = _SIZE.search(b" ".join(m for m in meta if isinstance(m, bytes)))
            if size_match and int(size_match.group(1)) > limit:
                log.warning("queue %s: message %s is too large; left marked read", queue.name, uid)
                counts["rejected"] += 1
            else:
                _s, parts = client.uid("FETCH", uid, "(BODY.PEEK[])")
                raw = next((p[1] for p in parts if isinstance(p, tuple)), b"")
                try:
                    counts[ingest(crm, raw, queue).action] += 1
                except MailRejected as exc:
                    log.warning("queue %s: message %s rejected: %s", queue.name, uid, exc)
                    counts["rejected"] += 1
            client.uid("STORE", uid, "+FLAGS", "(\\Seen)")
    finally:
        try:
            client.logout()
        except (imaplib.IMAP4.error, OSError):
            pass
    return counts


def fetch_all(crm: Any, only: str | None = None) -> dict[str, Counter[str]]:
    """Poll every queue with a mailbox; a failing server is logged and the others go on."""
    stmt = select(SupportQueue).where(
        SupportQueue.deleted_at.is_(None), SupportQueue.imap_host.is_not(None)
    )
    if only:
        stmt = stmt.where(SupportQueue.name == only)
    results: dict[str, Counter[str]] = {}
    for queue in list(crm.session.scalars(stmt.order_by(SupportQueue.id))):
        try:
            results[queue.name] = fetch_queue(crm, queue)
        except (imaplib.IMAP4.error, OSError) as exc:
            log.error("queue %s: IMAP failed: %s", queue.name, exc)
            results[queue.name] = Counter({"failed": 1})
    return results
