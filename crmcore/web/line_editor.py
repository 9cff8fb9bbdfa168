"""The sub-table editor of nested lists in record forms, its totals endpoint and the tables of
nested lists on detail pages.

``POST /<plural>/new/lines`` and ``POST /<plural>/<id>/edit/lines`` take the whole form (htmx
sends it as the user types) and answer a partial: each row's computed cells and errors, the
document's totals, and - when a reference of a row changed (a line's product) - that row's
inputs refilled from it. The numbers come from the record service's ``preview``: the same
schema and ``prepare`` that saving runs, so what the page shows is what will be stored.
"""

from __future__ import annotations

import decimal
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from flask import Blueprint, g, render_template, request
from marshmallow import fields

from ..app import current_crm
from ..errors import CRMError, NotFound, PermissionDenied, ValidationError
from ..records import RecordService
from ..references import nested_target
from ..registry import Entity
from . import lines
from .forms import FormField, form_fields, read_form
from .i18n import label

#: Options a row's reference picker offers (the newest matching records).
ROW_PICKER_LIMIT = 200


@dataclass
class LineTable:
    """What the template of one nested list needs."""

    spec: FormField
    rows: list[dict[str, str]]
    errors: lines.RowErrors = field(default_factory=lines.RowErrors)
    computed: list[str] = field(default_factory=list)
    computed_rows: list[dict[str, Any]] = field(default_factory=list)
    totals: list[tuple[str, Any]] = field(default_factory=list)
    currency: str | None = None
    choices: dict[str, list[tuple[str, str]]] = field(default_factory=dict)
    #: Columns shown as money in the document's currency (``metadata["money"]``).
    money: set[str] = field(default_factory=set)
    #: The DOM row number of each filled row, in order (errors and computed values are by
    #: position among the filled rows).
    positions: list[int] = field(default_factory=list)

    @property
    def live(self) -> bool:
        """Whether the server has something to say as the user types: computed columns,
        totals, or inputs a row's reference fills."""
        return bool(self.computed or self.totals or any(s.fill_from for s in self.spec.subfields))

    def row_errors(self, dom_index: int) -> dict[str, list[str]]:
        if dom_index not in self.positions:
            return {}
        return self.errors.rows.get(self.positions.index(dom_index), {})

    def row_computed(self, dom_index: int) -> dict[str, Any]:
        if dom_index not in self.positions:
            return {}
        position = self.positions.index(dom_index)
        return self.computed_rows[position] if position < len(self.computed_rows) else {}


def service() -> RecordService:
    return current_crm().records(g.crm_access)


def total_fields(entity: Entity) -> list[str]:
    """The document's computed amounts shown under its lines: dump-only numbers stored in
    columns (a quote's subtotal, tax and total)."""
    declared = entity.full_schema._declared_fields
    return [
        n
        for n, f in declared.items()
        if f.dump_only and isinstance(f, fields.Number) and n in entity.columns and n != "id"
    ]


def row_choices(
    entity: Entity,
    spec: FormField,
    rows: list[dict[str, str]],
    values: Mapping[str, Any] | None = None,
    record: Any = None,
) -> dict[str, list[tuple[str, str]]]:
    """Options of the reference inputs of a list's rows (a line's product): records the user may
    read, active ones only when the entity has an ``active`` flag, plus those the rows name.

    A nested field whose ``metadata["options"]`` is ``options(records, values, record)`` gets
    the options it returns (a shipment's line among its order's lines); ``values`` are the
    form's inputs, and ``None`` from it leaves the input a plain one."""
    records = service()
    out: dict[str, list[tuple[str, str]]] = {}
    declared = _nested_declared(entity, spec)
    for sub in spec.subfields:
        options = getattr(declared.get(sub.name), "metadata", {}).get("options")
        if callable(options):
            found = options(records, values or {}, record)
            if found is not None:
                out[sub.name] = _with_named(list(found), sub.name, rows)
            continue
        if not sub.name.endswith("_id"):
            continue
        target = nested_target(records, sub.name)
        if target is None or not records.access.can(target, "read"):
            continue
        model = target.model
        stmt = records.query(target)
        named = {
            int(r[sub.name])
            for r in rows
            if r.get(sub.name, "").isascii() and r.get(sub.name, "").isdigit()
        }
        named = {i for i in named if i < 2**63}
        if "active" in target.columns:
            stmt = stmt.where(model.active.is_(True) | model.id.in_(named))
        order = [target.attribute(f) for f in target.title_fields if f in target.columns]
        found = list(
            records.session.scalars(stmt.order_by(*order, model.id).limit(ROW_PICKER_LIMIT))
        )
        missing = named - {r.id for r in found}
        if missing:
            found += list(
                records.session.scalars(records.query(target).where(model.id.in_(missing)))
            )
        out[sub.name] = [(str(r.id), _option_text(target, r)) for r in found]
    return out


