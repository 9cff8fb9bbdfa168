"""A checked definition as one SQLAlchemy statement, inside the reader's permission scope.

The scope is the record service's own: the ``WHERE`` of ``RecordService.query`` (trash, the
read scope, the parent record's scope for attached records) for the report's entity, and the
same clause in the ``ON`` of each joined entity. A joined record the reader may not read is
not joined - its fields read as empty - so a report counts exactly the records its reader may
list, and shows nothing of the records they may not. Filters are the list language's own
conditions (``crmcore.api.listing``). No SQL text comes from the user: fields are looked up in
the allow-list and values are bound parameters.

A line source (:mod:`.lines`) adds one row per line of each parent record in scope: the
parent's ``WHERE`` still decides which records' lines count, and a join along a line's
reference (``line.product_id``) carries the target's scope in its ``ON`` like any join.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from crmcore.api import listing
from crmcore.settings import time_zone
from sqlalchemy import Date, Numeric, Select, and_, cast, func, select, true

from . import buckets, lines
from .definition import Definition, FieldRef, Group, Measure
from .fields import CUSTOM

#: Scale of averages (money keeps its cents, an average of whole numbers gets two decimals).
AVG_TYPE = Numeric(28, 6)


@dataclass(frozen=True)
class Column:
    """One column of the result: a group, a currency kept apart, or a measure."""

    key: str
    role: str  # "group", "currency" or "measure"
    group: Group | None = None
    measure: Measure | None = None
    currency_of: str | None = None  # the join of the currency column, "" for the entity's


class Builder:
    """Builds the statement of one definition for one record service (one reader)."""

    def __init__(self, service: Any, definition: Definition) -> None:
        self.service = service
        self.d = definition
        self.dialect = service.session.get_bind().dialect.name
        self.zone = time_zone(service.crm)
        bind = service.session.get_bind()
        self.line_rows = (
            lines.rows(definition.lines, bind.dialect) if definition.lines is not None else None
        )

    def attribute(self, ref: FieldRef) -> Any:
        if ref.join == lines.LINE:
            return lines.value(self.line_rows, ref.info, self.dialect)
        entity = self.d.entity if ref.join is None else self.d.joins[ref.join]
        if ref.info.custom is not None:
            return custom_value(
                entity, ref.name.removeprefix(CUSTOM), ref.info.custom, self.dialect
            )
        return entity.attribute(ref.name)

    def scoped(self, extra_filters: dict[str | None, listing.ListParams] | None = None) -> Any:
        """``SELECT ... FROM entity [LEFT JOIN target ON ... AND scope]... WHERE scope AND
        filters`` with no columns yet (``with_only_columns`` adds them)."""
        d = self.d
        model = d.entity.model
        stmt: Select[Any] = select(model.id).select_from(model)
        if self.line_rows is not None:
            stmt = lines.join_rows(stmt, self.line_rows, self.service.session.get_bind().dialect)
        for ref, target in d.joins.items():
            condition = self.service.query(target).whereclause
            on = target.model.id == self._join_value(ref)
            stmt = stmt.outerjoin(
                target.model, and_(on, condition if condition is not None else true())
            )
        where = self.service.query(d.entity).whereclause
        if where is not None:
            stmt = stmt.where(where)
        for params in (d.params, extra_filters or {}):
            for join, list_params in params.items():
                target = d.entity if join is None else d.joins[join]
                stmt = listing.apply_filters(target, stmt, list_params, self.dialect)
        return stmt

    def _join_value(self, ref: str) -> Any:
        """The id a join follows: a column of the entity, or a line's reference."""
        head, _dot, name = ref.partition(".")
        if head == lines.LINE and self.d.lines is not None:
            return lines.value(self.line_rows, self.d.lines.fields[name], self.dialect)
        return self.d.entity.attribute(ref)

    def columns(self) -> list[Column]:
        """Groups, then currencies kept apart, then measures."""
        out = [Column(g.key, "group", group=g) for g in self.d.group_by]
        for join in self._currency_joins():
            key = f"{join}.currency" if join else "currency"
            if key not in {c.key for c in out}:
                out.append(Column(key, "currency", currency_of=join))
        out += [Column(m.key, "measure", measure=m) for m in self.d.measures]
        return out

    def _currency_joins(self) -> list[str]:
        """The entities (``""`` for the report's own) whose decimals are measured apart from
        the count: each gets its ``currency`` column grouped, when it has one."""
        found: list[str] = []
        for m in self.d.measures:
            if m.field is None or not m.field.info.decimal or m.op == "count_distinct":
                continue
            join = m.field.join or ""
            if join == lines.LINE:  # a line's money is in its parent's currency
                join = ""
            entity = self.d.entity if not join else self.d.joins[join]
            if "currency" in entity.columns and join not in found:
                found.append(join)
        return found

    def statement(
        self,
        extra_filters: dict[str | None, listing.ListParams] | None = None,
        bounds: dict[str, tuple[Any, Any]] | None = None,
    ) -> tuple[Select[Any], list[Column]]:
        """The aggregate statement and its columns. ``bounds`` gives, for SQLite, the first and
        last value of each timestamp grouped by bucket (see :meth:`bounds_statement`)."""
        cols = self.columns()
        selected: list[Any] = []
        grouped: list[Any] = []
        for col in cols:
            if col.role == "group":
                assert col.group is not None
                expr = self._group_expr(col.group, (bounds or {}).get(col.group.field.key))
                grouped.append(expr)
            elif col.role == "currency":
                expr = self._currency_expr(col)
                grouped.append(expr)
            else:
                assert col.measure is not None
                expr = self._measure_expr(col.measure)
            selected.append(expr.label(f"c{len(selected)}"))
        stmt = self.scoped(extra_filters).with_only_columns(*selected)
        if grouped:
            stmt = stmt.group_by(*grouped)
        order = []
        by_key = {c.key: selected[i] for i, c in enumerate(cols)}
        for key, descending in self.d.sort:
            column = by_key[key]
            order.append(column.desc().nulls_last() if descending else column.asc().nulls_first())
        for i, col in enumerate(cols):
            if col.role != "measure" and col.key not in {k for k, _ in self.d.sort}:
                order.append(selected[i].asc().nulls_first())
        return stmt.order_by(*order).limit(self.d.limit), cols

    def bounds_statement(
        self, extra_filters: dict[str | None, listing.ListParams] | None = None
    ) -> tuple[Select[Any], list[str]] | None:
        """On SQLite, the min and max of each timestamp grouped by a bucket (for the time zone
        shift); ``None`` when there is none or no shift is needed."""
        if self.dialect != "sqlite" or self.zone == "UTC":
            return None
        wanted = [g.field for g in self.d.group_by if g.bucket and g.field.info.kind == "datetime"]
        if not wanted:
            return None
        exprs = []
        for ref in wanted:
            column = self.attribute(ref)
            exprs += [func.min(column), func.max(column)]
        return self.scoped(extra_filters).with_only_columns(*exprs), [r.key for r in wanted]

    def _currency_expr(self, col: Column) -> Any:
        entity = self.d.entity if not col.currency_of else self.d.joins[col.currency_of]
        return entity.attribute("currency")

    def _group_expr(self, group: Group, bounds: tuple[Any, Any] | None) -> Any:
        column = self.attribute(group.field)
        if group.bucket is None:
            return column
        is_timestamp = group.field.info.kind == "datetime"
        if self.dialect == "postgresql":
            zone = self.zone if is_timestamp else None
            return buckets.postgres_bucket(column, group.bucket, zone)
        if not is_timestamp and group.field.info.custom is None:
            return buckets.sqlite_date_bucket(column, group.bucket)
        local = column
        if is_timestamp and self.zone != "UTC":
            local = buckets.sqlite_local(column, self.zone, bounds or (None, None))
        return buckets.sqlite_bucket(local, group.bucket)

    def _measure_expr(self, measure: Measure) -> Any:
        if measure.field is None:
            return func.count()
        column = self.attribute(measure.field)
        if measure.op == "count":
            return func.count(column)
        if measure.op == "count_distinct":
            return func.count(column.distinct())
        if measure.op == "avg":
            return func.avg(column, type_=AVG_TYPE)
        return getattr(func, measure.op)(column)


def custom_value(entity: Any, name: str, field_type: str, dialect: str) -> Any:
    """One custom field's value read from the entity's JSON column as its type: a float, a
    boolean, a date (ISO text on SQLite, whose date functions read it), or text. ``name`` comes
    from the field definitions, never from the user as such."""
    element = entity.model.custom_fields[name]
    if field_type == "number":
        return element.as_float()
    if field_type == "boolean":
        return element.as_boolean()
    if field_type == "date" and dialect == "postgresql":
        return cast(element.as_string(), Date)
    return element.as_string()
