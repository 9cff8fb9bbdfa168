"""Dashboard widgets; each queries through the user's record service, so stays in their scope."""

from __future__ import annotations

from collections import defaultdict
from decimal import Decimal
from typing import Any

from flask_babel import gettext
from sqlalchemy import select

from crmcore import Widget

from .common import default_currency
from .forecast import Converter, deal_rows, forecast, rates_of
from .models import Deal, Order, Pipeline, Stage
from .pricing import money


def _converter(records: Any) -> Converter:
    return Converter(default_currency(records.session), rates_of(records.crm))


def pipeline_by_stage(user: Any, records: Any) -> dict[str, Any]:
    """Open deals and their amount per pipeline stage."""
    convert = _converter(records)
    stmt = (
        records.query("deals")
        .join(Stage, Stage.id == Deal.stage_id)
        .join(Pipeline, Pipeline.id == Deal.pipeline_id)
        .with_only_columns(Pipeline.name, Stage.name, Stage.position, Deal.amount, Deal.currency)
        .where(Stage.is_won.is_(False), Stage.is_lost.is_(False))
    )
    rows: dict[tuple[str, int, str], dict[str, Any]] = {}
    for pipeline, stage, position, amount, currency in records.session.execute(stmt):
        row = rows.setdefault(
            (pipeline, position, stage),
            {"pipeline": pipeline, "stage": stage, "deals": 0, "amount": Decimal(0)},
        )
        row["deals"] += 1
        value = convert(amount, currency)
        if value is not None:
            row["amount"] += value
    out = [
        {**row, "amount": f"{money(row['amount'])} {convert.currency}"}
        for _key, row in sorted(rows.items())
    ]
    return {"stages": out} if out else {"stages": gettext("No open deals.")}


def forecast_by_period(user: Any, records: Any) -> dict[str, Any]:
    """The quarterly forecast of the deals the user can see."""
    data = forecast(records, "quarter")
    rows = [
        {k: p[k] for k in ("period", "pipeline", "weighted", "committed", "best_case", "won")}
        for p in data["periods"]
    ]
    return {gettext("In %(currency)s", currency=data["currency"]): rows or gettext("No deals yet.")}


def win_rate(user: Any, records: Any) -> dict[str, Any]:
    """Won deals out of closed (won or lost) deals."""
    stmt = deal_rows(records.query("deals"))
    won = lost = 0
    for *_rest, is_won, is_lost in records.session.execute(stmt):
        won += bool(is_won)
        lost += bool(is_lost)
    rate = f"{round(100 * won / (won + lost))} %" if won + lost else "-"
    return {"won": won, "lost": lost, "win_rate": rate}


def sales_by_owner(user: Any, records: Any) -> dict[str, Any]:
    """Confirmed, paid, shipped and delivered order totals per owner."""
    from .api import PURCHASED

    convert = _converter(records)
    stmt = (
        records.query("orders")
        .with_only_columns(Order.owner_id, Order.total, Order.currency)
        .where(Order.status.in_(PURCHASED))
    )
    totals: dict[int | None, list[Any]] = defaultdict(lambda: [0, Decimal(0)])
    for owner_id, total, currency in records.session.execute(stmt):
        value = convert(total, currency)
        totals[owner_id][0] += 1
        totals[owner_id][1] += value or 0
    user_model = records.entity("users").model
    ids = [i for i in totals if i is not None]
    names = {
        u.id: u.name or u.email
        for u in records.session.scalars(select(user_model).where(user_model.id.in_(ids)))
    }
    rows = [
        {
            "owner": names.get(owner, "-") if owner else "-",
            "orders": n,
            "total": f"{money(amount)} {convert.currency}",
        }
        for owner, (n, amount) in sorted(totals.items(), key=lambda kv: -kv[1][1])
    ]
    return {"owners": rows or gettext("No orders yet.")}


def widgets() -> list[Widget]:
    """The four sales widgets, shown to users who may read deals (orders for the last)."""
    return [
        Widget("sales-pipeline", "Pipeline by stage", pipeline_by_stage, "deals.read", 20),
        Widget("sales-forecast", "Forecast by quarter", forecast_by_period, "deals.read", 21),
        Widget("sales-win-rate", "Win rate", win_rate, "deals.read", 22),
        Widget("sales-by-owner", "Sales by owner", sales_by_owner, "orders.read", 23),
    ]
