"""Bounces: delivery status notifications (RFC 3464) read and recorded.

A DSN is a ``multipart/report; report-type=delivery-status`` message: a human-readable part,
a ``message/delivery-status`` part (one block of per-message fields, then one block per
recipient: ``Final-Recipient``, ``Action``, ``Status``, ``Diagnostic-Code``) and the returned
message or its headers (``message/rfc822`` or ``text/rfc822-headers``).

For each recipient whose ``Action`` is ``failed``:

* the status class says the kind: ``5.x.x`` is a **hard** bounce (the address does not work),
  ``4.x.x`` a **soft** one (the server gave up on a temporary failure: mailbox full...);
* the returned headers' ``Message-ID`` finds the campaign's recipient (``Recipient.message_id``):
  its ``bounced_at`` is set and a ``bounce`` event recorded. Without a known Message-ID only the
  address is recorded (which campaign it was cannot be told);
* ``marketing_bounce`` keeps one row per address (lower case): the kind (hard wins), a count,
  the last status and diagnostic, first and last time. Sending skips an address while its row
  is active and hard, or soft with :data:`SOFT_LIMIT` bounces or more (:func:`suppressed`).
  A confirmed subscription (the address proved it receives mail) clears the row.

``Action: delayed`` (a warning; the server still tries), ``delivered``, ``relayed`` and
``expanded`` record nothing. A DSN of a known message read twice changes nothing the second
time (its recipient is already bounced). Bounces do not touch the contact's opt-out, which
records the person's consent only.

Entry points: ``crm marketing bounces FILE.eml...`` (or standard input, for an MTA pipe) and
``POST /api/v1/marketing/bounces`` (:mod:`crm_marketing.tracking_api`).
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass, field
from email import message_from_bytes, message_from_string, policy
from email.message import Message
from email.utils import parseaddr
from typing import Any, BinaryIO

import click
from flask import current_app
from flask.cli import with_appcontext
from sqlalchemy import or_, select
from sqlalchemy.exc import IntegrityError

from crmcore import CRMError
from crmcore.db import utcnow

from .events import record_event
from .models import Bounce, Recipient

#: soft bounces of an address after which sending skips it
SOFT_LIMIT = 3
MAX_MB = 10
#: per-recipient blocks read from one DSN
MAX_RECIPIENTS = 100
#: sysexits: the MTA bounces a message refused with EX_DATAERR, retries on EX_TEMPFAIL
EX_DATAERR = 65
EX_TEMPFAIL = 75

_STATUS = re.compile(r"^\s*([245])\.(\d{1,3})\.(\d{1,3})\b")
_MESSAGE_ID = re.compile(r"<([^<>\s]{1,245})>")


class MalformedReport(CRMError):
    """A message that cannot be read, or a delivery report without what a DSN must have."""

    status = 422
    title = "Not a readable delivery status notification"


class TooLarge(CRMError):
    status = 413
    title = "Payload too large"


@dataclass
class Failure:
    """One failed recipient of a DSN."""

    email: str
    kind: str  # hard | soft
    status: str  # 5.1.1
    diagnostic: str | None
    message_id: str | None


@dataclass
class Recorded:
    """What was recorded for one failure."""

    email: str
    kind: str
    status: str
    recipient_id: int | None = None
    campaign_id: int | None = None
    duplicate: bool = False

    def as_dict(self) -> dict[str, Any]:
        return {
            "email": self.email,
            "kind": self.kind,
            "status": self.status,
            "recipient_id": self.recipient_id,
            "campaign_id": self.campaign_id,
            "duplicate": self.duplicate,
        }


@dataclass
class Outcome:
    """The result of one message: ``recorded`` (with its bounces) or ``ignored`` (why)."""

    action: str
    reason: str = ""
    bounces: list[Recorded] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "action": self.action,
            "reason": self.reason or None,
            "bounces": [b.as_dict() for b in self.bounces],
        }

    def summary(self) -> str:
        if self.action == "ignored":
            return f"ignored: {self.reason}"
        parts = []
        for b in self.bounces:
            where = f" (campaign {b.campaign_id})" if b.campaign_id is not None else ""
            again = ", already recorded" if b.duplicate else ""
            parts.append(f"{b.kind} {b.status} {b.email}{where}{again}")
        return "recorded: " + "; ".join(parts)


@dataclass
class Report:
    """A parsed DSN: its failures, or why it records nothing."""

    failures: list[Failure]
    ignored: str = ""


# parsing ---------------------------------------------------------------------------------------


def max_bytes(crm: Any) -> int:
    """The largest message taken (``[marketing] bounce_max_mb`` in crm.toml, default 10)."""
    section = crm.settings.extra.get("marketing") or {}
    try:
        mb = float(section.get("bounce_max_mb", MAX_MB)) if isinstance(section, dict) else MAX_MB
    except (TypeError, ValueError):
        mb = MAX_MB
    return int(max(mb, 0.01) * 1024 * 1024)


def _address(value: str | None) -> str | None:
    """``rfc822; user@example.com`` -> ``user@example.com`` (lower case), or ``None``."""
    if not value:
        return None
    kind, sep, rest = str(value).partition(";")
    text = rest if sep else kind
    if sep and kind.strip().lower() not in ("rfc822", "utf-8"):
        return None
    _name, addr = parseaddr(text.strip())
    addr = addr.strip().lower()
    if "@" not in addr or len(addr) > 254 or any(c.isspace() or c in "<>," for c in addr):
        return None
    return addr


def _text(value: Any, limit: int = 500) -> str | None:
    text = " ".join(str(value).split()) if value is not None else ""
    return text[:limit] or None


def _returned_message_id(report: Message) -> str | None:
    """The Message-ID of the returned message (its headers or the whole of it)."""
    for part in report.walk():
        ctype = part.get_content_type()
        headers: Message | None = None
        if ctype == "text/rfc822-headers":
            payload = part.get_payload(decode=True)
            if isinstance(payload, bytes):
                text = payload.decode("utf-8", "replace")
                headers = message_from_string(text.lstrip() + "\n\n", policy=policy.compat32)
        elif ctype in ("message/rfc822", "message/global"):
            inner = part.get_payload()
            if isinstance(inner, list) and inner:
                headers = inner[0]
        if headers is not None:
            found = _MESSAGE_ID.search(str(headers.get("Message-ID", "")))
            if found:
                return f"<{found.group(1)}>"
    return None


def _status_blocks(report: Message) -> list[Message] | None:
    for part in report.walk():
        if part.get_content_type() in ("message/delivery-status", "message/global-delivery-status"):
            blocks = part.get_payload()
            if isinstance(blocks, list):
                return blocks
            # an unusual layout the parser did not split: read the blocks ourselves
            text = part.get_payload(decode=True)
            if isinstance(text, bytes):
                chunks = re.split(r"\r?\n\s*\r?\n", text.decode("utf-8", "replace").strip())
                return [message_from_string(c + "\n\n", policy=policy.compat32) for c in chunks]
            return []
    return None


def parse(raw: bytes, limit: int) -> Report:
    """Read a DSN. Raises :class:`TooLarge` or :class:`MalformedReport`; a message that is not
    a DSN (an auto-reply, a newsletter...) is a report with ``ignored`` set."""
    if len(raw) > limit:
        raise TooLarge(f"The message is larger than {limit // (1024 * 1024) or 1} MB.")
    if not raw.strip():
        raise MalformedReport("The message is empty.")
    try:
        message = message_from_bytes(raw, policy=policy.compat32)
        if not message.keys():
            raise MalformedReport("This is not an e-mail message: it has no headers.")
        ctype = message.get_content_type()
        report_type = str(message.get_param("report-type", "", header="content-type") or "")
        blocks = _status_blocks(message) if ctype == "multipart/report" else None
    except CRMError:
        raise
    except Exception as exc:  # the email package raises a zoo of errors on broken input
        raise MalformedReport(f"The message cannot be read: {exc}") from None
    if ctype != "multipart/report" or (report_type.lower() != "delivery-status" and blocks is None):
        subject = _text(message.get("Subject"), 80) or "no subject"
        return Report([], f"not a delivery status notification ({ctype}, {subject!r})")
    if blocks is None:
        raise MalformedReport("The report has no message/delivery-status part.")
    recipients = [b for b in blocks[1:] if isinstance(b, Message)]
    if not recipients:
        raise MalformedReport("The delivery status has no recipient fields.")
    if len(recipients) > MAX_RECIPIENTS:
        raise MalformedReport(f"The report lists more than {MAX_RECIPIENTS} recipients.")
    message_id = _returned_message_id(message)
    failures: list[Failure] = []
    actions: list[str] = []
    for block in recipients:
        action = str(block.get("Action", "")).strip().lower()
        status_match = _STATUS.match(str(block.get("Status", "")))
        email = _address(block.get("Final-Recipient")) or _address(block.get("Original-Recipient"))
        if not action or status_match is None or email is None:
            raise MalformedReport(
                "A recipient block lacks a valid Final-Recipient, Action or Status."
            )
        actions.append(action)
        if action != "failed":
            continue
        status = ".".join(status_match.groups())
        kind = "hard" if status.startswith("5") else "soft"
        diagnostic = _text(block.get("Diagnostic-Code"))
        failures.append(Failure(email, kind, status, diagnostic, message_id))
    if not failures:
        return Report([], f"no failed recipient (action: {', '.join(sorted(set(actions)))})")
    return Report(failures)


# recording -------------------------------------------------------------------------------------


def find_recipient(session: Any, message_id: str | None) -> Recipient | None:
    if not message_id:
        return None
    bare = message_id.strip("<>")
    return session.scalar(
        select(Recipient)
        .where(or_(Recipient.message_id == f"<{bare}>", Recipient.message_id == bare))
        .order_by(Recipient.id)
        .limit(1)
    )


def _upsert_bounce(session: Any, failure: Failure, email: str) -> None:
    now = utcnow()
    row = session.scalar(select(Bounce).where(Bounce.email == email))
    if row is None:
        try:
            with session.begin_nested():
                session.add(
                    Bounce(
                        email=email,
                        kind=failure.kind,
                        count=1,
                        status_code=failure.status,
                        diagnostic=failure.diagnostic,
                        first_at=now,
                        last_at=now,
                        active=True,
                    )
                )
            return
        except IntegrityError:  # recorded meanwhile by another process: update it
            row = session.scalar(select(Bounce).where(Bounce.email == email))
            if row is None:
                raise
    if not row.active:  # cleared earlier: start again
        row.kind, row.count, row.first_at, row.active = failure.kind, 0, now, True
    row.count += 1
    if failure.kind == "hard":
        row.kind = "hard"
    row.status_code, row.diagnostic, row.last_at = failure.status, failure.diagnostic, now


def record(session: Any, failure: Failure) -> Recorded:
    """Record one failure (not committed)."""
    recipient = find_recipient(session, failure.message_id)
    email = ((recipient.email if recipient is not None else None) or failure.email).lower()
    done = Recorded(email, failure.kind, failure.status)
    if recipient is not None:
        done.recipient_id, done.campaign_id = recipient.id, recipient.campaign_id
        if recipient.bounced_at is not None:
            done.duplicate = True
            return done
        detail = f"{failure.kind} {failure.status}"
        if failure.diagnostic:
            detail += f": {failure.diagnostic}"
        record_event(session, recipient, "bounce", detail=detail)
    _upsert_bounce(session, failure, email)
    return done


def process(crm: Any, raw: bytes) -> Outcome:
    """Parse and record one message, committed; nothing is recorded when it is refused."""
    return record_reports(crm, [parse(raw, max_bytes(crm))])[0]


def record_reports(crm: Any, reports: list[Report]) -> list[Outcome]:
    """Record parsed reports in one transaction."""
    session = crm.session
    outcomes = []
    try:
        for report in reports:
            if report.ignored:
                outcomes.append(Outcome("ignored", report.ignored))
            else:
                done = [record(session, failure) for failure in report.failures]
                outcomes.append(Outcome("recorded", bounces=done))
        session.commit()
    except Exception:
        session.rollback()
        raise
    return outcomes


def suppressed() -> Any:
    """A SELECT of the (lower-case) addresses sending must skip."""
    return select(Bounce.email).where(
        Bounce.active.is_(True), or_(Bounce.kind == "hard", Bounce.count >= SOFT_LIMIT)
    )


def is_suppressed(session: Any, email: str | None) -> bool:
    """Whether sending must skip ``email`` because of its bounces."""
    if not email:
        return False
    found = session.scalar(suppressed().where(Bounce.email == email.strip().lower()).limit(1))
    return found is not None


# the command -----------------------------------------------------------------------------------


def _read(stream: BinaryIO, limit: int) -> bytes:
    return stream.read(limit + 1)


@click.command("bounces")
@click.argument("files", nargs=-1, type=click.File("rb"))
@with_appcontext
def bounces_command(files: tuple[BinaryIO, ...]) -> None:
    """Record bounces from DSN messages: FILE.eml ..., or standard input (``-`` or no FILE)
    for an MTA pipe. Mail that is not a DSN is ignored; a malformed message records nothing
    and makes the command exit with 65 (EX_DATAERR), a database failure with 75 (EX_TEMPFAIL).
    """
    crm = current_app.extensions["crm"]
    if "marketing" not in crm.enabled_plugins():
        raise click.ClickException(
            "the marketing plugin is not enabled: crm plugins enable marketing"
        )
    streams = files or (click.open_file("-", "rb"),)
    limit = max_bytes(crm)
    failed = temporary = False
    for stream in streams:
        name = getattr(stream, "name", "-")
        name = "-" if name in ("<stdin>", "-") else str(name)
        try:
            outcome = process(crm, _read(stream, limit))
        except CRMError as exc:
            click.echo(f"{name}: rejected: {exc.detail}", err=True)
            failed = True
            continue
        except Exception as exc:  # the database is away: let the MTA try again later
            click.echo(f"{name}: temporary failure: {exc}", err=True)
            temporary = True
            continue
        click.echo(f"{name}: {outcome.summary()}")
    if temporary:
        sys.exit(EX_TEMPFAIL)
    if failed:
        sys.exit(EX_DATAERR)
