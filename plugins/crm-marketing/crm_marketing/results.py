"""Results of a campaign: what became of its messages, over time, and what it brought in.

Counts come from the recipients (the campaign's outbox, one row per contact, with the time of
the first open, click, unsubscribe and bounce), the time series from the events
(``marketing_event``), attribution from leads and deals whose custom field ``campaign_id``
names the campaign (crm-sales). Everything is computed on demand with a handful of aggregate
queries; nothing is cached, so results are always current.

Definitions (also in the user guide, "Results and attribution"):

* ``sent``: handed to the mail server; ``delivered``: sent and not bounced since;
* ``opened``: opened at least once, or clicked (a click proves the message was opened even
  when the mail program blocked the tracking image); ``clicked``, ``unsubscribed``: unique
  recipients;
* ``queued``: not yet sent (waiting, or being sent right now); ``unknown``: a sender died while
  handing the message over, so whether it left is not known (it is never sent twice);
* rates are fractions (0 to 1): delivery and bounce rates of the sent messages; open, click and
  unsubscribe rates of the delivered ones; click-to-open of the opened ones.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from decimal import Decimal
from typing import Any

from sqlalchemy import String, and_, case, distinct, func, or_, select

from crmcore import ValidationError, parsing
from crmcore.db import utcnow

from .models import Campaign, CampaignEvent, CampaignLink, Recipient

#: The kinds of events counted over time.
SERIES = ("sent", "open", "click", "unsubscribe", "bounce")
#: The series of the chart, in order: the events and ``delivered`` (messages sent in the
#: bucket whose recipient has not bounced).
CHART_SERIES = ("sent", "delivered", "open", "click", "bounce", "unsubscribe")
#: Hourly buckets while the events span at most this long, daily ones after.
HOURLY_SPAN = dt.timedelta(hours=72)
#: At most this many points in a time series (older buckets are left out).
MAX_POINTS = 400
TOP_LINKS = 10
PENDING = ("queued", "sending", "handover")
BUCKETS = ("hour", "day")


def _count(condition: Any) -> Any:
    return func.coalesce(func.sum(case((condition, 1), else_=0)), 0)


def _rate(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def counts(session: Any, campaign_id: int) -> dict[str, Any]:
    """What became of the campaign's messages (unique recipients), and why some were skipped."""
    r = Recipient
    sent = r.status == "sent"
    row = session.execute(
        select(
            func.count(r.id),
            _count(r.status.in_(PENDING)),
            _count(sent),
            _count(and_(sent, r.bounced_at.is_not(None))),
            _count(or_(r.opened_at.is_not(None), r.clicked_at.is_not(None))),
            _count(r.clicked_at.is_not(None)),
            _count(r.unsubscribed_at.is_not(None)),
            _count(r.bounced_at.is_not(None)),
            _count(r.status == "failed"),
            _count(r.status == "skipped"),
            _count(r.status == "unknown"),
        ).where(r.campaign_id == campaign_id)
    ).one()
    (
        recipients,
        queued,
        sent_n,
        sent_bounced,
        opened,
        clicked,
        unsub,
        bounced,
        failed,
        skipped,
        unknown,
    ) = (int(v or 0) for v in row)
    reasons = {
        reason or "other": int(n)
        for reason, n in session.execute(
            select(r.reason, func.count(r.id))
            .where(r.campaign_id == campaign_id, r.status == "skipped")
            .group_by(r.reason)
            .order_by(func.count(r.id).desc(), r.reason)
        )
    }
    return {
        "recipients": recipients,
        "queued": queued,
        "sent": sent_n,
        "delivered": sent_n - sent_bounced,
        "opened": opened,
        "clicked": clicked,
        "unsubscribed": unsub,
        "bounced": bounced,
        "failed": failed,
        "skipped": skipped,
        "unknown": unknown,
        "skipped_by_reason": reasons,
    }


def rates(c: dict[str, Any]) -> dict[str, float | None]:
    """Rates of the counts (fractions; ``None`` when there is nothing to divide by)."""
    delivered = c["delivered"]
    return {
        "delivery": _rate(delivered, c["sent"]),
        "bounce": _rate(c["bounced"], c["sent"]),
        "open": _rate(c["opened"], delivered),
        "click": _rate(c["clicked"], delivered),
        "click_to_open": _rate(c["clicked"], c["opened"]),
        "unsubscribe": _rate(c["unsubscribed"], delivered),
    }


