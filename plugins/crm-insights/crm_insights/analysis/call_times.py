"""Best time to call: answer rates of outgoing calls per hour of the day in the callee's time
zone, per contact, per country and overall, and the rep's call list ordered by them.

A logged call (core activity of kind ``call``, not incoming, about a contact) is *not
answered* when its outcome is one of ``NOT_ANSWERED`` (no answer, busy, voicemail... in English
or Spanish, any case), *answered* when it has another outcome or a duration, and left out
when it has neither. The contact's time zone is its ``timezone`` field, else the main zone of
its country (or its company's), else the instance's.

A contact's best hours come from its own calls when it has at least ``MIN_CALLS`` of them,
else from its country's, else from all calls; within that, hours with at least
``MIN_CALLS`` calls, by answer rate, then number of calls, then the earlier hour.
"""

from __future__ import annotations

import datetime as dt
import importlib.resources
from collections import defaultdict
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import delete, insert, or_, select
from sqlalchemy.orm import Session

from .models import CallHour

NOT_ANSWERED = frozenset(
    {
        "no answer", "no_answer", "not answered", "unanswered", "missed", "busy", "voicemail",
        "left voicemail", "left message", "failed", "no contesta", "no contestó",
        "sin respuesta", "ocupado", "buzón de voz", "comunica", "no disponible",
    }
)  # fmt: skip
MIN_CALLS = 3
BEST = 3
LIST_LIMIT = 200


def answered(outcome: str | None, duration: int | None) -> bool | None:
    """Whether a call was answered, or ``None`` when nothing says."""
    text = " ".join((outcome or "").lower().replace("-", " ").split())
    if text in NOT_ANSWERED:
        return False
    if text or (duration or 0) > 0:
        return True
    return None


@cache
def country_zones() -> dict[str, str]:
    """The main time zone of each country (the first of ``zone.tab``)."""
    text = ""
    try:
        text = (importlib.resources.files("tzdata.zoneinfo") / "zone.tab").read_text()
    except (ModuleNotFoundError, FileNotFoundError):
        system = Path("/usr/share/zoneinfo/zone.tab")
        text = system.read_text() if system.is_file() else ""
    zones: dict[str, str] = {}
    for line in text.splitlines():
        parts = line.split("\t")
        if len(parts) >= 3 and not line.startswith("#"):
            zones.setdefault(parts[0].upper(), parts[2])
    return zones


def zone_of(timezone: str | None, country: str | None, default: str) -> ZoneInfo:
    """The contact's time zone (see the module's docstring)."""
    for name in (timezone, country_zones().get((country or "").upper()), default, "UTC"):
        if name:
            try:
                return ZoneInfo(name)
            except (ZoneInfoNotFoundError, ValueError):
                continue
    return ZoneInfo("UTC")


def _contacts(session: Session, crm: Any, ids: set[int]) -> dict[int, tuple[ZoneInfo, str]]:
    """Zone and country of each contact in ``ids`` (not in the trash)."""
    from crmcore.settings import get_settings

    default = str(get_settings(session).get("time_zone") or "UTC")
    contact = crm.registry.get("contacts").model
    company = crm.registry.get("companies").model
    out: dict[int, tuple[ZoneInfo, str]] = {}
    ordered = sorted(ids)
    for start in range(0, len(ordered), 1000):
        stmt = (
            select(contact.id, contact.timezone, contact.country, company.country)
            .outerjoin(company, company.id == contact.company_id)
            .where(contact.id.in_(ordered[start : start + 1000]), contact.deleted_at.is_(None))
        )
        for cid, zone, own, firm in session.execute(stmt):
            country = (own or firm or "").upper()
            out[cid] = (zone_of(zone, country, default), country)
    return out


