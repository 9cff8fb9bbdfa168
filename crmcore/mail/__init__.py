"""Outgoing mail: ``crmcore.mail.send(app, message)``.

Through ``CRM_SMTP_URL`` when it is set (see :mod:`crmcore.mail.config` for the forms), else into
the file outbox ``<instance>/outbox`` (one ``.eml`` file per message), so an embedded instance
never loses mail and a developer can read what would have been sent.

To send now and, when the server fails, leave it to the job queue (retried for minutes)::

    mail.send_or_queue(app, message)
"""

from __future__ import annotations

import logging
from email import message_from_bytes, policy
from email.message import EmailMessage
from email.utils import formatdate, getaddresses, make_msgid
from pathlib import Path
from typing import Any

from .config import MailError, SmtpConfig, parse_smtp_url
from .outbox import outbox_path, write_to_outbox

log = logging.getLogger(__name__)

__all__ = [
    "MailError",
    "SmtpConfig",
    "check_headers",
    "parse_smtp_url",
    "prepare",
    "send",
    "send_job",
    "send_or_queue",
]

RECIPIENT_HEADERS = ("To", "Cc", "Bcc")


def check_headers(message: EmailMessage) -> None:
    """Refuse CR or LF in any header name or value (header injection)."""
    for name, value in message.items():
        text = str(value)
        if any(c in name for c in "\r\n:") or "\r" in text or "\n" in text:
            raise MailError(f"the {name.strip()[:40]!r} header contains a line break; refused")


def _addresses(message: EmailMessage, *names: str) -> list[str]:
    values = [str(v) for name in names for v in message.get_all(name, [])]
    found = [addr for _name, addr in getaddresses(values) if addr]
    for addr in found:
        if "@" not in addr or any(c in addr for c in "\r\n <>,"):
            raise MailError(f"not a valid e-mail address: {addr!r}")
    return found


def prepare(app: Any, message: EmailMessage) -> tuple[list[str], list[str]]:
    """Add From, Date and Message-ID when missing and check the message; returns its
    recipients and senders. Raises :class:`MailError` for a message no server would take."""
    settings = app.extensions["crm"].settings
    check_headers(message)
    if not message["From"]:
        message["From"] = settings.mail_from
    if not message["Date"]:
        message["Date"] = formatdate(localtime=False, usegmt=True)
    if not message["Message-ID"]:
        domain = settings.mail_from.rpartition("@")[2] or "localhost"
        message["Message-ID"] = make_msgid(domain=domain)
    check_headers(message)
    recipients = _addresses(message, *RECIPIENT_HEADERS)
    if not recipients:
        raise MailError("the message has no recipient (To, Cc or Bcc)")
    senders = _addresses(message, "Sender") or _addresses(message, "From")
    if not senders:
        raise MailError("the message has no valid From address")
    return recipients, senders


def send(app: Any, message: EmailMessage) -> Path | None:
    """Send ``message`` (adding From, Date and Message-ID when missing).

    Returns the ``.eml`` file when it went to the outbox, ``None`` when handed to the SMTP
    server. Raises :class:`MailError` for a bad message or a failed hand-over.
    """
    settings = app.extensions["crm"].settings
    recipients, senders = prepare(app, message)
    subject = str(message.get("Subject", ""))[:80]
    if not settings.smtp_url:
        path = write_to_outbox(outbox_path(settings.instance_path), message)
        log.info("mail %r to %d recipient(s) written to %s", subject, len(recipients), path)
        return path
    from .smtp import deliver

    config = parse_smtp_url(settings.smtp_url)
    refused = deliver(config, message, senders[0], recipients)
    for addr, (code, reply) in refused.items():
        log.warning(
            "mail %r: %s refused %s: %s %s",
            subject,
            config.safe_url,
            addr,
            code,
            reply.decode("utf-8", "replace"),
        )
    log.info(
        "mail %r to %d recipient(s) sent through %s",
        subject,
        len(recipients) - len(refused),
        config.safe_url,
    )
    return None


def send_job(app: Any, raw: bytes) -> None:
    """A job sending a message given as bytes (``message.as_bytes()``); retried on failure."""
    message = message_from_bytes(raw, policy=policy.default)
    assert isinstance(message, EmailMessage)
    send(app, message)


def send_or_queue(app: Any, message: EmailMessage, *, retries: int = 5, delay: float = 60) -> None:
    """Send ``message`` now; when that fails, queue :func:`send_job` to try again ``retries``
    times, ``delay`` seconds apart. A malformed message is not queued: it raises
    :class:`MailError` at once."""
    prepare(app, message)
    try:
        send(app, message)
    except MailError as exc:
        subject = str(message.get("Subject", ""))[:80]
        log.warning("mail %r not sent now (%s); queued with retries", subject, exc)
        app.extensions["crm"].jobs.enqueue(
            "crmcore.mail:send_job", message.as_bytes(), retries=retries, retry_delay=delay
        )
