"""A report answered from a rollup: the builder's statement over the rollup's rows instead of
the records, when every part of the definition and the reader's scope can be said in the
rollup's terms; otherwise the plain query (``None`` here).

Answerable: the report's own entity (no joins); groups on the rollup's group fields, the
currency or the owner (date buckets on its dates); measures ``count``, and ``sum``, ``avg``
or ``count`` of its summed fields; filters (the report's and a pinned date range) on the same
fields, with the operators ``eq ne gt gte lt lte in isnull``; a read scope of ``all``, or
``own``/``team`` on an entity whose rollup keeps the owner. The rows are summed per group,
filtered by the same scope condition as the records (on the rows' owner), sorted and limited
as the plain query is, so both give the same rows.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import BigInteger, Select, case, cast, func, or_, select, type_coerce

from ..reports import buckets
from ..reports.definition import Definition, Group, Measure
from ..reports.query import AVG_TYPE, Builder, Column
from .models import Rollup, RollupRow
from .shape import Shape, make_shape

#: Filter operators a rollup answers.
OPERATORS = frozenset({"eq", "ne", "gt", "gte", "lt", "lte", "in", "isnull"})
_ROWS = RollupRow.__table__


class RollupBuilder(Builder):
    """The statement of one definition over the rows of one rollup, for one reader."""

    def __init__(self, service: Any, definition: Definition, shape: Shape) -> None:
        super().__init__(service, definition)
        self.shape = shape

    def scoped(self, extra_filters: dict[Any, Any] | None = None) -> Any:
        entity = self.d.entity
        stmt: Select[Any] = select(_ROWS.c.rollup_id).where(
            _ROWS.c.rollup_id == self.shape.rollup.id,
            self.service.access.condition(entity, "read", owner_column=_ROWS.c.owner_id),
        )
        for params in (self.d.params, extra_filters or {}):
            for list_params in params.values():
                for name, op, value in list_params.filters:
                    stmt = stmt.where(self._condition(name, op, value))
        return stmt

    def statement(
        self,
        extra_filters: dict[Any, Any] | None = None,
        bounds: dict[str, tuple[Any, Any]] | None = None,
    ) -> tuple[Select[Any], list[Column]]:
        stmt, columns = super().statement(extra_filters, None)
        if any(c.role != "measure" for c in columns):  # no group left empty by a write
            stmt = stmt.having(func.sum(_ROWS.c.records) > 0)
        return stmt, columns

    def bounds_statement(self, extra_filters: dict[Any, Any] | None = None) -> None:
        return None  # no timestamps in a rollup

    def _slot(self, name: str) -> Any:
        if name == "currency" and self.shape.currency:
            return _ROWS.c.currency
        if name == self.shape.owner:
            return _ROWS.c.owner_id
        dim = self.shape.dim(name)
        assert dim is not None
        return _ROWS.c[dim.slot]

    def _condition(self, name: str, op: str, value: Any) -> Any:
        column = self._slot(name)
        dim = self.shape.dim(name)
        if dim is not None and dim.kind == "bool" and op != "isnull":
            value = [int(v) for v in value] if op == "in" else int(value)
        if op == "eq":
            if isinstance(value, str):  # as the list language: text compares without case
                return func.lower(column) == value.lower()
            return column == value
        if op == "ne":
            return or_(column != value, column.is_(None))
        if op == "in":
            return column.in_(value)
        if op == "isnull":
            return column.is_(None) if value else column.is_not(None)
        return {"gt": column > value, "gte": column >= value, "lt": column < value}.get(
            op, column <= value
        )

    def _currency_expr(self, col: Column) -> Any:
        return _ROWS.c.currency

    def _group_expr(self, group: Group, bounds: tuple[Any, Any] | None) -> Any:
        column = self._slot(group.field.name)
        dim = self.shape.dim(group.field.name)
        if dim is not None and dim.kind == "bool":
            return column != 0  # a boolean again (NULL stays NULL)
        if group.bucket is None:
            return column
        if self.dialect == "postgresql":
            return buckets.postgres_bucket(column, group.bucket, None)
        return buckets.sqlite_date_bucket(column, group.bucket)

    def _measure_expr(self, measure: Measure) -> Any:
        if measure.field is None:
            return cast(func.coalesce(func.sum(_ROWS.c.records), 0), BigInteger)
        n = self.shape.measures.index(measure.field.name) + 1
        total, counted = func.sum(_ROWS.c[f"sum_{n}"]), func.sum(_ROWS.c[f"count_{n}"])
        if measure.op == "count":
            return cast(func.coalesce(counted, 0), BigInteger)
        if measure.op == "avg":  # * 1.0: whole numbers divide as decimals on SQLite too
            return type_coerce(total * 1.0 / func.nullif(counted, 0), AVG_TYPE)
        column_type = self.d.entity.columns[measure.field.name].type
        scale = getattr(column_type, "scale", None)
        if not measure.field.info.decimal:
            value = cast(func.round(total), BigInteger)
        else:  # the field's own scale, as its plain sum has
            value = type_coerce(func.round(total, scale) if scale else total, column_type)
        return type_coerce(case((counted > 0, value), else_=None), value.type)


def answerable(
    service: Any, d: Definition, extra_filters: dict[Any, Any] | None, shape: Shape
) -> bool:
    """Whether the rollup of ``shape`` gives ``d``'s rows for ``service``'s reader."""
    if d.joins or d.lines is not None or d.entity.plural != shape.entity.plural:
        return False
    kept = {d.field for d in shape.dims}
    kept |= {"currency"} if shape.currency else set()
    kept |= {shape.owner} if shape.owner else set()
    for g in d.group_by:
        if g.field.join is not None or g.field.name not in kept:
            return False
        dim = shape.dim(g.field.name)
        if g.bucket is not None and (dim is None or dim.kind != "day"):
            return False
    for m in d.measures:
        if m.field is None:
            continue
        if m.op not in ("count", "sum", "avg") or m.field.join is not None:
            return False
        if m.field.name not in shape.measures:
            return False
    for params in (d.params, extra_filters or {}):
        for join, list_params in params.items():
            if join is not None or list_params.q or list_params.trashed:
                return False
            for name, op, _value in list_params.filters:
                if name not in kept or op not in OPERATORS:
                    return False
    scope = service.access.scope(d.entity, "read")
    return scope == "all" or (scope in ("own", "team") and shape.owner is not None)


def rollup_builder(
    service: Any, d: Definition, extra_filters: dict[Any, Any] | None = None
) -> RollupBuilder | None:
    """A builder over the first ready rollup that answers ``d`` for the reader, or ``None``
    (the plain query then)."""
    if d.joins or d.lines is not None or d.entity.linked_to is not None:
        return None
    stmt = (
        select(Rollup)
        .where(Rollup.entity == d.entity.plural, Rollup.status == "ready")
        .order_by(Rollup.id)
    )
    for rollup in service.session.scalars(stmt):
        shape = make_shape(service, rollup)
        if shape is not None and answerable(service, d, extra_filters, shape):
            return RollupBuilder(service, d, shape)
    return None
