"""The sales forecast: per period of the expected close date, in the instance currency.

For the deals the caller may read (optionally of one owner, one pipeline or one team's
members):

* ``pipeline``: the amount of open deals (neither won nor lost);
* ``weighted``: the sum of each open deal's amount x probability;
* ``committed``: won deals plus open deals with a probability of at least
  ``COMMIT_PROBABILITY`` (90 %);
* ``best_case``: won deals plus open deals with a probability of at least
  ``BEST_CASE_PROBABILITY`` (50 %);
* ``won``: deals in a won stage.

Amounts in another currency are converted with the rates of ``[sales.rates]`` in ``crm.toml``
(``USD = "0.92"``: one USD is 0.92 of the instance currency); deals in a currency without a rate
are left out and reported in ``excluded``, never silently mixed in.

Each period also carries the ``quota`` the reader may see for it (the sum of the matching
owners' quotas; a monthly quota counts in its quarter) and ``attainment``, won as a percentage
of that quota.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

from sqlalchemy import Select, select

from crmcore import ValidationError

from .common import default_currency
from .models import Deal, Quota, Stage
from .pricing import money

COMMIT_PROBABILITY = 90
BEST_CASE_PROBABILITY = 50
FIGURES = ("pipeline", "weighted", "committed", "best_case", "won")
UNDATED = "undated"


def rates_of(crm: Any) -> dict[str, Decimal]:
    """Conversion rates to the instance currency from ``[sales.rates]`` of ``crm.toml``."""
    raw = (crm.settings.extra.get("sales") or {}).get("rates") or {}
    rates: dict[str, Decimal] = {}
    for code, value in raw.items() if isinstance(raw, Mapping) else ():
        try:
            rate = Decimal(str(value))
        except InvalidOperation:
            continue
        if rate.is_finite() and rate > 0:
            rates[str(code).upper()] = rate
    return rates


class Converter:
    """Converts amounts to one currency, counting what it cannot convert."""

    def __init__(self, currency: str, rates: Mapping[str, Decimal]) -> None:
        self.currency = currency
        self.rates = rates
        self.excluded: dict[str, dict[str, Any]] = {}

    def __call__(self, amount: Decimal | None, currency: str) -> Decimal | None:
        amount = amount or Decimal(0)
        if currency == self.currency:
            return amount
        rate = self.rates.get(currency)
        if rate is not None:
            return money(amount * rate)
        item = self.excluded.setdefault(currency, {"deals": 0, "amount": Decimal(0)})
        item["deals"] += 1
        item["amount"] += amount
        return None

    def report(self) -> list[dict[str, Any]]:
        return [
            {"currency": code, "deals": item["deals"], "amount": str(money(item["amount"]))}
            for code, item in sorted(self.excluded.items())
        ]


def period_of(day: dt.date | None, period: str) -> str:
    """``2026-03`` for months, ``2026-Q1`` for quarters, ``undated`` without a close date."""
    if day is None:
        return UNDATED
    if period == "quarter":
        return f"{day.year}-Q{(day.month - 1) // 3 + 1}"
    return f"{day.year}-{day.month:02d}"


def deal_rows(stmt: Select[Any]) -> Select[Any]:
    """The columns the forecast needs, from a scoped query of deals."""
    return stmt.join(Stage, Stage.id == Deal.stage_id).with_only_columns(
        Deal.amount,
        Deal.currency,
        Deal.probability,
        Deal.close_date,
        Deal.owner_id,
        Stage.is_won,
        Stage.is_lost,
    )


def team_members(team_id: int) -> Select[Any]:
    """The ids of the members of team ``team_id``."""
    from crmcore.users.models import team_member

    return select(team_member.c.user_id).where(team_member.c.team_id == team_id)


def quotas(
    records: Any, period: str, owner_id: int | None = None, team_id: int | None = None
) -> dict[str, Decimal]:
    """The quotas the reader may see summed per period (months or quarters as ``period``
    asks; a month's quota counts in its quarter), for one owner, a team or everyone."""
    if not records.access.can("quotas", "read"):
        return {}
    stmt = records.query("quotas")
    if owner_id is not None:
        stmt = stmt.where(Quota.owner_id == owner_id)
    if team_id is not None:
        stmt = stmt.where(Quota.owner_id.in_(team_members(team_id)))
    out: dict[str, Decimal] = defaultdict(Decimal)
    for quota in records.session.scalars(stmt):
        key = quota.period
        if "-Q" in key and period == "month":
            continue  # a quarter's quota cannot be split over its months
        if "-Q" not in key and period == "quarter":
            year, month = key.split("-")
            key = f"{year}-Q{(int(month) - 1) // 3 + 1}"
        out[key] += quota.amount or Decimal(0)
    return dict(out)


def forecast(
    records: Any,
    period: str = "month",
    owner_id: int | None = None,
    pipeline_id: int | None = None,
    team_id: int | None = None,
) -> dict[str, Any]:
    """The forecast of the deals ``records`` may read (of one owner, pipeline or team's
    members when given), with the quota of each period and its attainment (won / quota)."""
    session = records.session
    convert = Converter(default_currency(session), rates_of(records.crm))
    stmt = records.query("deals")
    if owner_id is not None:
        stmt = stmt.where(Deal.owner_id == owner_id)
    if pipeline_id is not None:
        stmt = stmt.where(Deal.pipeline_id == pipeline_id)
    if team_id is not None:
        stmt = stmt.where(Deal.owner_id.in_(team_members(team_id)))
    buckets: dict[str, dict[str, Decimal]] = defaultdict(lambda: dict.fromkeys(FIGURES, Decimal(0)))
    counts: dict[str, int] = defaultdict(int)
    for amount, currency, probability, close_date, _owner, won, lost in session.execute(
        deal_rows(stmt)
    ):
        value = convert(amount, currency)
        if value is None or lost:
            continue
        key = period_of(close_date, period)
        bucket = buckets[key]
        counts[key] += 1
        if won:
            for figure in ("won", "committed", "best_case"):
                bucket[figure] += value
            continue
        bucket["pipeline"] += value
        bucket["weighted"] += value * Decimal(probability or 0) / 100
        if (probability or 0) >= COMMIT_PROBABILITY:
            bucket["committed"] += value
        if (probability or 0) >= BEST_CASE_PROBABILITY:
            bucket["best_case"] += value
    targets = quotas(records, period, owner_id, team_id)
    for key in targets:
        buckets[key]  # a period with a quota and no deals is shown too
    keys = sorted(k for k in buckets if k != UNDATED) + ([UNDATED] if UNDATED in buckets else [])
    periods = [
        {
            "period": k,
            "deals": counts[k],
            **{f: str(money(buckets[k][f])) for f in FIGURES},
            **_attainment(buckets[k]["won"], targets.get(k)),
        }
        for k in keys
    ]
    totals = {f: str(money(sum((buckets[k][f] for k in keys), Decimal(0)))) for f in FIGURES}
    return {
        "currency": convert.currency,
        "period": period,
        "owner_id": owner_id,
        "pipeline_id": pipeline_id,
        "team_id": team_id,
        "periods": periods,
        "totals": totals,
        "excluded": convert.report(),
    }


def _attainment(won: Decimal, quota: Decimal | None) -> dict[str, Any]:
    """``quota`` and ``attainment`` (won as a percentage of the quota, one decimal)."""
    if quota is None:
        return {"quota": None, "attainment": None}
    share = (won * 100 / quota).quantize(Decimal("0.1")) if quota > 0 else None
    return {"quota": str(money(quota)), "attainment": str(share) if share is not None else None}


def prepare_quota(values: dict[str, Any], record: Any, service: Any) -> None:
    """One live quota per owner and period: a second one is refused on its period (422); the
    unique index turns a race between two writers into a 409."""
    owner_id = values.get("owner_id", record.owner_id if record is not None else None)
    period = values.get("period", record.period if record is not None else None)
    if owner_id is None or period is None:
        return
    stmt = select(Quota.id).where(
        Quota.owner_id == owner_id, Quota.period == period, Quota.deleted_at.is_(None)
    )
    if record is not None:
        stmt = stmt.where(Quota.id != record.id)
    if service.session.scalar(stmt.limit(1)) is not None:
        raise ValidationError({"period": ["This owner has a quota for this period already."]})
