"""Dashboard widgets: open and click rates of recent campaigns, and the revenue campaigns
brought (with crm-sales). Both query through the reader's record service, so they show only
campaigns, leads and deals within the reader's scope; both need ``marketing.results``."""

from __future__ import annotations

from collections import defaultdict
from decimal import Decimal
from typing import Any

from flask import g, has_request_context
from flask_babel import gettext as _
from sqlalchemy import func

from crmcore import Widget, current_crm

from .models import Campaign
from .results import attribution, rates_of_campaigns, sales_enabled

PERMISSION = "marketing.results"
RECENT = 8
#: Campaigns with messages out (a draft has no results to show).
SHOWN_STATUSES = ("sending", "sent", "cancelled")


def _percent(rate: float | None) -> float | None:
    return round(rate * 100, 1) if rate is not None else None


def _recent(records: Any, limit: int = RECENT) -> list[Campaign]:
    """The latest campaigns that sent something, newest first."""
    stmt = (
        records.query("campaigns")
        .where(Campaign.status.in_(SHOWN_STATUSES), Campaign.started_at.is_not(None))
        .order_by(Campaign.started_at.desc(), Campaign.id.desc())
        .limit(limit)
    )
    return list(records.session.scalars(stmt))


def campaign_rates(user: Any, records: Any) -> dict[str, Any]:
    """Open and click rates (per cent of delivered messages) of the latest campaigns."""
    if not records.access.can("campaigns", "read"):
        return {"campaigns": _("No campaigns yet.")}
    campaigns = _recent(records)
    if not campaigns:
        return {"campaigns": _("No campaigns sent yet.")}
    campaigns.reverse()  # oldest first, left to right
    figures = rates_of_campaigns(records.session, [c.id for c in campaigns])
    labels = [c.name for c in campaigns]
    return {
        "chart": {
            "type": "bar",
            "labels": labels,
            "series": [
                {
                    "label": _("Open rate (%)"),
                    "data": [_percent(figures[c.id]["open"]) for c in campaigns],
                },
                {
                    "label": _("Click rate (%)"),
                    "data": [_percent(figures[c.id]["click"]) for c in campaigns],
                },
            ],
        },
        "chart_title": _("Per cent of delivered messages"),
        "campaigns": [
            {
                "campaign": c.name,
                "delivered": figures[c.id]["delivered"],
                "opened": figures[c.id]["opened"],
                "clicked": figures[c.id]["clicked"],
            }
            for c in reversed(campaigns)
        ],
    }


def campaign_revenue(user: Any, records: Any) -> dict[str, Any]:
    """Won deals attributed to campaigns: revenue per campaign and currency (crm-sales)."""
    if not sales_enabled(records) or not records.access.can("deals", "read"):
        return {"revenue": _("You may not see deals.")}
    if not records.access.can("campaigns", "read"):
        return {"revenue": _("No campaigns yet.")}
    deal = records.entity("deals").model
    key = deal.custom_fields["campaign_id"].as_float()
    ids = [
        int(v)
        for v in records.session.scalars(
            records.query("deals").with_only_columns(func.distinct(key)).where(key.is_not(None))
        )
        if v is not None
    ]
    campaigns = (
        list(
            records.session.scalars(
                records.query("campaigns").where(Campaign.id.in_(ids)).order_by(Campaign.id)
            )
        )
        if ids
        else []
    )
    found = attribution(records, [c.id for c in campaigns]) or {}
    rows = []
    by_currency: dict[str, dict[int, Decimal]] = defaultdict(dict)
    for c in campaigns:
        out = found.get(c.id) or {}
        revenue = out.get("revenue") or []
        for money in revenue:
            by_currency[money["currency"]][c.id] = Decimal(money["amount"])
        rows.append(
            {
                "campaign": c.name,
                "deals": out.get("deals") or 0,
                "won_deals": out.get("won_deals") or 0,
                "revenue": ", ".join(f"{m['amount']} {m['currency']}" for m in revenue) or "-",
            }
        )
    if not rows:
        return {"revenue": _("No deals from campaigns yet.")}
    data: dict[str, Any] = {}
    earning = [c for c in campaigns if any(c.id in v for v in by_currency.values())]
    if earning:
        data["chart"] = {
            "type": "bar",
            "labels": [c.name for c in earning],
            "series": [
                {"label": currency, "data": [float(values.get(c.id, 0)) for c in earning]}
                for currency, values in sorted(by_currency.items())
            ],
        }
        data["chart_title"] = _("Won deals by campaign")
    data["campaigns"] = rows
    return data


def widgets() -> list[Widget]:
    """Campaign rates; revenue from campaigns only while crm-sales is enabled and for readers
    of deals (a card saying "you may not" helps nobody)."""
    out = [
        Widget("marketing-rates", "Campaign open and click rates", campaign_rates, PERMISSION, 40)
    ]
    access = g.get("crm_access") if has_request_context() else None
    reads_deals = access is None or access.can("deals", "read")
    if "sales" in current_crm().enabled_plugins() and reads_deals:
        out.append(
            Widget("marketing-revenue", "Revenue from campaigns", campaign_revenue, PERMISSION, 41)
        )
    return out
