"""A campaign's outbox: one :class:`~crm_marketing.models.Recipient` row per contact.

The rows are written in one ``INSERT ... SELECT`` when the campaign starts sending, before any
message leaves, so the segment's membership is frozen and a crash, a restart or a second click
can never change who gets the campaign. Each row then moves through::

    queued -> sending -> handover -> sent
                |           |
                |           +-> unknown   (the sender died while the server took the end)
                +-> queued (a temporary failure, attempts + 1) / failed / skipped

* ``sending``: claimed by the sender holding the campaign's lease; the message has not been
  completely handed over, so if the sender dies the row goes back to ``queued``.
* ``handover``: committed just before the final dot of the message is sent. If the sender dies
  now, nobody can know whether the server took the message: the row becomes ``unknown`` and is
  never sent again (a missing message is better than a duplicate).

Only the holder of the campaign's lease (see :mod:`crm_marketing.sending`) moves rows out of
``queued``; these functions are its building blocks and write with plain SQL on the plugin's own
table (recipients are not entity records).
"""

from __future__ import annotations

import datetime as dt
import secrets
from typing import Any

from sqlalchemy import (
    Integer,
    String,
    and_,
    bindparam,
    case,
    cast,
    exists,
    func,
    insert,
    literal,
    or_,
    select,
    update,
)
from sqlalchemy.orm import Session

from crmcore.db import AwareDateTime, utcnow

from .models import Bounce, Campaign, CampaignEvent, Recipient, Segment

#: reasons a recipient is skipped
OPTED_OUT = "opted_out"
BOUNCED = "bounced"
NO_EMAIL = "no_email"
NO_ADDRESS = "no_address"
DELETED = "deleted"
SKIP_REASONS = (OPTED_OUT, BOUNCED, NO_EMAIL, NO_ADDRESS, DELETED)
#: rows the sender must finish before the campaign is done
OPEN_STATUSES = ("queued", "sending", "handover")


def _blank(column: Any) -> Any:
    return or_(column.is_(None), func.trim(column) == "")


def bounced_condition(contact_model: Any) -> Any:
    """The contact's address is suppressed by its bounces (see
    :func:`crm_marketing.bounces.suppressed`: hard, or soft ones counted often enough)."""
    from .bounces import suppressed

    address = func.lower(func.trim(contact_model.email))
    return exists(suppressed().where(Bounce.email == address))


def materialise(crm: Any, session: Session, campaign: Campaign) -> dict[str, int]:
    """Write the campaign's recipients, once: when the campaign has recipients already, the
    call adds nobody (the unique ``(campaign_id, contact_id)`` backs this up).

    Runs in the caller's transaction, which the caller commits with the campaign's move to
    ``sending``. Members come from :func:`crm_marketing.segments.members_query` with the system's
    record service: the whole segment, whoever started the campaign. Returns counts by status.
    """
    from . import segments

    segment = session.get(Segment, campaign.segment_id) if campaign.segment_id else None
    if segment is None:
        raise LookupError(f"campaign {campaign.id} has no segment")
    contact_model = crm.registry.get("contacts").model
    members = segments.members_query(crm, crm.records(session=session), segment)
    member_ids = select(members.order_by(None).subquery().c.id)
    now = utcnow()
    if campaign.kind == "direct_mail":
        reason = case(
            (or_(_blank(contact_model.street), _blank(contact_model.city)), NO_ADDRESS),
            else_=None,
        )
    else:
        reason = case(
            (_blank(contact_model.email), NO_EMAIL),
            (contact_model.email_opt_out.is_(True), OPTED_OUT),
            (bounced_condition(contact_model), BOUNCED),
            else_=None,
        )
    rows = (
        select(
            cast(literal(campaign.id), Integer),
            contact_model.id,
            func.trim(contact_model.email),
            case((reason.is_(None), "queued"), else_="skipped"),
            reason,
            cast(literal(0), Integer),
            literal(now, AwareDateTime),
        )
        .where(
            contact_model.id.in_(member_ids),
            contact_model.deleted_at.is_(None),
            # written once: a second call (a retry, a second start) adds nobody, not even a
            # contact who joined the segment since
            ~exists().where(Recipient.campaign_id == campaign.id),
        )
        .order_by(contact_model.id)
    )
    columns = ["campaign_id", "contact_id", "email", "status", "reason", "attempts", "created_at"]
    session.execute(insert(Recipient).from_select(columns, rows))
    assign_message_ids(session, campaign, _domain(crm, campaign))
    return counts(session, campaign.id)