def bucket_expression(dialect: str, bucket: str) -> Any:
    """The start of an event's hour or day in UTC, as ``YYYY-MM-DDTHH:00:00`` text, on SQLite
    (which stores naive UTC) and PostgreSQL (``timestamptz``) alike."""
    at = CampaignEvent.at
    if dialect == "postgresql":
        pattern = 'YYYY-MM-DD"T"HH24:00:00' if bucket == "hour" else 'YYYY-MM-DD"T00:00:00"'
        return func.to_char(func.timezone("UTC", at), pattern, type_=String)
    pattern = "%Y-%m-%dT%H:00:00" if bucket == "hour" else "%Y-%m-%dT00:00:00"
    return func.strftime(pattern, at, type_=String)


def _parse(stamp: str) -> dt.datetime:
    return dt.datetime.fromisoformat(stamp).replace(tzinfo=dt.UTC)


def timeline(session: Any, campaign_id: int, bucket: str | None = None) -> dict[str, Any]:
    """Events per hour or day (UTC) and kind: ``{"bucket", "points": [{"at", "sent", ...}]}``.

    ``bucket`` ``None`` chooses hours while the events span at most three days. Buckets without
    events between the first and the last are filled with zeros, so charts keep their scale.
    """
    e = CampaignEvent
    mine = (e.campaign_id == campaign_id, e.kind.in_(SERIES))
    if bucket not in BUCKETS:
        first, last = session.execute(select(func.min(e.at), func.max(e.at)).where(*mine)).one()
        if first is None:
            return {"bucket": "hour", "points": []}
        first, last = (
            v if isinstance(v, dt.datetime) else dt.datetime.fromisoformat(str(v))
            for v in (first, last)
        )
        bucket = "hour" if _span(first, last) <= HOURLY_SPAN else "day"
    dialect = session.get_bind().dialect.name
    start = bucket_expression(dialect, bucket)
    found: dict[str, dict[str, int]] = defaultdict(dict)
    for at, kind, n in session.execute(
        select(start.label("bucket"), e.kind, func.count(e.id))
        .where(*mine)
        .group_by("bucket", e.kind)
        .order_by("bucket")
    ):
        found[str(at)][str(kind)] = int(n)
    # delivered: the "sent" events whose recipient has not bounced, in the bucket they were sent
    r = Recipient
    for at, n in session.execute(
        select(start.label("bucket"), func.count(e.id))
        .join(r, r.id == e.recipient_id)
        .where(e.campaign_id == campaign_id, e.kind == "sent", r.bounced_at.is_(None))
        .group_by("bucket")
    ):
        found[str(at)]["delivered"] = int(n)
    if not found:
        return {"bucket": bucket, "points": []}
    step = dt.timedelta(hours=1) if bucket == "hour" else dt.timedelta(days=1)
    stamps = sorted(found)
    moment, end = _parse(stamps[0]), _parse(stamps[-1])
    if (end - moment) / step >= MAX_POINTS:
        moment = end - step * (MAX_POINTS - 1)
    points = []
    while moment <= end:
        key = moment.strftime("%Y-%m-%dT%H:%M:%S")
        values = found.get(key, {})
        points.append({"at": key + "Z", **{kind: values.get(kind, 0) for kind in CHART_SERIES}})
        moment += step
    return {"bucket": bucket, "points": points}


def _span(first: dt.datetime, last: dt.datetime) -> dt.timedelta:
    def aware(value: dt.datetime) -> dt.datetime:
        return value if value.tzinfo else value.replace(tzinfo=dt.UTC)

    return aware(last) - aware(first)


def top_links(session: Any, campaign_id: int, limit: int = TOP_LINKS) -> list[dict[str, Any]]:
    """The campaign's most clicked links: clicks, and recipients who clicked."""
    e, link = CampaignEvent, CampaignLink
    clicks = func.count(e.id)
    rows = session.execute(
        select(link.url, clicks, func.count(distinct(e.recipient_id)))
        .join(e, and_(e.link_id == link.id, e.kind == "click"))
        .where(link.campaign_id == campaign_id)
        .group_by(link.id, link.url)
        .order_by(clicks.desc(), link.id)
        .limit(limit)
    )
    return [{"url": url, "clicks": int(n), "unique_clicks": int(u)} for url, n, u in rows]


