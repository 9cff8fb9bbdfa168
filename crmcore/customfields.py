"""Custom fields: definitions per entity, and validation of the values stored on records."""

from __future__ import annotations

import datetime as dt
import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from marshmallow import ValidationError, fields, validate, validates_schema
from sqlalchemy import Boolean, Integer, String, UniqueConstraint, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from .db import Base, JSONType, RecordMixin
from .registry import RecordSchema

FIELD_TYPES = ("text", "number", "date", "choice", "boolean")
NAME_RE = re.compile(r"^[a-z][a-z0-9_]{0,49}$")
MAX_TEXT = 2000


class CustomField(RecordMixin, Base):
    __tablename__ = "core_custom_field"
    __table_args__ = (UniqueConstraint("entity", "name"),)

    entity: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(50))
    label: Mapped[str] = mapped_column(String(100))
    type: Mapped[str] = mapped_column(String(16))
    choices: Mapped[list[Any]] = mapped_column(JSONType, default=list)
    required: Mapped[bool] = mapped_column(Boolean, default=False)
    position: Mapped[int] = mapped_column(Integer, default=0)


class CustomFieldSchema(RecordSchema):
    entity = fields.String(required=True, metadata={"description": "Entity plural, e.g. contacts"})
    name = fields.String(
        required=True,
        validate=validate.Regexp(
            NAME_RE, error="Use lower-case letters, digits and _, starting with a letter."
        ),
    )
    label = fields.String(required=True, validate=validate.Length(1, 100))
    type = fields.String(required=True, validate=validate.OneOf(FIELD_TYPES))
    choices = fields.List(fields.String(validate=validate.Length(1, 100)), load_default=list)
    required = fields.Boolean(load_default=False)
    position = fields.Integer(load_default=0)

    @validates_schema
    def check_choices(self, data: dict[str, Any], **_kw: Any) -> None:
        if data.get("type") == "choice" and not data.get("choices") and not self.partial:
            raise ValidationError("A choice field needs at least one choice.", "choices")


@dataclass(frozen=True)
class FieldDef:
    """One custom field of an entity, from the database or declared by a plugin."""

    name: str
    label: str
    type: str
    choices: tuple[str, ...] = ()
    required: bool = False
    plugin: str | None = None

    @property
    def shown_label(self) -> str:
        """The label as pages show it: a plugin's is translated by the plugin's catalogue, an
        administrator's is shown as typed."""
        if self.plugin is None:
            return self.label
        from flask_babel import gettext

        return gettext(self.label)

    def openapi(self) -> dict[str, Any]:
        schema: dict[str, Any] = {
            "text": {"type": "string", "maxLength": MAX_TEXT},
            "number": {"type": "number"},
            "date": {"type": "string", "format": "date"},
            "choice": {"type": "string", "enum": list(self.choices)},
            "boolean": {"type": "boolean"},
        }[self.type]
        return {**schema, "title": self.label, "nullable": True}


def definitions(session: Session, plural: str, extra: Iterable[FieldDef] = ()) -> list[FieldDef]:
    rows = session.scalars(
        select(CustomField)
        .where(CustomField.entity == plural, CustomField.deleted_at.is_(None))
        .order_by(CustomField.position, CustomField.id)
    )
    defs = [FieldDef(r.name, r.label, r.type, tuple(r.choices or ()), r.required) for r in rows]
    return [*extra, *defs]


def coerce(definition: FieldDef, value: Any) -> Any:
    """Validate and normalise one value; raises ``ValueError`` with a user-facing message."""
    if value is None or value == "":
        return None
    kind = definition.type
    if kind == "text":
        if not isinstance(value, str | int | float) or isinstance(value, bool):
            raise ValueError("Not a valid text.")
        text = str(value)
        if len(text) > MAX_TEXT:
            raise ValueError(f"Longer than maximum length {MAX_TEXT}.")
        return text
    if kind == "number":
        if isinstance(value, bool):
            raise ValueError("Not a valid number.")
        try:
            number = float(value)
        except (TypeError, ValueError):
            raise ValueError("Not a valid number.") from None
        if not math.isfinite(number):
            raise ValueError("Not a valid number.")
        return int(number) if number.is_integer() and abs(number) < 2**53 else number
    if kind == "date":
        try:
            return dt.date.fromisoformat(str(value)).isoformat()
        except ValueError:
            raise ValueError("Not a valid date (YYYY-MM-DD).") from None
    if kind == "choice":
        if str(value) not in definition.choices:
            raise ValueError(f"Must be one of: {', '.join(definition.choices)}.")
        return str(value)
    if kind == "boolean":
        if isinstance(value, bool):
            return value
        lowered = str(value).strip().lower()
        if lowered in ("true", "1", "yes", "y", "si", "sí"):
            return True
        if lowered in ("false", "0", "no", "n"):
            return False
        raise ValueError("Not a valid boolean.")
    raise ValueError(f"Unknown field type {kind!r}.")


def clean_values(
    defs: list[FieldDef], values: Mapping[str, Any], current: Mapping[str, Any] | None
) -> tuple[dict[str, Any], dict[str, list[str]]]:
    """Merge ``values`` into ``current``; returns the new values and errors by field name."""
    by_name = {d.name: d for d in defs}
    result = dict(current or {})
    errors: dict[str, list[str]] = {}
    for name, value in values.items():
        definition = by_name.get(name)
        if definition is None:
            errors[name] = ["Unknown field."]
            continue
        try:
            result[name] = coerce(definition, value)
        except ValueError as exc:
            errors[name] = [str(exc)]
    for definition in defs:
        missing = result.get(definition.name) is None and definition.name not in errors
        if definition.required and missing:
            errors[definition.name] = ["Missing data for required field."]
    return result, errors