def compute(crm: Any, session: Session) -> int:
    """Recount answered calls per local hour and replace the stored counts (not committed);
    returns the number of calls counted."""
    activity = crm.registry.get("activities").model
    stmt = select(
        activity.record_id, activity.occurred_at, activity.outcome, activity.duration_minutes
    ).where(
        activity.deleted_at.is_(None),
        activity.kind == "call",
        activity.record_type == "contact",
        or_(activity.direction.is_(None), activity.direction != "in"),
    )
    calls = [
        (cid, when, result)
        for cid, when, outcome, minutes in session.execute(stmt)
        if (result := answered(outcome, minutes)) is not None
    ]
    places = _contacts(session, crm, {cid for cid, _w, _r in calls})
    counts: dict[tuple[str, str, int], list[int]] = defaultdict(lambda: [0, 0])
    counted = 0
    for cid, when, result in calls:
        if cid not in places:
            continue
        zone, country = places[cid]
        hour = when.astimezone(zone).hour
        keys = [("contact", str(cid)), ("all", "")]
        if country:
            keys.append(("country", country))
        for kind, key in keys:
            cell = counts[(kind, key, hour)]
            cell[0] += 1
            cell[1] += int(result)
        counted += 1
    session.execute(delete(CallHour))
    rows = [
        {"kind": k, "key": key, "hour": h, "calls": c, "answered": a}
        for (k, key, h), (c, a) in counts.items()
    ]
    if rows:
        session.execute(insert(CallHour), rows)
    return counted


@dataclass(frozen=True)
class Window:
    """The best hours to call someone, and where the figures come from."""

    hours: tuple[int, ...]
    rates: tuple[float, ...]
    source: str  # "contact", "country" or "all"; "" when nothing is known

    def wait(self, hour: int) -> int:
        """Hours from ``hour`` to the next best hour (0: now is a best hour)."""
        return min(((h - hour) % 24 for h in self.hours), default=24)


def best_hours(rows: list[CallHour]) -> tuple[tuple[int, ...], tuple[float, ...]]:
    """The ``BEST`` hours of ``rows`` with enough calls, best answer rate first."""
    usable = [r for r in rows if r.calls >= MIN_CALLS]
    usable.sort(key=lambda r: (-r.answered / r.calls, -r.calls, r.hour))
    top = usable[:BEST]
    return tuple(r.hour for r in top), tuple(round(r.answered / r.calls, 4) for r in top)


def window(session: Session, contact_id: int, country: str) -> Window:
    """The contact's best hours from its own calls, else its country's, else everyone's."""
    for kind, key in (("contact", str(contact_id)), ("country", country), ("all", "")):
        if kind == "country" and not country:
            continue
        rows = list(
            session.scalars(select(CallHour).where(CallHour.kind == kind, CallHour.key == key))
        )
        if kind == "contact" and sum(r.calls for r in rows) < MIN_CALLS:
            continue
        hours, rates = best_hours(rows)
        if hours:
            return Window(hours, rates, kind)
    return Window((), (), "")


@dataclass(frozen=True)
class Due:
    """One line of the call list."""

    contact: Any
    task: Any
    local: dt.datetime
    window: Window


def call_list(records: Any, now: dt.datetime) -> list[Due]:
    """The reader's contacts due a call: open tasks assigned to the reader, about a contact the
    reader may read, due by the end of today (instance time zone) - ordered by how soon the
    contact's best hour comes in the contact's time zone, then by due date."""
    from crmcore.settings import get_settings

    session = records.session
    settings = get_settings(session)
    instance_zone = zone_of(None, None, str(settings.get("time_zone") or "UTC"))
    end = dt.datetime.combine(
        now.astimezone(instance_zone).date() + dt.timedelta(days=1), dt.time(), instance_zone
    )
    tasks = records.entity("tasks")
    contacts = records.entity("contacts")
    task, contact = tasks.model, contacts.model
    readable = records.query(contacts).subquery()
    stmt = (
        records.query(tasks)
        .where(
            task.assignee_id == records.user.id,
            task.status == "open",
            task.record_type == "contact",
            or_(task.due_at.is_(None), task.due_at < end),
            task.record_id.in_(select(readable.c.id)),
        )
        .order_by(task.due_at, task.id)
        .limit(LIST_LIMIT)
    )
    found = list(session.scalars(stmt))
    people = {
        c.id: c
        for c in session.scalars(
            select(contact).where(contact.id.in_({t.record_id for t in found}))
        )
    }
    places = _contacts(session, records.crm, set(people))
    out = []
    for t in found:
        if t.record_id not in places:
            continue
        zone, country = places[t.record_id]
        local = now.astimezone(zone)
        out.append(Due(people[t.record_id], t, local, window(session, t.record_id, country)))
    far = dt.datetime.max.replace(tzinfo=dt.UTC)
    out.sort(key=lambda d: (d.window.wait(d.local.hour), d.task.due_at or far, d.task.id))
    return out