def _domain(crm: Any, campaign: Campaign) -> str:
    address = campaign.from_email or crm.settings.mail_from or ""
    domain = address.rpartition("@")[2].strip().strip(">").lower()
    return "".join(c for c in domain if c.isalnum() or c in ".-") or "localhost"


def assign_message_ids(session: Session, campaign: Campaign, domain: str) -> None:
    """``<c{campaign}.r{recipient}.{random}@{domain}>`` for each queued row without one: fixed
    before sending, so a message sent again after a crash keeps its Message-ID."""
    token = secrets.token_hex(5)
    value = (
        literal(f"<c{campaign.id}.r", String)
        + cast(Recipient.id, String)
        + literal(f".{token}@{domain}>", String)
    )
    session.execute(
        update(Recipient)
        .where(
            Recipient.campaign_id == campaign.id,
            Recipient.status == "queued",
            Recipient.message_id.is_(None),
        )
        .values(message_id=value)
        .execution_options(synchronize_session=False)
    )


def mark_direct_mail_sent(session: Session, campaign_id: int, now: dt.datetime) -> int:
    """Direct mail is printed, not sent: every queued row becomes ``sent`` with its event."""
    queued = and_(Recipient.campaign_id == campaign_id, Recipient.status == "queued")
    session.execute(
        insert(CampaignEvent).from_select(
            ["campaign_id", "recipient_id", "kind", "at"],
            select(
                Recipient.campaign_id,
                Recipient.id,
                cast(literal("sent"), String),
                literal(now, AwareDateTime),
            ).where(queued),
        )
    )
    result = session.execute(
        update(Recipient)
        .where(queued)
        .values(status="sent", sent_at=now)
        .execution_options(synchronize_session=False)
    )
    return int(result.rowcount or 0)


def counts(session: Session, campaign_id: int) -> dict[str, int]:
    """How many rows of the campaign are in each status (every status present, 0 or more)."""
    from .models import RECIPIENT_STATUSES

    found = dict(
        session.execute(
            select(Recipient.status, func.count())
            .where(Recipient.campaign_id == campaign_id)
            .group_by(Recipient.status)
        ).all()
    )
    return {status: int(found.get(status, 0)) for status in RECIPIENT_STATUSES}


def open_count(session: Session, campaign_id: int) -> int:
    """Rows not finished yet (queued, being sent or being handed over)."""
    return int(
        session.scalar(
            select(func.count())
            .select_from(Recipient)
            .where(Recipient.campaign_id == campaign_id, Recipient.status.in_(OPEN_STATUSES))
        )
        or 0
    )


def recover(session: Session, campaign_id: int) -> tuple[int, int]:
    """After a sender died: its ``sending`` rows go back to ``queued`` (the server never got
    their end), its ``handover`` rows become ``unknown`` (never sent again). Only the new lease
    holder calls this, in the transaction that took the lease. Returns both counts."""
    requeued = session.execute(
        update(Recipient)
        .where(Recipient.campaign_id == campaign_id, Recipient.status == "sending")
        .values(status="queued")
        .execution_options(synchronize_session=False)
    ).rowcount
    unknown = session.execute(
        update(Recipient)
        .where(Recipient.campaign_id == campaign_id, Recipient.status == "handover")
        .values(status="unknown", reason="the sender stopped while handing the message over")
        .execution_options(synchronize_session=False)
    ).rowcount
    return int(requeued or 0), int(unknown or 0)


