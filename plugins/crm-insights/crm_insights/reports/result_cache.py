"""Report aggregates kept in the stored results (:mod:`crm_insights.result_cache`), so a
dashboard's pinned reports are not computed again on every view.

The key is the reader's whole aggregate statement - the definition (groups, measures, sort,
limit), the reader's scope on the entity and on each join, the report's filters and the pinned
date range, all in its SQL and bound parameters - with the instance time zone and, for a team
scope, the reader's teammates. The fingerprint covers the entity's table and every joined
table, so any change to the records a report reads shows at the next view. Only the aggregate
is kept: the titles of referenced records and the drill-down links are made at each view.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .. import result_cache
from .query import Builder

KIND = "report"


def cached_rows(
    service: Any,
    builder: Builder,
    extra_filters: dict[Any, Any] | None,
    compute: Callable[[Any, Builder, dict[Any, Any] | None], list[list[Any]]],
) -> list[list[Any]]:
    """The rows of ``compute(service, builder, extra_filters)``, stored per reader's scope and
    kept while the tables the report reads are unchanged."""
    session = service.session
    entities = [builder.d.entity, *builder.d.joins.values()]
    stmt, _columns = builder.statement(extra_filters, None)
    text = (
        result_cache.statement_key(stmt, session)
        + f"\nzone {builder.zone}"
        + result_cache.team_key(service, entities)
    )
    key = result_cache.digest(KIND, text)
    stamp = result_cache.fingerprint(session, list({e.model: None for e in entities}))
    rows = result_cache.fetch(session, key, stamp)
    if rows is None:
        rows = compute(service, builder, extra_filters)
        result_cache.store(service.crm, session, key, KIND, stamp, rows)
    return rows
