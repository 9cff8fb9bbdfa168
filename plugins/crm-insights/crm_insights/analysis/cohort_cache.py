"""Cohort tables computed once per reader's scope and kept, for every process, until the orders
change (:mod:`crm_insights.result_cache`: the key is the reader's scoped aggregate statement, the
fingerprint that of the orders table). The nightly job :func:`warm` computes the entries of
every active user, so the first view of the day reads a stored table too."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from .. import result_cache
from .cohorts import DEFAULT_MONTHS, Cohort, cohort_statement, counts, shape
from .rfm import orders_entity

KIND = "cohorts"


def cached_cohorts(records: Any, months: int = DEFAULT_MONTHS) -> list[Cohort] | None:
    """:func:`.cohorts.cohorts` from the stored table when the reader's query and the orders
    are unchanged since it was computed; else computed and stored."""
    stmt = cohort_statement(records)
    entity = orders_entity(records.crm)
    if stmt is None or entity is None:
        return None
    session = records.session
    text = result_cache.statement_key(stmt, session) + result_cache.team_key(records, [entity])
    key = result_cache.digest(KIND, text)
    stamp = result_cache.fingerprint(session, [entity.model])
    stored = result_cache.fetch(session, key, stamp)
    if stored is None:
        rows = counts(session, stmt)
        result_cache.store(records.crm, session, key, KIND, stamp, [list(r) for r in rows])
    else:
        rows = [(str(start), str(when), int(n)) for start, when, n in stored]
    return shape(rows, months)


def warm(crm: Any) -> int:
    """Compute the cohort table of the administrator's scope and of every active user who may
    read orders (readers with the same scope share one entry); drop entries past their age.
    Returns the number of readers warmed."""
    from crmcore.permissions import Access
    from crmcore.users.models import User

    session = crm.session
    result_cache.prune(session)
    session.commit()
    entity = orders_entity(crm)
    if entity is None:
        return 0
    warmed = 0
    cached_cohorts(crm.records())
    users = list(session.scalars(select(User).where(User.active.is_(True)).order_by(User.id)))
    for user in users:
        records = crm.records(Access.for_user(user))
        if records.access.can(entity, "read"):
            cached_cohorts(records)
            warmed += 1
    return warmed
