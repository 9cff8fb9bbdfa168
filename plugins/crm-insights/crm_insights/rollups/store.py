"""Writing rollup rows: the change each record write makes (in its transaction), a build
from the records, and the check that finds rows gone astray.

A write moves a record's count and sums out of the row of its old key (its values before
the write; none when it was in the trash or is new) into the row of its new key (none when
it went to the trash). Rows are upserted by ``(rollup_id, key)``, so two writers adding to the
same key meet in one row; a row whose count falls to zero is deleted.

On PostgreSQL a write takes a share lock on its entity's rollups and a build an exclusive one,
so that a build's reading of the records never misses a write that its rows would not
contain either.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from decimal import Decimal
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from .models import Rollup, RollupRow
from .shape import Shape, make_shape, row_values, values_of

#: Rows per INSERT statement (bound parameters stay well under the databases' limits).
CHUNK = 500
FIGURES = ["records"] + [f"{kind}_{n}" for n in (1, 2, 3) for kind in ("sum", "count")]


def rollups_of(session: Any, plural: str, lock: bool = False) -> list[Rollup]:
    """The rollups of an entity (share-locked on PostgreSQL when ``lock``)."""
    stmt = select(Rollup).where(Rollup.entity == plural).order_by(Rollup.id)
    if lock:
        stmt = stmt.with_for_update(read=True)
    return list(session.scalars(stmt))


def records_written(events: Sequence[Any]) -> None:
    """Apply writes of one entity to its rollups, in the writes' transaction."""
    first = events[0]
    session, service = first.session, first.records
    rollups = rollups_of(session, first.entity.plural, lock=True)
    for rollup in rollups:
        shape = make_shape(service, rollup)
        if shape is not None:
            apply(session, shape, changes(shape, events))


def changes(shape: Shape, events: Iterable[Any]) -> dict[tuple[Any, ...], list[Any]]:
    """The figures each key gains (negative: loses) through ``events``."""
    out: dict[tuple[Any, ...], list[Any]] = {}
    needed = [*shape.fields(), "deleted_at"]
    for event in events:
        record, changed = event.record, event.changes
        after = {name: getattr(record, name) for name in needed}
        if event.action == "create":
            old = None
        else:
            before = {n: changed[n][0] if n in changed else after[n] for n in needed}
            old = values_of(shape, before.__getitem__)
        new = values_of(shape, after.__getitem__)
        if old == new:
            continue
        for found, sign in ((old, -1), (new, 1)):
            if found is not None:
                key, figures = found
                total = out.setdefault(key, [0] * len(figures))
                for i, value in enumerate(figures):
                    total[i] += sign * value
    return out


def apply(session: Any, shape: Shape, gains: dict[tuple[Any, ...], list[Any]]) -> None:
    """Add ``gains`` to the rows of ``shape``'s rollup; delete rows left with no record."""
    rows = [_row(shape, key, figures) for key, figures in gains.items() if any(figures)]
    if not rows:
        return
    rows.sort(key=lambda row: row["key"])  # two writers lock shared rows in the same order
    rollup_id = shape.rollup.id
    table = RollupRow.__table__
    insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    for start in range(0, len(rows), CHUNK):
        chunk = rows[start : start + CHUNK]
        stmt = insert(table).values(chunk)
        stmt = stmt.on_conflict_do_update(
            index_elements=[table.c.rollup_id, table.c.key],
            set_={name: table.c[name] + stmt.excluded[name] for name in FIGURES},
        )
        session.execute(stmt)
        session.execute(
            delete(table).where(
                table.c.rollup_id == rollup_id,
                table.c.key.in_([r["key"] for r in chunk]),
                table.c.records <= 0,
            )
        )


def _row(shape: Shape, key: tuple[Any, ...], figures: list[Any]) -> dict[str, Any]:
    row = {
        "rollup_id": shape.rollup.id,
        "int_1": None,
        "text_1": None,
        "day_1": None,
        "int_2": None,
        "text_2": None,
        "day_2": None,
        **row_values(shape, key),
    }
    row.update(dict.fromkeys(FIGURES, 0))
    row["records"] = figures[0]
    for n in range(len(shape.measures)):
        row[f"sum_{n + 1}"] = figures[1 + 2 * n]
        row[f"count_{n + 1}"] = figures[2 + 2 * n]
    return row


