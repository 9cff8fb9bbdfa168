"""Which rollups exist: one for each saved report whose definition fits (made in the background
when the report is saved, and by the nightly job and ``crm insights rollup rebuild`` for
reports saved before), and those declared with ``crm insights rollup add``. A rollup is built
once from the records, then kept by the writes; the nightly job compares it with the records
and rebuilds it when they differ.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from crmcore import ValidationError
from crmcore.permissions import Access
from sqlalchemy import delete, select

from ..reports.definition import parse_definition
from ..reports.fields import report_fields
from ..reports.models import Report
from .models import MAX_GROUPS, MAX_MEASURES, Rollup, RollupRow
from .shape import dimension_kind, make_shape, measure_fits
from .store import build, drifted, now

log = logging.getLogger(__name__)
NOT_A_GROUP = "A rollup cannot group by this field."
NOT_A_MEASURE = "A rollup sums only whole or decimal number fields."
TOO_MANY = "Too many fields for one rollup."
NOT_AN_ENTITY = "A rollup cannot keep these records: who may read them follows another record."


@dataclass(frozen=True)
class Wanted:
    """The entity, group fields and summed fields of a rollup."""

    entity: str
    groups: tuple[str, ...]
    measures: tuple[str, ...]


def wanted_for(service: Any, report: Report) -> Wanted | None:
    """The rollup that answers ``report`` for every reader (its groups, the fields it filters
    on, the pinned date field), or ``None`` when its definition does not fit one."""
    try:
        d = parse_definition(service, report.definition)
    except ValidationError:
        return None
    if d.joins or d.lines is not None or d.entity.linked_to is not None:
        return None
    groups = [g.field.name for g in d.group_by]
    owner = d.entity.owner_field
    filtered = [name for p in d.params.values() for name, _op, _v in p.filters]
    if report.pinned and report.pin_range:
        filtered.append(report.pin_field or "created_at")
    for name in filtered:
        if name not in groups and name not in ("currency", owner):
            groups.append(name)
    measures = sorted({m.field.name for m in d.measures if m.field is not None})
    if any(m.op not in ("count", "sum", "avg") for m in d.measures):
        return None
    try:
        return check_fields(service, d.entity, groups, measures)
    except ValidationError:
        return None


def check_fields(service: Any, entity: Any, groups: list[str], measures: list[str]) -> Wanted:
    """The rollup of these fields; ``ValidationError`` naming each field a rollup cannot
    hold."""
    infos = report_fields(service, entity)
    errors: dict[str, list[str]] = {}
    if entity.linked_to is not None or "deleted_at" not in entity.columns:
        errors["entity"] = [NOT_AN_ENTITY]
    if len(groups) > MAX_GROUPS:
        errors["groups"] = [TOO_MANY]
    if len(measures) > MAX_MEASURES:
        errors["measures"] = [TOO_MANY]
    for name in groups:
        if dimension_kind(service, entity, infos.get(name)) is None:
            errors[name] = [NOT_A_GROUP]
    for name in measures:
        if not measure_fits(entity, infos.get(name)):
            errors[name] = [NOT_A_MEASURE]
    if errors:
        raise ValidationError(errors)
    return Wanted(entity.plural, tuple(dict.fromkeys(groups)), tuple(sorted(set(measures))))


def holding(session: Any, wanted: Wanted) -> Rollup | None:
    """The rollup with the same groups as ``wanted`` and at least its measures, if any."""
    for rollup in session.scalars(select(Rollup).where(Rollup.entity == wanted.entity)):
        if set(rollup.groups) == set(wanted.groups) and set(wanted.measures) <= set(
            rollup.measures
        ):
            return rollup
    return None


def ensure(service: Any, wanted: Wanted, report_id: int | None = None) -> tuple[Rollup, bool]:
    """The rollup holding ``wanted``, or a new one, built; whether it is new. Not committed."""
    session = service.session
    found = holding(session, wanted)
    if found is not None:
        return found, False
    rollup = Rollup(
        entity=wanted.entity,
        groups=list(wanted.groups),
        measures=list(wanted.measures),
        report_id=report_id,
        status="building",
    )
    session.add(rollup)
    session.flush()
    shape = make_shape(service, rollup)
    assert shape is not None  # its fields were checked
    build(session, shape)
    return rollup, True


def for_reports(crm: Any, session: Any) -> list[Rollup]:
    """Make (and build) the rollups of the saved reports that fit one; the new ones. Not
    committed."""
    service = crm.records(Access.system())
    made = []
    for report in session.scalars(select(Report).where(Report.deleted_at.is_(None))):
        wanted = wanted_for(service, report)
        if wanted is not None:
            rollup, new = ensure(service, wanted, report.id)
            if new:
                made.append(rollup)
    return made


#: the job that makes a saved report's rollup
REPORT_JOB = "crm_insights.rollups.manage:for_report"


def report_saved(crm: Any, report: Report) -> bool:
    """Queue the making of ``report``'s rollup when its definition fits one that no rollup
    holds yet (a build reads every record of the entity: it runs in the background, and the
    report runs its plain query until it is done); whether a job was queued."""
    if report.deleted_at is not None:
        return False
    wanted = wanted_for(crm.records(Access.system()), report)
    if wanted is None or holding(crm.session, wanted) is not None:
        return False
    crm.jobs.enqueue(REPORT_JOB, report.id)
    return True


def for_report(app: Any, report_id: int) -> int | None:
    """Job: make and build the rollup of saved report ``report_id`` if it still fits one and
    none holds it yet; the rollup's id (``None`` when the report is gone or no longer fits)."""
    crm = app.extensions["crm"]
    report = crm.session.get(Report, report_id)
    if report is None or report.deleted_at is not None:
        return None
    service = crm.records(Access.system())
    wanted = wanted_for(service, report)
    if wanted is None:
        return None
    rollup, _new = ensure(service, wanted, report.id)
    crm.session.commit()
    return rollup.id