def _nested_declared(entity: Entity, spec: FormField) -> Mapping[str, fields.Field]:
    """The fields of the nested schema of a list (none for a mapping)."""
    inner = getattr(entity.full_schema._declared_fields.get(spec.name), "inner", None)
    return inner.schema.fields if isinstance(inner, fields.Nested) else {}


def _with_named(
    options: list[tuple[str, str]], name: str, rows: list[dict[str, str]]
) -> list[tuple[str, str]]:
    """``options`` and the values the rows hold that are not among them, so that a select
    never drops what was typed or stored (saving then says what is wrong with it)."""
    known = {choice for choice, _text in options}
    for row in rows:
        value = row.get(name, "")
        if value and value not in known:
            known.add(value)
            options.append((value, value))
    return options


def _option_text(target: Entity, record: Any) -> str:
    sku = getattr(record, "sku", None)
    title = target.display(record)
    return f"{sku} · {title}" if sku and sku not in title else title


def tables(
    entity: Entity,
    specs: list[FormField],
    record: Any,
    form: Mapping[str, Any] | None,
    messages: Mapping[str, Any] | None = None,
    prefilled: Mapping[str, list[dict[str, Any]]] | None = None,
    values: Mapping[str, Any] | None = None,
) -> dict[str, LineTable]:
    """The sub-tables of a form: rows as submitted (after a ``_rows`` button), else the
    prefilled or stored ones; with the errors of ``messages`` on their rows. ``values`` are
    the form's other inputs (the submitted form when omitted), for rows' options."""
    out: dict[str, LineTable] = {}
    op = str(form.get(lines.ROW_OP, "")) if form is not None else ""
    for spec in specs:
        if spec.kind != "nested":
            continue
        computed_rows: list[dict[str, Any]] = []
        mine = op.startswith(spec.input_name + ":")
        if form is not None and lines.submitted_rows(spec, form):
            rows = lines.apply_op(spec, lines.submitted_rows(spec, form), op)
            if not mine:  # after a refused save: the filled rows (errors are by position)
                rows = [r for r in rows if not lines.is_blank(spec, r)]
        elif prefilled and spec.name in prefilled:
            rows = lines.stored_rows(spec, prefilled[spec.name])
        else:
            stored = getattr(record, spec.name, None) if record is not None else None
            rows = lines.stored_rows(spec, stored)
            computed_rows = _computed_rows(stored)
        schema_field = entity.full_schema._declared_fields[spec.name]
        table = LineTable(
            spec,
            rows if mine else lines.padded(spec, rows),
            computed=lines.computed_columns(spec, schema_field),
            money=money_columns(schema_field),
            computed_rows=computed_rows,
            positions=list(range(len(rows))),
            currency=getattr(record, "currency", None),
        )
        raw = (messages or {}).get(spec.name)
        if raw is not None:
            table.errors = lines.row_errors(_by_position(spec, rows, raw))
        table.totals = [
            (n, getattr(record, n, None) if record is not None else None)
            for n in total_fields(entity)
        ]
        table.choices = row_choices(
            entity, spec, table.rows, values if values is not None else form, record
        )
        out[spec.input_name] = table
    if op and form is not None and out:
        _redraw(entity, specs, record, form, out)
    return out


def _redraw(
    entity: Entity,
    specs: list[FormField],
    record: Any,
    form: Mapping[str, Any],
    out: dict[str, LineTable],
) -> None:
    """After a button of a sub-table pressed without JavaScript: fill the rows whose reference
    is set (a line's product) and show what saving would compute, as the totals endpoint does
    while one types."""
    flat = {k: v for k, v in form.items() if not any(k.startswith(n + "-") for n in out)}
    for name, table in out.items():
        for row in table.rows:
            sources = {s.fill_from for s in table.spec.subfields if s.fill_from}
            if any(row.get(src) for src in sources):
                for sub in table.spec.subfields:
                    if sub.form_default and not row.get(sub.name):
                        row[sub.name] = sub.form_default
        for index, row in enumerate(table.rows):
            for key, value in row.items():
                flat[f"{name}-{index}-{key}"] = value
    data = read_form(entity, specs, flat, str(getattr(g.crm_user, "timezone", None) or "UTC"))
    values, messages = _computed(
        service(), entity, data, record, {t.spec.name for t in out.values()}
    )
    for table in out.values():
        spec = table.spec
        table.positions = [i for i, r in enumerate(table.rows) if not lines.is_blank(spec, r)]
        raw = messages.get(spec.name)
        if raw is not None:
            filled = [table.rows[i] for i in table.positions]
            table.errors = lines.row_errors(_by_position(spec, filled, raw))
        if values is None:
            continue
        table.currency = values.get("currency") or table.currency
        table.computed_rows = _computed_rows(values.get(spec.name))
        table.totals = [(n, values.get(n)) for n in total_fields(entity)]
        for index in table.positions:
            computed = table.row_computed(index)
            row = table.rows[index]
            for sub in spec.subfields:
                if sub.fill_from and not row.get(sub.name) and computed.get(sub.name) is not None:
                    row[sub.name] = str(computed[sub.name])


