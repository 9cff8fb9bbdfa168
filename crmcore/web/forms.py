"""Record forms generated from an entity's marshmallow schema and its custom fields.

``form_fields`` describes the inputs to render; ``read_form`` turns the submitted form back into
the dictionary the record service validates, so the schema stays the one source of rules.
"""

from __future__ import annotations

import datetime as dt
import zoneinfo
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from marshmallow import fields, validate

from ..customfields import FieldDef
from ..registry import SYSTEM_FIELDS, Entity
from .i18n import choice_text, enum_choices, label

#: Fields no generic form shows: managed by the core or edited elsewhere.
HIDDEN = frozenset({*SYSTEM_FIELDS, "custom_fields", "password_hash"})
CUSTOM_PREFIX = "custom."
#: Text fields without a length limit that still deserve a multi-line box.
LONG_TEXT = frozenset({"description", "body", "notes", "comment", "message", "content"})
CUSTOM_TYPES = {
    "text": "text",
    "number": "number",
    "date": "date",
    "choice": "select",
    "boolean": "checkbox",
}


@dataclass
class FormField:
    """One input of a record form.

    ``kind`` is an HTML input type (``text email number date datetime-local time url
    password checkbox``), ``select``, ``textarea``, ``tags``, ``reference`` (a picker of the
    records of ``target``, an entity plural) or ``nested`` (a list of small objects such as
    a contact's extra e-mails, each row edited with the inputs of ``subfields``).
    """

    name: str
    label: str
    kind: str
    required: bool = False
    choices: list[tuple[str, str]] = field(default_factory=list)
    allow_none: bool = True
    custom: bool = False
    maxlength: int | None = None
    target: str | None = None
    subfields: list[FormField] = field(default_factory=list)

    @property
    def input_name(self) -> str:
        return CUSTOM_PREFIX + self.name if self.custom else self.name

    @property
    def dom_id(self) -> str:
        return "f-" + self.input_name.replace(".", "-")


def _max_length(schema_field: fields.Field) -> int | None:
    for validator in _validators(schema_field):
        if isinstance(validator, validate.Length) and validator.max is not None:
            return int(validator.max)
    return None


def _validators(schema_field: fields.Field) -> list[Any]:
    return list(getattr(schema_field, "validators", None) or ())


def _choices(schema_field: fields.Field) -> list[str] | None:
    if isinstance(schema_field, fields.List):
        return None  # a list's own choices are its items'; see enum_choices
    return enum_choices(schema_field)


def _kind(name: str, schema_field: fields.Field) -> str | None:
    """The input kind of a schema field, ``None`` when a generic form cannot edit it."""
    from ..fields import Email, Phone

    if isinstance(schema_field, fields.List):
        inner = schema_field.inner
        if isinstance(inner, fields.Nested) and _nested_fields(inner):
            return "nested"
        return "tags" if isinstance(inner, fields.String) and name == "tags" else None
    if isinstance(schema_field, fields.Nested | fields.Dict | fields.Raw) and not isinstance(
        schema_field,
        fields.String
        | fields.Number
        | fields.Boolean
        | fields.DateTime
        | fields.Date
        | fields.Time,
    ):
        return None
    if _choices(schema_field) is not None:
        return "select"
    if isinstance(schema_field, fields.Boolean):
        return "checkbox"
    if isinstance(schema_field, fields.DateTime):
        return "datetime-local"
    if isinstance(schema_field, fields.Date):
        return "date"
    if isinstance(schema_field, fields.Time):
        return "time"
    if isinstance(schema_field, fields.Number):
        return "number"
    if isinstance(schema_field, Email | fields.Email):
        return "email"
    if isinstance(schema_field, fields.Url):
        return "url"
    if isinstance(schema_field, Phone):
        return "tel"
    if isinstance(schema_field, fields.String):
        if schema_field.load_only and "password" in name:
            return "password"
        length = _max_length(schema_field)
        long_text = length > 1000 if length is not None else name in LONG_TEXT
        return "textarea" if long_text else "text"
    return None


