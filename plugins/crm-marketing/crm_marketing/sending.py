"""Sending campaigns: starting, scheduling, the send job, its lease, cancelling, resuming.

**Starting.** :func:`start` moves a draft campaign to ``scheduled`` (a time in the future) or
``sending``, through the record service with the campaign's version as the condition of the
``UPDATE``: of two clicks, one wins and the other gets ``409 Conflict``. Moving to ``sending``
writes the whole outbox in the same transaction (:func:`crm_marketing.outbox.materialise`): one
row per member of the segment, skipped rows with their reason, queued rows with a fixed
Message-ID. Then the send job is queued. Direct mail is "sent" in that same transaction.

**The lease.** Only one sender works on a campaign: the one whose conditional ``UPDATE`` of
``lease_owner``/``lease_until`` succeeded. It renews the lease about every second, and every
commit it makes checks that it still holds it (the check and the change are one transaction,
so a sender that stalled past its lease and lost it changes nothing more). A sender that
takes over a lapsed lease first recovers its dead predecessor's rows: ``sending`` back to
``queued`` (the server never got their end), ``handover`` to ``unknown`` (never sent twice).
Every sender that takes the lease queues a *watchdog*, the same job delayed by twice the lease,
that takes over if the sender died (a killed worker) and otherwise looks again later; the
periodic :func:`tick` does the same for campaigns nobody watches.

**One message** (:class:`_Sender`): ``MAIL``/``RCPT``/``DATA`` and the message without its final
dot go to the server; one commit marks the previous message ``sent`` and this one ``handover``;
the final dot goes; the answer decides: 2xx ``sent``, 4xx back to ``queued`` for a later try (at
most :data:`MAX_ATTEMPTS`), 5xx ``failed`` with the server's answer. A refusal of the
recipient or a message that cannot be built fails that message only.

**Settings** (environment first, then the ``[marketing]`` table of ``crm.toml``):

==============================  ========================================  =======
``CRM_MARKETING_SEND_RATE``     ``send_rate``: messages per second when     20
                                the campaign sets none; 0 = unlimited
``CRM_MARKETING_LEASE_SECONDS`` ``lease_seconds``: a sender silent this     60
                                long is taken over
``CRM_MARKETING_RETRY_SECONDS`` ``retry_seconds``: wait before trying       300
                                temporarily refused messages again
``CRM_MARKETING_RETURN_PATH``   ``return_path``: envelope sender (where     the From
                                bounces go)                                 address
``CRM_MARKETING_SLICE_SECONDS`` ``slice_seconds``: a send job hands over    60
                                to a new job after this long
==============================  ========================================  =======
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import secrets
import socket
import time
from dataclasses import dataclass
from email.message import EmailMessage
from typing import Any

import click
from sqlalchemy import bindparam, or_, select, update
from sqlalchemy.orm import defer, selectinload

from crmcore import Conflict, CRMError, NotFound, StaleRecord, ValidationError
from crmcore.db import AwareDateTime, utcnow

from . import outbox
from .models import Campaign, CampaignLink, Recipient, Segment
from .smtp_session import ConnectError, FileTransport, Reply, SmtpTransport, TransportError

log = logging.getLogger(__name__)

JOB = "crm_marketing.sending:send_campaign"
DEFAULT_RATE = 20.0
DEFAULT_LEASE = 60.0
DEFAULT_RETRY = 300.0
DEFAULT_SLICE = 60.0
#: tries of a temporarily refused message before it is marked failed
MAX_ATTEMPTS = 3
#: messages claimed at once (at most; a slow rate claims about one second's worth)
BATCH = 100
#: a campaign queued for sending is not queued again by tick for this long
RESERVE = dt.timedelta(minutes=5)
#: ``lease_owner`` of a campaign waiting to retry temporarily refused messages
PARKED = "parked"
#: consecutive failures to reach the mail server before the send waits ``retry_seconds``
CONNECT_TRIES = 5


# settings ---------------------------------------------------------------------------------------


def setting(crm: Any, name: str, default: Any = None) -> Any:
    """``CRM_MARKETING_<NAME>``, else ``[marketing] <name>`` of crm.toml, else ``default``."""
    value = os.environ.get(f"CRM_MARKETING_{name.upper()}")
    if value not in (None, ""):
        return value
    table = crm.settings.extra.get("marketing")
    if isinstance(table, dict) and table.get(name) not in (None, ""):
        return table[name]
    return default


def _number(crm: Any, name: str, default: float, low: float = 0.0) -> float:
    raw = setting(crm, name, default)
    try:
        value = float(raw)
    except (TypeError, ValueError):
        value = -1.0
    if not low <= value < float("inf"):
        log.warning(
            "marketing setting %s=%r is not a number >= %g; using %g", name, raw, low, default
        )
        return default
    return value


def default_rate(crm: Any) -> float:
    """Messages per second of campaigns that set no rate (0: unlimited)."""
    return _number(crm, "send_rate", DEFAULT_RATE)


def lease_seconds(crm: Any) -> float:
    return _number(crm, "lease_seconds", DEFAULT_LEASE, low=0.5)


def retry_seconds(crm: Any) -> float:
    return _number(crm, "retry_seconds", DEFAULT_RETRY)


def slice_seconds(crm: Any) -> float:
    return _number(crm, "slice_seconds", DEFAULT_SLICE, low=0.1)


def campaign_rate(crm: Any, campaign: Campaign) -> float:
    return float(campaign.send_rate) if campaign.send_rate else default_rate(crm)


# starting ---------------------------------------------------------------------------------------


def check_ready(session: Any, campaign: Campaign) -> None:
    """A campaign needs a live segment and, for e-mail, a subject, a body and a sender
    (:func:`crm_marketing.content.ready_problems`, and the segment must not be in the trash)."""
    from .content import ready_problems

    errors = ready_problems(campaign)
    segment = session.get(Segment, campaign.segment_id) if campaign.segment_id else None
    if "segment_id" not in errors and (segment is None or segment.deleted_at is not None):
        errors["segment_id"] = ["The campaign's segment no longer exists."]
    if campaign.kind == "email" and not (campaign.from_email or "").strip():
        errors["from_email"] = ["An e-mail campaign needs a sender address."]
    if errors:
        raise ValidationError(errors, "The campaign cannot be sent yet.")


def start(
    crm: Any, campaign: Campaign, at: dt.datetime | None = None, *, records: Any = None
) -> Campaign:
    """Send ``campaign`` now, or at ``at`` (aware) when that is in the future.

    Only a draft starts: anything else raises :class:`~crmcore.Conflict` (a second click, a
    campaign sending, sent or cancelled), and so does losing a race with another start.
    ``records`` is the caller's record service (the audit names them); the system's otherwise.
    """
    records = records if records is not None else crm.records()
    if at is not None and at.tzinfo is None:
        raise ValidationError({"at": ["Give a time zone (an offset such as +02:00 or Z)."]})
    if campaign.status != "draft":
        raise Conflict(f"The campaign is {campaign.status}; only a draft can be sent.")
    check_ready(records.session, campaign)
    now = utcnow()
    if at is not None and at > now:
        _transition(records, campaign, {"status": "scheduled", "scheduled_at": at})
        records.commit()
        log.info("campaign %s scheduled for %s", campaign.id, at.isoformat())
        return campaign
    begin(crm, campaign, records=records, now=now)
    return campaign


def _transition(records: Any, campaign: Campaign, values: dict[str, Any]) -> None:
    """Change the campaign's status through the record service, on the condition that nobody
    changed it since it was read (its version)."""
    try:
        records.update(
            "campaigns",
            campaign,
            {},
            expected_version=campaign.version,
            internal=values,
            commit=False,
        )
    except StaleRecord:
        raise Conflict("The campaign changed meanwhile (another click?); reload it.") from None


def begin(
    crm: Any, campaign: Campaign, *, records: Any = None, now: dt.datetime | None = None
) -> dict[str, int]:
    """Move a draft or scheduled campaign to ``sending`` and write its outbox, in one
    transaction; queue the send job. Direct mail ends ``sent`` in the same transaction.
    Returns the recipients by status."""
    records = records if records is not None else crm.records()
    session = records.session
    now = now or utcnow()
    check_ready(session, campaign)
    direct = campaign.kind == "direct_mail"
    values: dict[str, Any] = {"status": "sent" if direct else "sending", "started_at": now}
    if direct:
        values["finished_at"] = now
    try:
        _transition(records, campaign, values)
        if not direct:
            from . import compose

            compose.freeze_links(session, campaign)
            session.execute(
                update(Campaign)
                .where(Campaign.id == campaign.id)
                .values(lease_owner=None, lease_until=now + RESERVE)
                .execution_options(synchronize_session=False)
            )
        found = outbox.materialise(crm, session, campaign)
        if direct:
            found["sent"] = outbox.mark_direct_mail_sent(session, campaign.id, now)
            found["queued"] = 0
        records.commit()
    except BaseException:
        records.rollback()
        raise
    log.info(
        "campaign %s started (%s): %d to send, %d skipped",
        campaign.id,
        campaign.kind,
        found["queued"] + found.get("sent", 0) if direct else found["queued"],
        found["skipped"],
    )
    if not direct:
        _enqueue(crm, campaign.id)
    return found


def _enqueue(crm: Any, campaign_id: int, **options: Any) -> None:
    """Queue the send job; if the queue fails, :func:`tick` queues it within minutes."""
    try:
        crm.jobs.enqueue(JOB, campaign_id, **options)
    except Exception:
        log.exception("could not queue the send job of campaign %s; tick will", campaign_id)


def cancel(crm: Any, campaign: Campaign, *, records: Any = None) -> Campaign:
    """Stop a draft, scheduled or sending campaign; rows still queued stay unsent.

    The sender notices at its next commit (within about a second), puts the messages it had
    claimed back to ``queued`` and lets go of the lease.
    """
    records = records if records is not None else crm.records()
    if campaign.status not in ("draft", "scheduled", "sending"):
        raise Conflict(f"The campaign is {campaign.status}; it cannot be cancelled.")
    _transition(records, campaign, {"status": "cancelled", "finished_at": utcnow()})
    records.commit()
    log.info("campaign %s cancelled", campaign.id)
    return campaign


def requeue_unknown(crm: Any, campaign: Campaign, *, records: Any = None) -> int:
    """Send again the messages whose hand-over a crash interrupted (status ``unknown``).

    The server may have taken them, so their recipients may get the message twice: an
    operator's decision, never automatic. A finished campaign goes back to ``sending``.
    Returns how many were queued again.
    """
    records = records if records is not None else crm.records()
    session = records.session
    if campaign.kind != "email" or campaign.status not in ("sending", "sent"):
        raise Conflict(f"The campaign is {campaign.status}; nothing can be sent again.")
    try:
        if campaign.status == "sent":
            _transition(records, campaign, {"status": "sending", "finished_at": None})
        count = session.execute(
            update(Recipient)
            .where(Recipient.campaign_id == campaign.id, Recipient.status == "unknown")
            .values(status="queued", reason="requeued after an interrupted hand-over")
            .execution_options(synchronize_session=False)
        ).rowcount
        if not count:
            records.rollback()
            return 0
        records.commit()
    except BaseException:
        records.rollback()
        raise
    log.warning("campaign %s: %d message(s) of unknown fate queued again", campaign.id, count)
    _enqueue(crm, campaign.id)
    return int(count)


# the periodic job -------------------------------------------------------------------------------


def tick(app: Any) -> dict[str, list[int]]:
    """Every minute: start scheduled campaigns whose time has come, queue sends nobody works on
    (their lease lapsed or they were never picked up), and recover the rows of cancelled
    campaigns whose sender died. Returns the campaign ids acted on."""
    crm = app.extensions["crm"]
    session = crm.session
    now = utcnow()
    done: dict[str, list[int]] = {"started": [], "resumed": [], "recovered": []}
    due = list(
        session.scalars(
            select(Campaign.id)
            .where(
                Campaign.status == "scheduled",
                Campaign.scheduled_at <= now,
                Campaign.deleted_at.is_(None),
            )
            .order_by(Campaign.scheduled_at, Campaign.id)
        )
    )
    session.rollback()
    for campaign_id in due:
        if _start_due(crm, campaign_id):
            done["started"].append(campaign_id)
    stalled = list(
        session.scalars(
            select(Campaign.id).where(
                Campaign.status == "sending",
                Campaign.kind == "email",
                or_(Campaign.lease_until.is_(None), Campaign.lease_until < now),
            )
        )
    )
    session.rollback()
    for campaign_id in stalled:
        if reserve(session, campaign_id, now):
            session.commit()
            _enqueue(crm, campaign_id)
            done["resumed"].append(campaign_id)
        else:
            session.rollback()
    orphans = list(
        session.scalars(
            select(Campaign.id).where(
                Campaign.status.in_(("cancelled", "sent")),
                Campaign.lease_owner.is_not(None),
                Campaign.lease_until < now,
            )
        )
    )
    for campaign_id in orphans:
        released = session.execute(
            update(Campaign)
            .where(Campaign.id == campaign_id, Campaign.lease_until < now)
            .values(lease_owner=None, lease_until=None)
            .execution_options(synchronize_session=False)
        ).rowcount
        if released:
            outbox.recover(session, campaign_id)
            done["recovered"].append(campaign_id)
        session.commit()
    return done


def _start_due(crm: Any, campaign_id: int) -> bool:
    session = crm.session
    campaign = session.get(Campaign, campaign_id, populate_existing=True)
    if campaign is None or campaign.status != "scheduled":
        session.rollback()
        return False
    try:
        begin(crm, campaign)
        return True
    except CRMError as exc:
        campaign = session.get(Campaign, campaign_id, populate_existing=True)
        if campaign is None or campaign.status != "scheduled":
            return False  # started or cancelled by someone else meanwhile
        # the segment went away or its query broke, the content is incomplete...: back to
        # draft, for a person to fix
        log.warning("scheduled campaign %s cannot start (%s); back to draft", campaign_id, exc)
        records = crm.records()
        try:
            _transition(records, campaign, {"status": "draft"})
            records.commit()
        except CRMError:
            records.rollback()
        return False


def reserve(session: Any, campaign_id: int, now: dt.datetime) -> bool:
    """Mark a campaign nobody sends as queued for a sender (so it is queued once, not every
    minute); ``True`` when this call did."""
    result = session.execute(
        update(Campaign)
        .where(
            Campaign.id == campaign_id,
            Campaign.status == "sending",
            or_(Campaign.lease_until.is_(None), Campaign.lease_until < now),
        )
        .values(lease_owner=None, lease_until=now + RESERVE)
        .execution_options(synchronize_session=False)
    )
    return bool(result.rowcount == 1)


# the send job -----------------------------------------------------------------------------------


def send_campaign(app: Any, campaign_id: int, watching: str | None = None) -> str:
    """The send job: take the campaign's lease and send its queued messages.

    ``watching`` is set on watchdog runs: the lease holder it watches. When another sender
    holds a live lease, a watchdog of that sender looks again later and any other run just
    ends. Returns what happened (``sent``, ``continued``, ``held``, ``cancelled``, ``lost``,
    ``parked``, ``idle``), for logs and tests.
    """
    crm = app.extensions["crm"]
    if "marketing" not in crm.enabled_plugins():
        return "idle"
    sender = _Sender(crm, campaign_id)
    if not sender.acquire():
        return sender.not_acquired(watching)
    try:
        return sender.run()
    finally:
        sender.close()


_CAMPAIGN = Campaign.__table__
_RENEW = (
    _CAMPAIGN.update()
    .where(
        _CAMPAIGN.c.id == bindparam("cid"),
        _CAMPAIGN.c.lease_owner == bindparam("owner"),
        _CAMPAIGN.c.status == "sending",
    )
    .values(lease_until=bindparam("until", type_=AwareDateTime()))
)
_CHECK = (
    select(_CAMPAIGN.c.status, _CAMPAIGN.c.lease_owner)
    .where(_CAMPAIGN.c.id == bindparam("cid"))
    .with_for_update()
)


def owner_token() -> str:
    """Who holds a lease: host, process and a random part (never reused)."""
    host = socket.gethostname()[:24]
    return f"{host}:{os.getpid()}:{secrets.token_hex(6)}"


class _Stop(Exception):
    """End the send: ``outcome`` says why."""

    def __init__(self, outcome: str) -> None:
        super().__init__(outcome)
        self.outcome = outcome


@dataclass
class _Item:
    """A claimed message, ready to hand over."""

    recipient: Recipient
    email: str
    message: EmailMessage


class _Sender:
    """One run of the send job for one campaign, holding its lease."""

    def __init__(self, crm: Any, campaign_id: int) -> None:
        self.crm = crm
        self.session = crm.session
        self.campaign_id = campaign_id
        self.owner = owner_token()
        self.lease = dt.timedelta(seconds=lease_seconds(crm))
        self.transport: Any = None
        self.marks: list[tuple[Any, ...]] = []
        self.renewed = 0.0
        self.next_send = 0.0
        self.interval = 0.0
        self.sent = 0
        self.connect_failures = 0
        self.started = time.monotonic()
        self.slice = slice_seconds(crm)

    # the lease ----------------------------------------------------------------------------------

    def acquire(self) -> bool:
        """Take the lease if it is free or lapsed; recover a dead sender's rows with it."""
        session = self.session
        now = utcnow()
        taken = session.execute(
            update(Campaign)
            .where(
                Campaign.id == self.campaign_id,
                Campaign.status == "sending",
                Campaign.kind == "email",
                or_(
                    Campaign.lease_owner.is_(None),
                    Campaign.lease_until.is_(None),
                    Campaign.lease_until < now,
                ),
            )
            .values(lease_owner=self.owner, lease_until=now + self.lease)
            .execution_options(synchronize_session=False)
        ).rowcount
        if taken != 1:
            session.rollback()
            return False
        requeued, unknown = outbox.recover(session, self.campaign_id)
        session.commit()
        self.renewed = time.monotonic()
        if requeued or unknown:
            log.warning(
                "campaign %s: took over from a stopped sender: %d message(s) queued again, "
                "%d in hand-over marked unknown (not sent again)",
                self.campaign_id,
                requeued,
                unknown,
            )
        watchdog = 2 * self.lease.total_seconds()
        _enqueue(self.crm, self.campaign_id, watching=self.owner, delay=watchdog)
        return True

    def not_acquired(self, watching: str | None) -> str:
        """Another sender holds a live lease (or the campaign is not sending)."""
        row = self.session.execute(
            select(Campaign.status, Campaign.lease_owner, Campaign.lease_until).where(
                Campaign.id == self.campaign_id
            )
        ).one_or_none()
        self.session.rollback()
        if row is None or row.status != "sending":
            return "idle"
        if watching is not None and row.lease_owner == watching:
            delay = 2 * self.lease.total_seconds()
            _enqueue(self.crm, self.campaign_id, watching=watching, delay=delay)
        return "held"

    def _hold(self, renew: bool) -> None:
        """Check (and renew) the lease in the current transaction; :class:`_Stop` when it was
        lost or the campaign stopped sending. Takes the campaign row's lock on PostgreSQL, so
        a takeover waits for this transaction, or this transaction sees the takeover."""
        conn = self.session.connection()
        if renew:
            until = utcnow() + self.lease
            params = {"cid": self.campaign_id, "owner": self.owner, "until": until}
            if conn.execute(_RENEW, params).rowcount == 1:
                self.renewed = time.monotonic()
                return
        row = conn.execute(_CHECK, {"cid": self.campaign_id}).one_or_none()
        if row is not None and row.lease_owner == self.owner and row.status == "sending":
            return
        if row is not None and row.lease_owner == self.owner:
            raise _Stop("cancelled" if row.status == "cancelled" else "stopped")
        raise _Stop("lost")

    def _commit(self, handover: int | None = None) -> None:
        """One commit: the marks of earlier messages, the lease check and, when the lease is
        still ours, this message's ``handover``. The marks are facts and are committed even
        when the lease was lost."""
        session = self.session
        now = utcnow()
        for mark in self.marks:
            self._apply(mark, now)
        self.marks.clear()
        renew = time.monotonic() - self.renewed >= min(1.0, self.lease.total_seconds() / 4)
        try:
            self._hold(renew)
        except _Stop:
            session.commit()
            raise
        if handover is not None:
            outbox.mark_handover(session, handover)
        session.commit()

    def _apply(self, mark: tuple[Any, ...], now: dt.datetime) -> None:
        kind, recipient = mark[0], mark[1]
        session = self.session
        if kind == "sent":
            outbox.mark_sent(session, self.campaign_id, recipient.id, now)
            self.sent += 1
        elif kind == "retry":
            attempts = (recipient.attempts or 0) + 1
            status = "queued" if attempts < MAX_ATTEMPTS else "failed"
            outbox.set_status(session, recipient.id, status, reason=mark[2], attempts=attempts)
        else:  # failed, skipped, unknown
            outbox.set_status(session, recipient.id, kind, reason=mark[2])

    # sending ------------------------------------------------------------------------------------

    def run(self) -> str:
        session = self.session
        campaign = session.get(Campaign, self.campaign_id, populate_existing=True)
        assert campaign is not None
        rate = campaign_rate(self.crm, campaign)
        self.interval = 1.0 / rate if rate > 0 else 0.0
        batch = BATCH if not rate else max(1, min(BATCH, int(rate)))
        links = {
            link.url: link.id
            for link in session.scalars(
                select(CampaignLink).where(CampaignLink.campaign_id == campaign.id)
            )
        }
        sender = str(setting(self.crm, "return_path", "") or campaign.from_email or "").strip()
        if not sender:
            sender = self.crm.settings.mail_from
        session.commit()
        try:
            self.transport = self._transport()
        except CRMError as exc:  # a bad CRM_SMTP_URL: nothing can be sent until it is fixed
            log.error("campaign %s cannot send: %s", campaign.id, exc)
            return self._park(release=True)
        log.info(
            "campaign %s: sending through %s at %s",
            campaign.id,
            self.transport.where,
            f"{rate:g}/s" if rate else "no rate limit",
        )
        try:
            round_ = outbox.fewest_attempts(session, campaign.id) or 0
            session.rollback()
            while True:
                items = self._claim(campaign, links, batch, round_)
                if items is None:
                    left = outbox.fewest_attempts(session, campaign.id)
                    session.rollback()
                    if left is None:
                        return self._finish()
                    if retry_seconds(self.crm) > 0:
                        return self._park(release=False)
                    round_ = left
                    continue
                for item in items:
                    self._send_one(sender, item)
                self._commit()
                for item in items:
                    session.expunge(item.recipient)
                if time.monotonic() - self.started >= self.slice:
                    return self._continue_later()
        except _Stop as stop:
            return self._stopped(stop.outcome)

    def _continue_later(self) -> str:
        """The job has run for ``slice_seconds``: let the lease go and queue the rest as a new
        job, so other jobs get their turn and a worker asked to stop does so soon."""
        session = self.session
        released = session.execute(
            update(Campaign)
            .where(Campaign.id == self.campaign_id, Campaign.lease_owner == self.owner)
            .values(lease_owner=None, lease_until=utcnow() + RESERVE)
            .execution_options(synchronize_session=False)
        ).rowcount
        session.commit()
        if not released:
            return "lost"
        _enqueue(self.crm, self.campaign_id)
        log.info("campaign %s: %d sent in this run; the rest follows", self.campaign_id, self.sent)
        return "continued"

    def _transport(self) -> Any:
        from crmcore.mail import parse_smtp_url
        from crmcore.mail.outbox import outbox_path

        settings = self.crm.settings
        if settings.smtp_url:
            return SmtpTransport(parse_smtp_url(settings.smtp_url))
        return FileTransport(outbox_path(settings.instance_path))

    def _claim(
        self, campaign: Campaign, links: dict[str, int], limit: int, round_: int
    ) -> list[_Item] | None:
        """Claim a batch (checking the lease in the same transaction), skip contacts who opted
        out or bounced since the start, build the messages; ``None`` when nothing is left to
        claim in this round."""
        session = self.session
        if self.marks:
            self._commit()
        self._hold(renew=True)
        ids = outbox.claim(session, campaign.id, limit, round_)
        if not ids:
            session.commit()
            return None
        contact_model = self.crm.registry.get("contacts").model
        rows = session.execute(
            select(Recipient, contact_model)
            .outerjoin(contact_model, contact_model.id == Recipient.contact_id)
            .where(Recipient.id.in_(ids))
            .order_by(Recipient.id)
            .options(
                selectinload(contact_model.company),
                # what messages never show: not read (nor decoded) for each contact
                defer(contact_model.emails),
                defer(contact_model.phones),
                defer(contact_model.addresses),
            )
            .execution_options(populate_existing=True)
        ).all()
        suppressed = self._suppressed([c.email for _r, c in rows if c is not None and c.email])
        items: list[_Item] = []
        for recipient, contact in rows:
            reason = _skip_reason(contact, suppressed)
            if reason is not None:
                outbox.set_status(session, recipient.id, "skipped", reason=reason)
                session.expunge(recipient)
                continue
            email = (recipient.email or "").strip()
            try:
                if not _valid_address(email):
                    raise ValueError("not a valid e-mail address")
                message = self._compose(campaign, recipient, contact, links)
            except Exception as exc:
                log.warning(
                    "campaign %s: message to recipient %s not built: %s",
                    campaign.id,
                    recipient.id,
                    exc,
                )
                reason = f"the message could not be built: {str(exc)[:300]}"
                outbox.set_status(session, recipient.id, "failed", reason=reason)
                session.expunge(recipient)
                continue
            items.append(_Item(recipient, email, message))
        session.commit()
        return items

    def _suppressed(self, emails: list[str]) -> set[str]:
        from .bounces import suppressed

        if not emails:
            return set()
        wanted = {e.strip().lower() for e in emails}
        from .models import Bounce

        return set(self.session.scalars(suppressed().where(Bounce.email.in_(wanted))))

    def _compose(
        self, campaign: Campaign, recipient: Recipient, contact: Any, links: dict[str, int]
    ) -> EmailMessage:
        from flask_babel import force_locale

        from crmcore.mail import check_headers
        from crmcore.web.i18n import contact_locale

        from . import compose

        # in the contact's language (their own, else the instance's), in a request or not
        with force_locale(contact_locale(self.crm.app, contact)):
            message = compose.compose(self.crm, campaign, recipient, contact, links)
        check_headers(message)
        return message

    def _send_one(self, sender: str, item: _Item) -> None:
        """Hand one message over: everything but its end, the ``handover`` commit, the end."""
        self._pace()
        recipient = item.recipient
        while True:
            try:
                refused = self.transport.begin(sender, item.email, item.message)
                break
            except ConnectError as exc:
                self._unreachable(item, exc)  # waits, or stops the send
            except TransportError as exc:
                # lost in the middle of this message (the server never saw its end)
                self.marks.append(("retry", recipient, str(exc)[:500]))
                return
        self.connect_failures = 0
        if refused is not None:
            self._refused(recipient, refused)
            return
        try:
            self._commit(handover=recipient.id)
        except _Stop:
            self.transport.abort()  # the server discards the message it has not seen end
            raise
        try:
            reply = self.transport.finish()
        except TransportError as exc:
            reason = f"the connection failed after the end of the message: {exc}"
            self.marks.append(("unknown", recipient, reason[:500]))
            return
        if reply.ok:
            self.marks.append(("sent", recipient))
        else:
            self._refused(recipient, reply)

    def _refused(self, recipient: Recipient, reply: Reply) -> None:
        if reply.temporary:
            self.marks.append(("retry", recipient, str(reply)))
        else:
            self.marks.append(("failed", recipient, str(reply)))

    def _unreachable(self, item: _Item, exc: TransportError) -> None:
        """The mail server cannot be reached: wait a little longer each time (the message
        stays claimed); after :data:`CONNECT_TRIES` failures in a row, stop and try later."""
        self.connect_failures += 1
        log.warning(
            "campaign %s: %s (failure %d of %d)",
            self.campaign_id,
            exc,
            self.connect_failures,
            CONNECT_TRIES,
        )
        if self.connect_failures >= CONNECT_TRIES:
            raise _Stop("unreachable")
        self._wait(min(30.0, 0.25 * 2**self.connect_failures))

    def _pace(self) -> None:
        if not self.interval:
            return
        now = time.monotonic()
        if self.next_send > now:
            self._wait(self.next_send - now)
        self.next_send = max(self.next_send, time.monotonic()) + self.interval

    def _wait(self, seconds: float) -> None:
        """Sleep, committing marks and renewing the lease about every second."""
        end = time.monotonic() + seconds
        while True:
            left = end - time.monotonic()
            if left <= 0:
                return
            time.sleep(min(left, 1.0))
            if time.monotonic() - self.renewed >= 1.0 or self.marks:
                self._commit()

    # the end ------------------------------------------------------------------------------------

    def _finish(self) -> str:
        """Every message is done: the campaign is ``sent`` and the lease released."""
        session = self.session
        records = self.crm.records()
        for _ in range(3):
            campaign = session.get(Campaign, self.campaign_id, populate_existing=True)
            if campaign is None or campaign.status != "sending":
                session.rollback()
                return self._stopped("stopped")
            try:
                self._hold(renew=True)
                _transition(records, campaign, {"status": "sent", "finished_at": utcnow()})
                self._release()
                records.commit()
            except _Stop as stop:
                session.rollback()
                return self._stopped(stop.outcome)
            except Conflict:
                continue  # changed meanwhile (renamed, cancelled): read it again
            log.info("campaign %s sent (%d message(s) in this run)", self.campaign_id, self.sent)
            return "sent"
        return "lost"

    def _release(self, parked_until: dt.datetime | None = None) -> bool:
        """Let the lease go (``parked_until``: nobody takes it before then); ``False`` when it
        was not ours any more."""
        return bool(
            self.session.execute(
                update(Campaign)
                .where(Campaign.id == self.campaign_id, Campaign.lease_owner == self.owner)
                .values(
                    lease_owner=PARKED if parked_until else None,
                    lease_until=parked_until,
                )
                .execution_options(synchronize_session=False)
            ).rowcount
        )

    def _flush_marks(self) -> None:
        """Commit what became of the messages so far, whoever holds the lease now."""
        session = self.session
        session.rollback()
        now = utcnow()
        for mark in self.marks:
            self._apply(mark, now)
        self.marks.clear()
        session.commit()

    def _park(self, release: bool) -> str:
        """Messages wait for a later try: let the lease go until then and queue the job again.
        ``release``: the rows this sender claimed wait too (the mail server is unreachable)."""
        session = self.session
        self._flush_marks()
        delay = max(1.0, retry_seconds(self.crm))
        if not self._release(parked_until=utcnow() + dt.timedelta(seconds=delay)):
            session.commit()
            return "lost"
        if release:
            outbox.release_claimed(session, self.campaign_id)
        session.commit()
        _enqueue(self.crm, self.campaign_id, delay=delay)
        log.info("campaign %s: trying the rest again in %.0f s", self.campaign_id, delay)
        return "parked"

    def _stopped(self, outcome: str) -> str:
        """The send ends early: the server is unreachable (try later), the campaign was
        cancelled (claimed rows wait again, the lease is let go), or the lease was lost
        (another sender owns every row now: touch nothing)."""
        if outcome == "unreachable":
            return self._park(release=True)
        self._flush_marks()
        if outcome != "lost":
            session = self.session
            held = session.execute(
                select(Campaign.lease_owner).where(Campaign.id == self.campaign_id)
            ).scalar()
            if held == self.owner:
                outbox.release_claimed(session, self.campaign_id)
                self._release()
            session.commit()
        log.info("campaign %s: the send stopped (%s)", self.campaign_id, outcome)
        return outcome

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()
        self.session.rollback()