def sales_enabled(records: Any) -> bool:
    return "sales" in records.crm.enabled_plugins()


def campaign_condition(model: Any, campaign_id: int) -> Any:
    """Records whose custom field ``campaign_id`` names the campaign (JSON, both databases)."""
    return model.custom_fields["campaign_id"].as_float() == float(campaign_id)


def attribution(records: Any, campaign_ids: list[int]) -> dict[int, dict[str, Any]] | None:
    """Leads and deals attributed to each campaign and the revenue of the won deals, within the
    caller's scope. ``None`` without crm-sales; a part is ``None`` when the caller may not read
    leads (or deals)."""
    if not sales_enabled(records):
        return None
    out: dict[int, dict[str, Any]] = {
        cid: {
            "leads": None,
            "converted_leads": None,
            "deals": None,
            "won_deals": None,
            "lost_deals": None,
            "open_deals": None,
            "revenue": None,
        }
        for cid in campaign_ids
    }
    if not campaign_ids:
        return out
    session = records.session
    wanted = [float(c) for c in campaign_ids]
    if records.access.can("leads", "read"):
        lead = records.entity("leads").model
        key = lead.custom_fields["campaign_id"].as_float()
        scoped = (
            records.query("leads")
            .with_only_columns(key.label("cid"), lead.status.label("status"))
            .where(key.in_(wanted))
            .subquery()
        )
        # grouped by a subquery's column: PostgreSQL refuses GROUP BY on an expression with
        # bound parameters (the JSON key) repeated from the SELECT
        stmt = select(scoped.c.cid, func.count(), _count(scoped.c.status == "converted")).group_by(
            scoped.c.cid
        )
        for cid in campaign_ids:
            out[cid].update(leads=0, converted_leads=0)
        for value, n, converted in session.execute(stmt):
            if value is not None and int(value) in out:
                out[int(value)].update(leads=int(n), converted_leads=int(converted))
    if records.access.can("deals", "read"):
        deal = records.entity("deals").model
        stage = records.entity("stages").model
        key = deal.custom_fields["campaign_id"].as_float()
        stmt = (
            records.query("deals")
            .join(stage, stage.id == deal.stage_id)
            .with_only_columns(key, deal.amount, deal.currency, stage.is_won, stage.is_lost)
            .where(key.in_(wanted))
        )
        revenue: dict[int, dict[str, Decimal]] = defaultdict(lambda: defaultdict(Decimal))
        for cid in campaign_ids:
            out[cid].update(deals=0, won_deals=0, lost_deals=0, open_deals=0)
        for value, amount, currency, won, lost in session.execute(stmt):
            if value is None or int(value) not in out:
                continue
            row = out[int(value)]
            row["deals"] += 1
            if won:
                row["won_deals"] += 1
                revenue[int(value)][currency] += Decimal(str(amount or 0))
            elif lost:
                row["lost_deals"] += 1
            else:
                row["open_deals"] += 1
        for cid in campaign_ids:
            out[cid]["revenue"] = [
                {"currency": cur, "amount": str(amount.quantize(Decimal("0.01")))}
                for cur, amount in sorted(revenue[cid].items())
            ]
    return out


def campaign_results(records: Any, campaign: Campaign, bucket: str | None = None) -> dict[str, Any]:
    """Everything about one campaign's results, as JSON-ready values.

    ``records`` is the caller's record service: attributed leads and deals are counted within
    their scope. The caller checks that they may read ``campaign``.
    """
    session = records.session
    c = counts(session, campaign.id)
    attributed = attribution(records, [campaign.id])
    return {
        "campaign_id": campaign.id,
        "name": campaign.name,
        "kind": campaign.kind,
        "status": campaign.status,
        "started_at": _iso(campaign.started_at),
        "finished_at": _iso(campaign.finished_at),
        "counts": c,
        "rates": rates(c),
        "timeline": timeline(session, campaign.id, bucket),
        "top_links": top_links(session, campaign.id),
        "attribution": attributed[campaign.id] if attributed is not None else None,
        "computed_at": _iso(utcnow()),
    }