def aggregate(session: Any, shape: Shape) -> dict[tuple[Any, ...], list[Any]]:
    """The figures per key computed from the records themselves (what the rows should be)."""
    entity = shape.entity
    model = entity.model
    keys = [entity.attribute(d.field) for d in shape.dims]
    keys.append(entity.attribute("currency") if shape.currency else None)
    keys.append(entity.attribute(shape.owner) if shape.owner else None)
    grouped = [k for k in keys if k is not None]
    figures: list[Any] = [func.count()]
    for name in shape.measures:
        column = entity.attribute(name)
        figures += [func.sum(column), func.count(column)]
    stmt = (
        select(*grouped, *figures).where(model.deleted_at.is_(None)).group_by(*grouped)
        if grouped
        else select(*figures).where(model.deleted_at.is_(None))
    )
    out: dict[tuple[Any, ...], list[Any]] = {}
    width = len(grouped)
    for row in session.execute(stmt):
        values = iter(row[:width])
        dims = [next(values) for _ in shape.dims]
        key = (
            *(int(bool(v)) if d.kind == "bool" and v is not None else v
              for d, v in zip(shape.dims, dims, strict=True)),
            next(values) if shape.currency else None,
            next(values) if shape.owner else None,
        )  # fmt: skip
        counted = list(row[width:])
        if counted[0]:
            out[key] = [v if v is not None else 0 for v in counted]
    return out


def stored(session: Any, shape: Shape) -> dict[tuple[Any, ...], list[Any]]:
    """The figures per key as the rows hold them."""
    t = RollupRow.__table__
    slots = [t.c[d.slot] for d in shape.dims] + [t.c.currency, t.c.owner_id]
    columns = ["records"] + [
        f"{kind}_{n + 1}" for n in range(len(shape.measures)) for kind in ("sum", "count")
    ]
    stmt = select(*slots, *(t.c[c] for c in columns)).where(t.c.rollup_id == shape.rollup.id)
    width = len(slots)
    return {tuple(r[:width]): list(r[width:]) for r in session.execute(stmt)}


def build(session: Any, shape: Shape) -> int:
    """Replace the rollup's rows with figures computed from the records (exclusive lock on
    PostgreSQL); mark it ready. Returns the number of rows. Not committed."""
    rollup = shape.rollup
    session.execute(select(Rollup.id).where(Rollup.id == rollup.id).with_for_update()).one_or_none()
    session.execute(delete(RollupRow).where(RollupRow.rollup_id == rollup.id))
    rows = [_row(shape, key, figures) for key, figures in aggregate(session, shape).items()]
    for start in range(0, len(rows), CHUNK * 10):
        session.execute(RollupRow.__table__.insert(), rows[start : start + CHUNK * 10])
    rollup.status = "ready"
    rollup.built_at = rollup.checked_at = now()
    return len(rows)


def drifted(session: Any, shape: Shape) -> list[tuple[Any, ...]]:
    """Keys whose rows differ from the records' own figures (written around the record
    service, or a write missed while the plugin was disabled); empty when none."""
    session.execute(
        select(Rollup.id).where(Rollup.id == shape.rollup.id).with_for_update()
    ).one_or_none()
    wanted = aggregate(session, shape)
    have = stored(session, shape)
    places = [_places(shape.entity, name) for name in shape.measures]
    out = []
    for key in set(wanted) | set(have):
        a, b = wanted.get(key), have.get(key)
        if a is None or b is None or not _same(a, b, places):
            out.append(key)
    return out


def _same(a: list[Any], b: list[Any], places: list[Decimal]) -> bool:
    if int(a[0]) != int(b[0]):
        return False
    for n, exp in enumerate(places):
        sum_a, count_a = a[1 + 2 * n], a[2 + 2 * n]
        sum_b, count_b = b[1 + 2 * n], b[2 + 2 * n]
        if int(count_a) != int(count_b):
            return False
        if Decimal(str(sum_a)).quantize(exp) != Decimal(str(sum_b)).quantize(exp):
            return False
    return True


def _places(entity: Any, name: str) -> Decimal:
    scale = getattr(entity.columns[name].type, "scale", None) or 0
    return Decimal(1).scaleb(-scale)


def now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)