def _skip_reason(contact: Any, suppressed: set[str]) -> str | None:
    """Why a claimed message must not go after all (the contact changed since the start)."""
    if contact is None or contact.deleted_at is not None:
        return outbox.DELETED
    if contact.email_opt_out:
        return outbox.OPTED_OUT
    if (contact.email or "").strip().lower() in suppressed:
        return outbox.BOUNCED
    return None


def _valid_address(email: str) -> bool:
    local, at, domain = email.rpartition("@")
    return bool(at and local and domain) and not any(c in email for c in '\r\n <>,;"()')


# commands ---------------------------------------------------------------------------------------


def _parse_at(value: str | None) -> dt.datetime | None:
    if not value:
        return None
    try:
        moment = dt.datetime.fromisoformat(value)
    except ValueError:
        raise click.BadParameter("an ISO date and time, such as 2026-05-01T09:00+02:00") from None
    if moment.tzinfo is None:
        raise click.BadParameter("give a time zone offset, such as +02:00 or Z")
    return moment


@click.command("send")
@click.argument("campaign_id", type=int)
@click.option("--at", "at", help="Send at this time (ISO 8601 with an offset) instead of now.")
@click.option(
    "--wait",
    is_flag=True,
    help="Send in this process and wait until done, instead of leaving it to `crm worker`.",
)
def send_command(campaign_id: int, at: str | None, wait: bool) -> None:
    """Send a campaign now (or schedule it with --at)."""
    from crmcore import current_crm

    crm = current_crm()
    moment = _parse_at(at)
    campaign = crm.session.get(Campaign, campaign_id)
    if campaign is None or campaign.deleted_at is not None:
        raise click.ClickException(f"no campaign {campaign_id}")
    try:
        start(crm, campaign, moment)
    except ValidationError as exc:
        problems = "; ".join(f"{k}: {' '.join(map(str, v))}" for k, v in exc.messages.items())
        raise click.ClickException(f"{exc.detail} {problems}") from None
    except (Conflict, NotFound) as exc:
        raise click.ClickException(exc.detail) from None
    if campaign.status == "scheduled":
        click.echo(f"campaign {campaign_id} scheduled for {campaign.scheduled_at.isoformat()}")
        return
    found = outbox.counts(crm.session, campaign_id)
    crm.session.rollback()
    click.echo(
        f"campaign {campaign_id} {campaign.status}: {found['queued'] + found['sent']} "
        f"recipient(s), {found['skipped']} skipped"
    )
    if wait and campaign.kind == "email":
        outcome = send_campaign(crm.app, campaign_id)
        while outcome == "continued":  # a worker may take over the rest meanwhile: fine
            outcome = send_campaign(crm.app, campaign_id)
        found = outbox.counts(crm.session, campaign_id)
        crm.session.rollback()
        click.echo(
            f"{outcome}: {found['sent']} sent, {found['failed']} failed, "
            f"{found['queued']} waiting, {found['unknown']} unknown"
        )


