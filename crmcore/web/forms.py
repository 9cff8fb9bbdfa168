"""Record forms generated from an entity's marshmallow schema and its custom fields.

``form_fields`` describes the inputs to render; ``read_form`` turns the submitted form back into
the dictionary the record service validates, so the schema stays the one source of rules.
"""

from __future__ import annotations

import datetime as dt
import zoneinfo
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from marshmallow import fields, validate

from ..customfields import FieldDef
from ..registry import SYSTEM_FIELDS, Entity
from .i18n import choice_text, enum_choices, label
from .lines import message_strings, read_rows

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

    ``kind`` is an HTML input type (``text email number date datetime-local time url hidden
    password checkbox``), ``select``, ``textarea``, ``tags``, ``reference`` (a picker of the
    records of ``target``, an entity plural) or ``nested`` (a list of small objects such as
    a contact's extra e-mails or a quote's lines, each row edited with the inputs of
    ``subfields``; with ``mapping`` a dictionary, each row a ``key`` and a ``value``).
    ``fill_from`` and ``form_default`` come from a nested field's metadata (see
    :mod:`crmcore.web.lines`). ``hint`` is the schema field's ``metadata["hint"]``: one line
    under the input (an English message id, translated on display). ``preview`` is its
    ``metadata["preview"]``: ``preview(text) -> safe HTML`` (a sanitising Markdown renderer),
    shown beside a textarea (:mod:`crmcore.web.previews`).
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
    mapping: bool = False
    fill_from: str | None = None
    form_default: str = ""
    hint: str = ""
    preview: Callable[[str], str] | None = None

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
    if isinstance(schema_field, fields.Dict) and _mapping_fields(schema_field):
        return "nested"
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
        if inner.dump_only or inner.load_only:
            continue  # computed, or for API clients only (a line's currency)
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
                fill_from=inner.metadata.get("fill_from"),
                form_default=str(inner.metadata.get("form_default", "")),
            )
        )
    # the label first: "work: ana@example.com"
    out.sort(key=lambda f: f.name != "label")
    return out


def _mapping_fields(schema_field: fields.Dict) -> list[FormField]:
    """The two inputs of a row of a dictionary with simple keys and values (a price per
    currency), none when a generic form cannot edit it."""
    out = []
    for name, inner in (("key", schema_field.key_field), ("value", schema_field.value_field)):
        # the label of a column: metadata "key_label"/"value_label" name a field ("currency")
        shown = str(schema_field.metadata.get(f"{name}_label", name))
        kind = _kind(name, inner) if inner is not None else None
        if kind is None or kind in ("nested", "tags", "checkbox", "textarea"):
            return []
        choices = [(c, c) for c in (_choices(inner) or [])]
        assert inner is not None
        out.append(
            FormField(name, label(shown), kind, True, choices, False, maxlength=_max_length(inner))
        )
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


def _preview(schema_field: fields.Field) -> Callable[[str], str] | None:
    found = schema_field.metadata.get("preview")
    return found if callable(found) else None


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
        mapping = isinstance(schema_field, fields.Dict)
        subfields = []
        if kind == "nested":
            subfields = (
                _mapping_fields(schema_field)  # type: ignore[arg-type]
                if mapping
                else _nested_fields(schema_field.inner)  # type: ignore[attr-defined]
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
                mapping=mapping,
                hint=str(schema_field.metadata.get("hint", "")),
                preview=_preview(schema_field),
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
                and _accepts_blank(schema_field)
            ):
                data[spec.name] = ""
            # else left out: a derived value (a slug from the title) or the default applies
            continue  # required and blank: the schema says it is missing
        if spec.kind == "datetime-local":
            value = _local_to_iso(value, tz_name)
        data[spec.name] = value
    if custom:
        data["custom_fields"] = custom
    return data


def _accepts_blank(schema_field: fields.Field) -> bool:
    """Whether ``""`` is a valid value of ``schema_field`` (a slug of at least one character
    is not: left blank, it is derived)."""
    from marshmallow import ValidationError as SchemaError

    try:
        schema_field.deserialize("")
    except SchemaError:
        return False
    return True


def field_errors(messages: Mapping[str, Any]) -> dict[str, list[str]]:
    """Flatten ``ValidationError.messages`` to input names (``custom.<name>`` for custom fields).

    Messages for fields without an input (``_schema``, nested lists) stay under their own key.
    """
    out: dict[str, list[str]] = {}
    for key, value in messages.items():
        if key == "custom_fields" and isinstance(value, Mapping):
            for name, inner in value.items():
                out[CUSTOM_PREFIX + name] = message_strings(inner)
        else:
            out[key] = message_strings(value)
    return out


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
        return ""  # rows are shown from ``lines.stored_rows``
    if spec.kind == "datetime-local" and isinstance(raw, dt.datetime):
        try:
            zone = zoneinfo.ZoneInfo(tz_name)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            zone = zoneinfo.ZoneInfo("UTC")
        return raw.astimezone(zone).replace(tzinfo=None).isoformat(timespec="minutes")
    if spec.kind == "time" and isinstance(raw, dt.time):
        return raw.isoformat(timespec="minutes")
    return str(raw)