def _nested_fields(nested: fields.Nested) -> list[FormField]:
    """The inputs of one row of a list of nested objects (simple fields only)."""
    schema = nested.schema
    out = []
    for name, inner in schema.fields.items():
        if inner.dump_only:
            continue
        kind = _kind(name, inner)
        if kind is None or kind in ("nested", "tags"):
            return []  # rows that a generic form cannot edit
        choices = [(c, choice_text(c, name)) for c in (_choices(inner) or [])]
        out.append(
            FormField(
                name,
                label(name),
                kind,
                bool(inner.required),
                choices,
                bool(inner.allow_none),
                maxlength=_max_length(inner),
            )
        )
    # the label first: "work: ana@example.com"
    out.sort(key=lambda f: f.name != "label")
    return out


def nested_input(spec: FormField, index: int, sub: FormField) -> str:
    """The input name of ``sub`` in row ``index`` of a nested list (``emails-0-value``)."""
    return f"{spec.input_name}-{index}-{sub.name}"


def ordered_fields(entity: Entity) -> list[tuple[str, fields.Field]]:
    """Schema fields with the title and list columns first: what matters most comes first."""
    declared = entity.full_schema._declared_fields
    first = [
        n for n in dict.fromkeys((*entity.title_fields, *entity.list_columns)) if n in declared
    ]
    rest = [n for n in declared if n not in first]
    return [(n, declared[n]) for n in (*first, *rest)]


def form_fields(entity: Entity, custom_defs: list[FieldDef], creating: bool) -> list[FormField]:
    """The inputs of the entity's create (or edit) form, in schema order, custom fields last."""
    out: list[FormField] = []
    for name, schema_field in ordered_fields(entity):
        if name in HIDDEN or schema_field.dump_only:
            continue
        if schema_field.load_only and not creating:
            continue  # write-only values such as passwords have their own pages
        kind = _kind(name, schema_field)
        if kind is None:
            continue
        choices = [(c, choice_text(c, name)) for c in (_choices(schema_field) or [])]
        subfields = (
            _nested_fields(schema_field.inner)  # type: ignore[attr-defined]
            if kind == "nested"
            else []
        )
        out.append(
            FormField(
                name,
                label(name, entity),
                kind,
                bool(schema_field.required),
                choices,
                bool(schema_field.allow_none),
                maxlength=_max_length(schema_field),
                subfields=subfields,
            )
        )
    for definition in custom_defs:
        choices = [(c, c) for c in definition.choices]
        out.append(
            FormField(
                definition.name,
                definition.shown_label,
                CUSTOM_TYPES[definition.type],
                definition.required,
                choices,
                True,
                custom=True,
            )
        )
    return out


def _schema_field(entity: Entity, name: str) -> fields.Field:
    return entity.full_schema._declared_fields[name]


