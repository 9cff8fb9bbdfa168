"""Showing record values on pages: references as linked titles, dates in the user's zone."""

from __future__ import annotations

import datetime as dt
import decimal
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from flask_babel import (
    format_currency,
    format_date,
    format_datetime,
    format_decimal,
    gettext,
)
from sqlalchemy import select

from ..errors import CRMError
from ..records import RecordService
from ..registry import Entity

#: Fields holding a user id, whatever their entity calls them.
USER_FIELDS = frozenset({"owner_id", "assignee_id", "user_id", "created_by_id"})


@dataclass(frozen=True)
class Link:
    """A referenced record: its title and, when the reader may open it, its page."""

    title: str
    url: str | None


def referenced_entity(service: RecordService, entity: Entity, name: str) -> Entity | None:
    """The entity a ``<thing>_id`` field points to (``company_id`` -> companies)."""
    if not name.endswith("_id") or name == "id":
        return None
    if name in USER_FIELDS or (entity.owner_field == name):
        target = "user"
    else:
        target = name.removesuffix("_id")
    try:
        return service.entity(target)
    except CRMError:
        return None


def resolve(
    service: RecordService, entity: Entity, rows: Iterable[Any], names: Iterable[str]
) -> dict[tuple[str, int], Link]:
    """Titles of the records that ``rows`` reference in fields ``names``, one query per field.

    Only records the reader may read get a link; others show as ``#id`` (never their title).
    """
    rows = list(rows)
    out: dict[tuple[str, int], Link] = {}
    for name in names:
        target = referenced_entity(service, entity, name)
        if target is None:
            continue
        ids = {getattr(r, name, None) for r in rows} - {None}
        if not ids:
            continue
        found: dict[int, Any] = {}
        if service.access.can(target, "read"):
            found = {
                r.id: r
                for r in service.session.scalars(
                    service.query(target).where(target.model.id.in_(ids))
                )
            }
        elif target.name == "user":
            from ..users.models import User

            found = {u.id: u for u in service.session.scalars(select(User).where(User.id.in_(ids)))}
        for record_id in ids:
            record = found.get(record_id)
            if record is None:
                out[(name, record_id)] = Link(f"#{record_id}", None)
            else:
                readable = service.access.can(target, "read")
                url = f"/{target.plural}/{record_id}" if readable else None
                out[(name, record_id)] = Link(target.display(record), url)
    return out


def format_value(value: Any, currency: Any = None) -> str:
    """A value as text for the user's locale and time zone; an amount of a record with a
    ``currency`` is shown as money in that currency (``1.234,50 €`` in Spanish)."""
    if value is None or value == "" or value == [] or value == {}:
        return ""
    if isinstance(value, decimal.Decimal):
        if currency and isinstance(currency, str) and len(currency) == 3:
            return format_currency(value, currency.upper())
        return format_decimal(value)
    if isinstance(value, bool):
        return gettext("Yes") if value else gettext("No")
    if isinstance(value, dt.datetime):
        return format_datetime(value, "medium")
    if isinstance(value, dt.date):
        return format_date(value, "medium")
    if isinstance(value, dt.time):
        return value.isoformat(timespec="minutes")
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value) if isinstance(value, int) else format_decimal(value)
    if isinstance(value, list):
        if any(isinstance(v, dict) and "value" not in v for v in value):
            # rows of a nested list (quote lines): their table is on the record's page
            return gettext("Rows: %(num)d", num=len(value))
        return ", ".join(format_value(v) for v in value)
    if isinstance(value, dict):
        if "value" in value:
            prefix = f"{value.get('label')}: " if value.get("label") else ""
            return prefix + str(value["value"])
        return ", ".join(f"{k} {format_value(v)}" for k, v in value.items())
    return str(value)
