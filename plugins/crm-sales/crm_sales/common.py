"""Small helpers shared by the sales modules."""

from __future__ import annotations

import datetime as dt
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from crmcore import NotFound, ValidationError


def default_currency(session: Session) -> str:
    """The instance currency (``default_currency`` of the instance settings)."""
    from crmcore.settings import get_settings

    return str(get_settings(session)["default_currency"])


def instance_today(session: Session) -> dt.date:
    """Today in the instance's time zone (``time_zone`` of the instance settings)."""
    from crmcore.settings import get_settings

    try:
        zone = ZoneInfo(str(get_settings(session)["time_zone"]))
    except (ZoneInfoNotFoundError, ValueError):
        zone = ZoneInfo("UTC")
    return dt.datetime.now(zone).date()


def next_number(session: Session, model: Any, prefix: str) -> str:
    """The next document number: ``Q-000001``, ``Q-000002``... (trashed ones count too)."""
    last = session.scalar(select(func.max(model.number)).where(model.number.like(f"{prefix}-%")))
    n = int(last.rpartition("-")[2]) + 1 if last else 1
    return f"{prefix}-{n:06d}"


def check_links(service: Any, values: dict[str, Any], links: dict[str, str]) -> None:
    """Refuse (422) references to records the acting user cannot read.

    :param links: field name -> entity plural (``{"contact_id": "contacts"}``).
    """
    errors: dict[str, list[str]] = {}
    for name, plural in links.items():
        value = values.get(name)
        if value is None:
            continue
        try:
            service.get(plural, value)
        except NotFound:
            errors[name] = [f"No such {plural.rstrip('s').replace('_', ' ')}."]
    if errors:
        raise ValidationError(errors)