@click.command("requeue-unknown")
@click.argument("campaign_id", type=int)
@click.option("--yes", is_flag=True, help="Do not ask; for scripts.")
def requeue_unknown_command(campaign_id: int, yes: bool) -> None:
    """Send again the messages of CAMPAIGN_ID left "unknown" by a crash (they may arrive
    twice)."""
    from crmcore import current_crm

    crm = current_crm()
    records = crm.records()
    campaign = records.get("campaigns", campaign_id)
    waiting = outbox.counts(crm.session, campaign_id)["unknown"]
    if not waiting:
        click.echo(f"campaign {campaign_id} has no message of unknown fate")
        return
    if not yes:
        click.confirm(
            f"{waiting} recipient(s) may already have the message and would get it twice; "
            "send again?",
            abort=True,
        )
    count = requeue_unknown(crm, campaign, records=records)
    click.echo(f"campaign {campaign_id}: {count} message(s) queued again")


@click.command("resume")
@click.argument("campaign_id", type=int, required=False)
def resume_command(campaign_id: int | None) -> None:
    """Queue again the sends nobody works on (a worker died, a retry is waiting)."""
    from crmcore import current_crm

    crm = current_crm()
    session = crm.session
    now = utcnow()
    stmt = select(Campaign.id, Campaign.lease_owner, Campaign.lease_until).where(
        Campaign.status == "sending", Campaign.kind == "email"
    )
    if campaign_id is not None:
        stmt = stmt.where(Campaign.id == campaign_id)
    rows = session.execute(stmt.order_by(Campaign.id)).all()
    session.rollback()
    if campaign_id is not None and not rows:
        raise click.ClickException(f"campaign {campaign_id} is not sending")
    for row in rows:
        live = row.lease_until is not None and row.lease_until >= now
        if live and row.lease_owner not in (None, PARKED):
            click.echo(f"campaign {row.id}: being sent (lease until {row.lease_until:%H:%M:%S})")
            continue
        session.execute(
            update(Campaign)
            .where(Campaign.id == row.id, Campaign.status == "sending")
            .values(lease_owner=None, lease_until=now + RESERVE)
            .execution_options(synchronize_session=False)
        )
        session.commit()
        _enqueue(crm, row.id)
        click.echo(f"campaign {row.id}: queued")
