"""Fields only a record action may change (a lead's ``converted`` status): taken out of the
generic forms, and shown read-only beside the form with the action's button."""

from __future__ import annotations

from typing import Any

from flask import g, url_for

from ..actions import actions_of, permitted
from ..app import current_crm
from .forms import FormField
from .i18n import label


def lock_fields(entity: Any, specs: list[FormField], record: Any) -> None:
    """Take from a form what only an action may set: a value out of a field's choices (a lead's
    ``converted`` status), or the whole field when the record holds that value (or when the
    action owns the field outright). :func:`locked_fields` shows them beside the form."""
    for action in actions_of(current_crm(), entity):
        if action.field is None:
            continue
        current = getattr(record, action.field, None) if record is not None else None
        for spec in list(specs):
            if spec.name != action.field:
                continue
            if action.value is None or (record is not None and current == action.value):
                specs.remove(spec)
            else:
                spec.choices = [c for c in spec.choices if c[0] != str(action.value)]


def locked_fields(entity: Any, record: Any) -> list[dict[str, Any]]:
    """The fields only an action changes, with their value and the action's button."""
    records = current_crm().records(g.crm_access)
    out = []
    for action in actions_of(current_crm(), entity):
        if action.field is None:
            continue
        value = getattr(record, action.field, None) if record is not None else None
        runnable = (
            record is not None
            and permitted(records, entity, action, record)
            and not action.reason(record)
        )
        out.append(
            {
                "label": label(action.field),
                "value": value,
                "locked": action.value is None or value == action.value,
                "action": action,
                "only": action.value,
                "url": url_for("web_records.show", plural=entity.plural, record_id=record.id)
                + f"#action-{action.name}"
                if runnable
                else None,
            }
        )
    return out
