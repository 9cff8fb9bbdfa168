"""Order history for the tests of the customer models (purchase propensity, churn risk):
paid orders of a contact on given days, counted from the instance's today."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import func, select


def instance_day(session: Any) -> dt.date:
    """Today in the instance's time zone (what the models count from)."""
    from crmcore.settings import get_settings

    from crm_insights.analysis.rfm import instance_today

    return instance_today(get_settings(session))


def days_ago(session: Any, days: int) -> dt.date:
    return instance_day(session) - dt.timedelta(days=days)


def paid_order(records: Any, contact: Any, day: dt.date, **fields: Any) -> Any:
    """A paid order of one 100 EUR line, owned by the contact's owner."""
    line = {"description": "Item", "quantity": "1", "unit_price": "100", "tax_rate": "0"}
    data = {"contact_id": contact.id, "status": "paid", "order_date": day.isoformat(),
            "lines": [line], "currency": "EUR", "owner_id": contact.owner_id, **fields}  # fmt: skip
    return records.create("orders", data)


def audit_rows(session: Any) -> int:
    from crmcore.audit import AuditEntry

    return int(session.scalar(select(func.count()).select_from(AuditEntry)) or 0)