def rates_of_campaigns(session: Any, campaign_ids: list[int]) -> dict[int, dict[str, Any]]:
    """Sent, delivered, opened and clicked per campaign, with open and click rates, in one
    query (for lists and the dashboard)."""
    if not campaign_ids:
        return {}
    r = Recipient
    sent = r.status == "sent"
    stmt = (
        select(
            r.campaign_id,
            _count(sent),
            _count(and_(sent, r.bounced_at.is_not(None))),
            _count(or_(r.opened_at.is_not(None), r.clicked_at.is_not(None))),
            _count(r.clicked_at.is_not(None)),
        )
        .where(r.campaign_id.in_(campaign_ids))
        .group_by(r.campaign_id)
    )
    out = {
        cid: {"sent": 0, "delivered": 0, "opened": 0, "clicked": 0, "open": None, "click": None}
        for cid in campaign_ids
    }
    for cid, sent_n, bounced, opened, clicked in session.execute(stmt):
        delivered = int(sent_n) - int(bounced)
        out[cid] = {
            "sent": int(sent_n),
            "delivered": delivered,
            "opened": int(opened),
            "clicked": int(clicked),
            "open": _rate(int(opened), delivered),
            "click": _rate(int(clicked), delivered),
        }
    return out


def _iso(value: dt.datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


# attribution: which campaign brought a lead or a deal ------------------------------------------

#: A lead whose ``source`` is ``campaign:<id>`` is attributed to that campaign.
SOURCE_PREFIX = "campaign:"
ATTRIBUTED = ("lead", "deal")


def _campaign_exists(session: Any, campaign_id: Any) -> bool:
    if not isinstance(campaign_id, int) or not 0 < campaign_id < 2**31:
        return False
    campaign = session.get(Campaign, campaign_id)
    return campaign is not None and campaign.deleted_at is None


def source_campaign(source: str | None) -> int | None:
    """The campaign id of a ``campaign:<id>`` source, else ``None``."""
    if not source or not source.lower().startswith(SOURCE_PREFIX):
        return None
    rest = source[len(SOURCE_PREFIX) :].strip()
    return parsing.record_id(rest)


def check_attribution(event: Any) -> None:
    """``crm_validate_record``: a lead or deal names an existing campaign; a new lead whose
    source is ``campaign:<id>`` gets that campaign (in the same write, so it is audited)."""
    if event.entity.name not in ATTRIBUTED or event.action not in ("create", "update"):
        return
    record, session = event.record, event.session
    values = dict(record.custom_fields or {})
    key = "custom_fields.campaign_id"
    if key in event.changes and values.get("campaign_id") is not None:
        if not _campaign_exists(session, values["campaign_id"]):
            raise ValidationError({"custom_fields": {"campaign_id": ["No such campaign."]}})
    if (
        event.entity.name == "lead"
        and values.get("campaign_id") is None
        and (event.action == "create" or "source" in event.changes)
    ):
        found = source_campaign(getattr(record, "source", None))
        if found is not None and _campaign_exists(session, found):
            record.custom_fields = {**values, "campaign_id": found}
            event.changes[key] = (None, found)


def carry_attribution(event: Any) -> None:
    """``crm_record_updated``: when a lead is converted into a deal, the deal gets the lead's
    campaign (lead conversion does not copy custom fields), unless it already names one."""
    if event.entity.name != "lead" or "deal_id" not in event.changes:
        return
    deal_id = event.changes["deal_id"][1]
    campaign_id = (event.record.custom_fields or {}).get("campaign_id")
    if deal_id is None or campaign_id is None:
        return
    # the system's service: the converting user may not be allowed to edit the new deal, and
    # this is the server's own bookkeeping, not their choice
    system = event.records.crm.records(session=event.session)
    deal = system.get("deals", deal_id)
    if (deal.custom_fields or {}).get("campaign_id") is None:
        system.update("deals", deal, {"custom_fields": {"campaign_id": campaign_id}})