def _local_to_iso(raw: str, tz_name: str) -> str:
    """A ``datetime-local`` value in the user's time zone as ISO 8601 with its offset."""
    try:
        naive = dt.datetime.fromisoformat(raw)
    except ValueError:
        return raw  # the schema reports the error
    try:
        zone = zoneinfo.ZoneInfo(tz_name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        zone = zoneinfo.ZoneInfo("UTC")
    return naive.replace(tzinfo=zone).isoformat()


def read_form(
    entity: Entity, specs: list[FormField], form: Mapping[str, Any], tz_name: str = "UTC"
) -> dict[str, Any]:
    """The submitted values as service input: blanks become ``None`` (or are left out)."""
    data: dict[str, Any] = {}
    custom: dict[str, Any] = {}
    for spec in specs:
        raw = form.get(spec.input_name)
        if spec.custom:
            if spec.kind == "checkbox":
                custom[spec.name] = raw is not None
            else:
                custom[spec.name] = (raw or "").strip() or None
            continue
        if spec.kind == "checkbox":
            data[spec.name] = raw is not None
            continue
        if spec.kind == "nested":
            data[spec.name] = read_rows(spec, form)
            continue
        value = raw.strip() if isinstance(raw, str) and spec.kind != "password" else raw
        if spec.kind == "tags":
            data[spec.name] = [t.strip() for t in (value or "").split(",") if t.strip()]
            continue
        if value in (None, ""):
            schema_field = _schema_field(entity, spec.name)
            if spec.allow_none:
                data[spec.name] = None
            elif (
                isinstance(schema_field, fields.String)
                and not spec.required
                and spec.kind not in ("email", "password")
            ):
                data[spec.name] = ""
            continue  # required and blank: the schema says it is missing
        if spec.kind == "datetime-local":
            value = _local_to_iso(value, tz_name)
        data[spec.name] = value
    if custom:
        data["custom_fields"] = custom
    return data


#: Rows a nested list accepts from one form (the schemas allow ten; more is refused there).
MAX_ROWS = 20


def read_rows(spec: FormField, form: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The rows of a nested list in submission order; rows left blank are dropped."""
    rows = []
    for index in range(MAX_ROWS):
        names = {sub.name: nested_input(spec, index, sub) for sub in spec.subfields}
        if not any(n in form for n in names.values()):
            continue
        row: dict[str, Any] = {}
        for sub in spec.subfields:
            raw = form.get(names[sub.name])
            if sub.kind == "checkbox":
                row[sub.name] = raw is not None
                continue
            value = raw.strip() if isinstance(raw, str) else raw
            if value not in (None, ""):
                row[sub.name] = value
        meaningful = {k: v for k, v in row.items() if k != "label" and v not in (None, False)}
        if meaningful:
            rows.append(row)
    return rows


def field_errors(messages: Mapping[str, Any]) -> dict[str, list[str]]:
    """Flatten ``ValidationError.messages`` to input names (``custom.<name>`` for custom fields).

    Messages for fields without an input (``_schema``, nested lists) stay under their own key.
    """
    out: dict[str, list[str]] = {}
    for key, value in messages.items():
        if key == "custom_fields" and isinstance(value, Mapping):
            for name, inner in value.items():
                out[CUSTOM_PREFIX + name] = _strings(inner)
        else:
            out[key] = _strings(value)
    return out


def _strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, Mapping):
        return [m for inner in value.values() for m in _strings(inner)]
    if isinstance(value, list | tuple):
        return [m for inner in value for m in _strings(inner)]
    return [str(value)]


def form_values(
    entity: Entity, specs: list[FormField], record: Any, tz_name: str
) -> dict[str, str]:
    """What the inputs show for an existing record (strings, as a form would submit them)."""
    values: dict[str, str] = {}
    custom = (getattr(record, "custom_fields", None) or {}) if record is not None else {}
    for spec in specs:
        raw = custom.get(spec.name) if spec.custom else getattr(record, spec.name, None)
        values[spec.input_name] = input_value(spec, raw, tz_name)
    return values


def input_value(spec: FormField, raw: Any, tz_name: str) -> str:
    if raw is None:
        return ""
    if spec.kind == "checkbox":
        return "on" if raw else ""
    if spec.kind == "tags":
        return ", ".join(str(t) for t in raw or ())
    if spec.kind == "nested":
        return ""  # rows are shown from ``nested_rows``
    if spec.kind == "datetime-local" and isinstance(raw, dt.datetime):
        try:
            zone = zoneinfo.ZoneInfo(tz_name)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            zone = zoneinfo.ZoneInfo("UTC")
        return raw.astimezone(zone).replace(tzinfo=None).isoformat(timespec="minutes")
    if spec.kind == "time" and isinstance(raw, dt.time):
        return raw.isoformat(timespec="minutes")
    return str(raw)


def nested_rows(
    spec: FormField, record: Any, form: Mapping[str, Any] | None
) -> list[dict[str, str]]:
    """The rows a nested list shows: what was submitted, else the record's, plus one blank."""
    if form is not None and spec.input_name + "-0-" + spec.subfields[0].name in form:
        rows: list[dict[str, str]] = []
        for index in range(MAX_ROWS):
            names = {sub.name: nested_input(spec, index, sub) for sub in spec.subfields}
            if any(n in form for n in names.values()):
                rows.append({k: str(form.get(n) or "") for k, n in names.items()})
    else:
        stored = getattr(record, spec.name, None) if record is not None else None
        rows = [
            {sub.name: input_value(sub, item.get(sub.name), "UTC") for sub in spec.subfields}
            for item in stored or ()
            if isinstance(item, Mapping)
        ]
    blank = {sub.name: "" for sub in spec.subfields}
    if not rows or any(v for v in rows[-1].values()):
        rows.append(blank)
    return rows
