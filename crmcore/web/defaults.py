"""What a new record's form starts with, so that submitting it unchanged is valid.

In order, later ones winning: the schema's ``load_default``, the model column's default, the
instance settings (``currency`` fields take the instance currency, country fields its
country), the query string (any
``?<field>=<value>`` of the form: "Add" links on a record's page pass the parent's id) and the
entity's ``prefill`` (values a parent implies: a deal's contact and currency for its quote, a
quote's lines for its order).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any

from marshmallow.utils import missing
from sqlalchemy.orm import Session

from .. import parsing, settings
from ..errors import CRMError
from ..fields import Country
from ..records import RecordService
from ..registry import Entity
from .forms import FormField, input_value

log = logging.getLogger(__name__)

#: Longest value one query-string parameter may prefill.
MAX_PREFILL = 2000


#: Defaults taken from the instance settings, by field name.
SETTING_DEFAULTS: dict[str, Callable[[], Any]] = {"currency": settings.default_currency}


def field_default(entity: Entity, name: str, session: Session) -> Any:
    """The value a new record's field starts with, ``None`` when nothing says."""
    schema_field = entity.full_schema._declared_fields.get(name)
    if schema_field is not None and schema_field.load_default is not missing:
        default = schema_field.load_default
        value = default() if callable(default) else default
        if value is not None:
            return value
    column = entity.model.__table__.c.get(name)
    column_default = getattr(column, "default", None)
    if column_default is not None and getattr(column_default, "is_scalar", False):
        return column_default.arg
    if name in SETTING_DEFAULTS:
        return SETTING_DEFAULTS[name]()
    if isinstance(schema_field, Country):
        return settings.default_country() or None
    return None


def initial_values(
    entity: Entity,
    specs: list[FormField],
    records: RecordService,
    args: Mapping[str, str],
    tz_name: str,
) -> tuple[dict[str, str], dict[str, list[dict[str, Any]]]]:
    """The inputs of a new record's form and the rows of its nested lists.

    ``args`` is the query string: each ``<field>=<value>`` naming an input of the form
    prefills it; then the entity's ``prefill(args, records)`` adds what the parent implies.
    """
    values: dict[str, str] = {}
    rows: dict[str, list[dict[str, Any]]] = {}
    for spec in specs:
        if spec.custom or spec.kind in ("nested", "mapping"):
            continue
        values[spec.input_name] = input_value(
            spec, field_default(entity, spec.name, records.session), tz_name
        )
    by_name = {s.input_name: s for s in specs}
    for key, given in args.items():
        spec = by_name.get(key)
        if spec is None or spec.kind in ("nested", "mapping", "password"):
            continue
        if key.endswith("_id") and parsing.record_id(given) is None:
            continue  # ids only: a picker looks the record up
        values[key] = str(given)[:MAX_PREFILL]
    if entity.prefill is not None:
        try:
            implied = entity.prefill(dict(args), records)
        except CRMError:  # a parent the user may not read, or gone: prefill nothing
            implied = {}
        for name, raw in implied.items():
            spec = by_name.get(name)
            if spec is None:
                continue
            if spec.kind in ("nested", "mapping"):
                rows[name] = list(raw or ())
            else:
                values[name] = input_value(spec, raw, tz_name)
    return values, rows