def _by_position(spec: FormField, rows: list[dict[str, str]], raw: Any) -> Any:
    """A mapping's errors are by key (``{"XYZ": {"key": [...]}}``): move them to row numbers."""
    if not spec.mapping or not isinstance(raw, Mapping):
        return raw
    keys = [r.get("key", "") for r in rows]
    out: dict[Any, Any] = {}
    for key, value in raw.items():
        out[keys.index(key) if key in keys else "_list"] = value
    return out


def detail_tables(entity: Entity, record: Any) -> dict[str, dict[str, Any]]:
    """The nested lists of a record's page as tables: column names and rows of values."""
    out: dict[str, dict[str, Any]] = {}
    specs = form_fields(entity, [], creating=False)
    for spec in specs:
        if spec.kind != "nested":
            continue
        stored = getattr(record, spec.name, None)
        if spec.mapping:
            schema_field = entity.full_schema._declared_fields[spec.name]
            names = [str(schema_field.metadata.get(f"{n}_label", n)) for n in ("key", "value")]
            rows = [{names[0]: k, names[1]: _number(v)} for k, v in (stored or {}).items()]
            value_field = getattr(schema_field, "value_field", None)
            money = (
                {names[1]}
                if value_field is not None and value_field.metadata.get("money")
                else set()
            )
            out[spec.name] = {
                "columns": names,
                "rows": rows,
                "mapping": True,
                "money": money,
                "links": {},
            }
            continue
        schema_field = entity.full_schema._declared_fields[spec.name]
        inner = schema_field.inner  # type: ignore[attr-defined]
        columns = [
            n
            for n, f in inner.schema.fields.items()
            if not f.load_only
            and any(_filled(i.get(n)) for i in stored or () if isinstance(i, Mapping))
        ]
        rows = [
            {c: _number(i.get(c)) for c in columns} for i in stored or () if isinstance(i, Mapping)
        ]
        links = _row_links(entity, columns, rows)
        out[spec.name] = {
            "columns": columns,
            "rows": rows,
            "links": links,
            "mapping": False,
            "money": money_columns(schema_field),
        }
    return out


def money_columns(schema_field: fields.Field) -> set[str]:
    """Fields of a nested schema holding amounts of money (``metadata["money"]``)."""
    inner = getattr(schema_field, "inner", None)
    if not isinstance(inner, fields.Nested):
        return set()
    return {n for n, f in inner.schema.fields.items() if f.metadata.get("money")}


def _computed_rows(stored: Any) -> list[dict[str, Any]]:
    """Stored or previewed rows with their amounts as numbers."""
    return [
        {k: _number(v) for k, v in item.items()}
        for item in stored or ()
        if isinstance(item, Mapping)
    ]


def _filled(value: Any) -> bool:
    return value not in (None, "", [], {})


def _number(value: Any) -> Any:
    """Stored amounts are decimal strings: show them as numbers (money when in a currency)."""
    if isinstance(value, str):
        try:
            return decimal.Decimal(value) if value.strip() and value[0] in "-0123456789" else value
        except decimal.InvalidOperation:
            return value
    return value


def _row_links(
    entity: Entity, columns: list[str], rows: list[dict[str, Any]]
) -> dict[tuple[str, Any], tuple[str, str | None]]:
    """Titles and pages of the records rows refer to (a line's product), readable ones only."""
    records = service()
    out: dict[tuple[str, Any], tuple[str, str | None]] = {}
    for name in columns:
        if not name.endswith("_id"):
            continue
        target = nested_target(records, name)
        ids = {r.get(name) for r in rows} - {None}
        ids = {int(i) for i in ids if isinstance(i, int | decimal.Decimal)}
        if target is None or not ids or not records.access.can(target, "read"):
            continue
        found = records.session.scalars(records.query(target).where(target.model.id.in_(ids)))
        for item in found:
            out[(name, item.id)] = (target.display(item), f"/{target.plural}/{item.id}")
    return out


