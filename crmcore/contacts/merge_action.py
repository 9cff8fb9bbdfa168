"""The ``merge`` record action of contacts and companies (``crmcore.merging`` does the work)."""

from __future__ import annotations

from typing import Any

from flask_babel import lazy_gettext as _l
from marshmallow import Schema, fields, validate

from ..actions import ActionResult, RecordAction
from ..errors import PermissionDenied, ValidationError
from ..merging import LOSER, WINNER, merge_records

DESCRIPTION = "Merge another record into this one: its references move here, it goes to the trash."

#: message ids shown from data (the action's label, dialog and errors), for extraction
WORDS = (
    _l("Merge a duplicate"),
    _l("Duplicate to merge into this record"),
    _l("Merge another record into this one: its references move here, it goes to the trash."),
    _l("The records were merged."),
    _l("Only records of one kind can be merged."),
    _l("A record cannot be merged with itself."),
    _l("You may not update the other record."),
    _l("You may not move the other record to the trash."),
    _l("Only contacts and companies can be merged."),
    _l("Both records must be of the same kind."),
    _l("No such field to choose."),
    _l('Choose "winner" or "loser".'),
    _l("Merged"),
)


def _input_schema(plural: str) -> type[Schema]:
    class MergeInput(Schema):
        other_id = fields.Integer(
            required=True,
            metadata={"reference": plural, "label": "Duplicate to merge into this record"},
        )
        # Raw: the API's check only, not an input of the page's dialog
        other_entity = fields.Raw(
            load_default=None,
            allow_none=True,
            metadata={"description": "The other record's entity, when the caller names it."},
        )
        choices = fields.Dict(
            keys=fields.String(),
            values=fields.String(validate=validate.OneOf([WINNER, LOSER])),
            load_default=dict,
            metadata={"description": 'Field -> "winner" or "loser": whose value is kept.'},
        )

    MergeInput.__name__ = f"Merge{plural.title()}Input"
    return MergeInput


def merge_action(name: str, plural: str) -> RecordAction:
    """The ``merge`` action of the entity ``name``: this record wins, ``other_id`` goes to the
    trash after its references are re-pointed here."""

    def handler(records: Any, record: Any, data: dict[str, Any]) -> ActionResult:
        entity = records.entity(name)
        other_entity = data.get("other_entity")
        if other_entity is not None and other_entity not in (entity.name, entity.plural):
            raise ValidationError({"other_entity": ["Only records of one kind can be merged."]})
        if data["other_id"] == record.id:
            raise ValidationError({"other_id": ["A record cannot be merged with itself."]})
        other = records.get(entity, data["other_id"])  # 404 when not readable
        if not records.access.allows_record(entity, "update", other, records.session):
            raise PermissionDenied("You may not update the other record.")
        if not records.access.allows_record(entity, "delete", other, records.session):
            raise PermissionDenied("You may not move the other record to the trash.")
        result = merge_records(records, entity, record, other, data.get("choices") or {})
        return ActionResult(
            data={
                "id": record.id,
                "merged": other.id,
                "repointed": {k: len(v) for k, v in result.repointed.items()},
            },
            message="The records were merged.",
        )

    return RecordAction(
        "merge",
        "Merge a duplicate",
        handler,
        permission="update",
        schema=_input_schema(plural),
        description=DESCRIPTION,
    )