def claim(session: Session, campaign_id: int, limit: int, max_attempts: int) -> list[int]:
    """Move up to ``limit`` queued rows (fewest attempts first, then in order) to ``sending``;
    their ids. Only the lease holder claims, so nobody competes for the rows."""
    ids = list(
        session.scalars(
            select(Recipient.id)
            .where(
                Recipient.campaign_id == campaign_id,
                Recipient.status == "queued",
                Recipient.attempts <= max_attempts,
            )
            .order_by(Recipient.attempts, Recipient.id)
            .limit(limit)
        )
    )
    if ids:
        session.execute(
            update(Recipient)
            .where(Recipient.id.in_(ids), Recipient.status == "queued")
            .values(status="sending")
            .execution_options(synchronize_session=False)
        )
    return ids


def fewest_attempts(session: Session, campaign_id: int) -> int | None:
    """The lowest attempt count among queued rows, ``None`` when none is queued."""
    value = session.scalar(
        select(func.min(Recipient.attempts)).where(
            Recipient.campaign_id == campaign_id, Recipient.status == "queued"
        )
    )
    return None if value is None else int(value)


def release_claimed(session: Session, campaign_id: int) -> int:
    """The holder stops early (cancelled, mail server down): its claimed rows wait again."""
    return int(
        session.execute(
            update(Recipient)
            .where(Recipient.campaign_id == campaign_id, Recipient.status == "sending")
            .values(status="queued")
            .execution_options(synchronize_session=False)
        ).rowcount
        or 0
    )


# marks written by the sender: prepared statements on the session's connection -------------------
# (no ORM unit of work per message: these run once per message, thousands of times a minute)

_R = Recipient.__table__
_E = CampaignEvent.__table__
_STATUS = (
    _R.update()
    .where(_R.c.id == bindparam("rid"))
    .values(status=bindparam("status"), reason=bindparam("reason"))
)
_STATUS_ATTEMPTS = (
    _R.update()
    .where(_R.c.id == bindparam("rid"))
    .values(status=bindparam("status"), reason=bindparam("reason"), attempts=bindparam("tries"))
)
_HANDOVER = (
    _R.update()
    .where(_R.c.id == bindparam("rid"), _R.c.status == "sending")
    .values(status="handover")
)
_SENT = (
    _R.update()
    .where(_R.c.id == bindparam("rid"), _R.c.status.in_(("handover", "unknown")))
    .values(status="sent", sent_at=bindparam("when", type_=AwareDateTime()), reason=None)
)
_SENT_EVENT = _E.insert().values(
    campaign_id=bindparam("cid"),
    recipient_id=bindparam("rid"),
    kind="sent",
    at=bindparam("when", type_=AwareDateTime()),
)


def set_status(
    session: Session,
    recipient_id: int,
    status: str,
    *,
    reason: str | None = None,
    attempts: int | None = None,
) -> None:
    """Set a row's status, reason (and attempts)."""
    params: dict[str, Any] = {
        "rid": recipient_id,
        "status": status,
        "reason": reason[:500] if reason else None,
    }
    if attempts is None:
        session.connection().execute(_STATUS, params)
    else:
        session.connection().execute(_STATUS_ATTEMPTS, {**params, "tries": attempts})


def mark_handover(session: Session, recipient_id: int) -> bool:
    """``sending`` -> ``handover``: committed just before the message's final dot."""
    return bool(session.connection().execute(_HANDOVER, {"rid": recipient_id}).rowcount)


def mark_sent(session: Session, campaign_id: int, recipient_id: int, now: dt.datetime) -> None:
    """The server took the message: ``sent`` (from ``handover``, or from ``unknown`` when a new
    lease holder gave up on it meanwhile) and a ``sent`` event - what
    :func:`crm_marketing.events.record_event` writes for ``sent`` (the first ``sent_at`` and the
    event row), without loading the row."""
    conn = session.connection()
    if conn.execute(_SENT, {"rid": recipient_id, "when": now}).rowcount:
        conn.execute(_SENT_EVENT, {"cid": campaign_id, "rid": recipient_id, "when": now})