# the totals endpoint ----------------------------------------------------------------------------


def preview(entity: Entity, record: Any) -> Any:
    """The partial answering a change in a form's lines."""
    records = service()
    creating = record is None
    specs = form_fields(
        entity, current_crm().custom_field_defs(records.session, entity), creating=creating
    )
    nested = [s for s in specs if s.kind == "nested"]
    if not nested:
        raise NotFound("This form has no lines.")
    form = request.form.to_dict()
    changed = str(form.get("_changed", ""))
    refill = _refill_row(nested, form, changed)
    data = read_form(entity, specs, form, str(getattr(g.crm_user, "timezone", None) or "UTC"))
    values, messages = _computed(records, entity, data, record, {s.name for s in nested})
    context = {}
    for spec in nested:
        table = tables(entity, [spec], record, form, messages)[spec.input_name]
        table.rows = lines.submitted_rows(spec, form)
        table.positions = [i for i, r in enumerate(table.rows) if not lines.is_blank(spec, r)]
        table.currency = values.get("currency") if values else table.currency
        if values is not None:
            stored = values.get(spec.name)
            table.computed_rows = _computed_rows(stored)
            table.totals = [(n, values.get(n)) for n in total_fields(entity)]
        filled_inputs = _fill(spec, table, refill)
        context[spec.input_name] = (table, filled_inputs)
    return render_template("core/_lines_preview.html", entity=entity, previews=context, label=label)


def _refill_row(
    nested: list[FormField], form: dict[str, Any], changed: str
) -> tuple[str, int] | None:
    """When a row's reference changed, blank what it fills (to take the new one's values)."""
    for spec in nested:
        prefix = spec.input_name + "-"
        if not changed.startswith(prefix):
            continue
        index, _sep, sub_name = changed[len(prefix) :].partition("-")
        if (
            not index.isascii()
            or not index.isdigit()
            or not any(s.fill_from == sub_name for s in spec.subfields)
        ):
            return None
        for sub in spec.subfields:
            name = f"{spec.input_name}-{index}-{sub.name}"
            if sub.fill_from == sub_name:
                form[name] = ""
            elif sub.form_default and not str(form.get(name, "")).strip() and form.get(changed):
                form[name] = sub.form_default
        return spec.input_name, int(index)
    return None


def _fill(spec: FormField, table: LineTable, refill: tuple[str, int] | None) -> dict[str, str]:
    """Inputs of the changed row refilled from the computed line (``{input name: value}``)."""
    if refill is None or refill[0] != spec.input_name:
        return {}
    index = refill[1]
    computed = table.row_computed(index)
    row = table.rows[index] if index < len(table.rows) else {}
    out = {}
    for sub in spec.subfields:
        name = f"{spec.input_name}-{index}-{sub.name}"
        if sub.fill_from and computed.get(sub.name) is not None:
            out[name] = str(computed[sub.name])
            row[sub.name] = out[name]
        elif sub.form_default and row.get(sub.name) == "":
            continue
        elif sub.form_default:
            out[name] = row.get(sub.name, "")
    return out


def _computed(
    records: RecordService,
    entity: Entity,
    data: dict[str, Any],
    record: Any,
    nested: set[str],
) -> tuple[dict[str, Any] | None, dict[str, Any]]:
    """The values the write would store, or ``None`` and the errors. Errors of fields other
    than the lists are left to saving: those fields are dropped once and the preview retried."""
    for attempt in range(2):
        try:
            return records.preview(entity, data, record), {}
        except ValidationError as exc:
            messages = exc.messages if isinstance(exc.messages, Mapping) else {}
            others = [k for k in messages if k not in nested]
            if attempt or not others or any(k not in data for k in others):
                return None, dict(messages)
            data = {k: v for k, v in data.items() if k not in others}
        except PermissionDenied:
            raise
        except CRMError as exc:
            return None, {"_schema": [exc.detail]}
    return None, {}


def make_blueprint() -> Blueprint:
    bp = Blueprint("web_lines", __name__)

    @bp.route("/<plural>/new/lines", methods=["POST"])
    def new_lines(plural: str) -> Any:
        entity = _entity(plural)
        return preview(entity, None)

    @bp.route("/<plural>/<int:record_id>/edit/lines", methods=["POST"])
    def edit_lines(plural: str, record_id: int) -> Any:
        entity = _entity(plural)
        record = service().get(entity, record_id, "update")
        return preview(entity, record)

    return bp


def _entity(plural: str) -> Entity:
    entity = service().entity(plural)
    if entity.plural != plural:
        raise NotFound("No such page.")
    return entity