def rebuild(crm: Any, session: Any, ids: list[int] | None = None) -> dict[int, int | None]:
    """Build the rollups ``ids`` (all when ``None``) again from the records: rows per rollup,
    ``None`` for one that no longer fits (its entity or a field is gone). Not committed."""
    service = crm.records(Access.system())
    stmt = select(Rollup).order_by(Rollup.id)
    if ids is not None:
        stmt = stmt.where(Rollup.id.in_(ids))
    out: dict[int, int | None] = {}
    for rollup in session.scalars(stmt):
        shape = make_shape(service, rollup)
        out[rollup.id] = build(session, shape) if shape is not None else None
    return out


def check(crm: Any, session: Any, fix: bool = True) -> dict[int, int]:
    """Compare each rollup with the records; rows that differ per rollup (rebuilt when
    ``fix``, else marked ``drift`` and no longer read). Commits each rollup."""
    service = crm.records(Access.system())
    out: dict[int, int] = {}
    for rollup in list(session.scalars(select(Rollup).order_by(Rollup.id))):
        shape = make_shape(service, rollup)
        if shape is None:
            continue
        keys = drifted(session, shape)
        out[rollup.id] = len(keys)
        if keys:
            log.warning("rollup %s differs from its records in %d rows", rollup.id, len(keys))
            if fix:
                build(session, shape)
            else:
                rollup.status = "drift"
        else:
            rollup.checked_at = now()
        session.commit()
    return out


def drop(session: Any, rollup_id: int) -> bool:
    """Delete a rollup and its rows; whether it existed. Not committed."""
    rollup = session.get(Rollup, rollup_id)
    if rollup is None:
        return False
    session.execute(delete(RollupRow).where(RollupRow.rollup_id == rollup_id))
    session.delete(rollup)
    return True


def nightly(app: Any) -> None:
    """Periodic job: the rollups of saved reports, then the check of every rollup against its
    records, rebuilding what differs."""
    crm = app.extensions["crm"]
    for_reports(crm, crm.session)
    crm.session.commit()
    check(crm, crm.session, fix=True)
