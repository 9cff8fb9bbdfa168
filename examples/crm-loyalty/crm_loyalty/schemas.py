"""What the API and the forms accept for a ledger entry."""

from __future__ import annotations

from marshmallow import ValidationError, fields, validate, validates

from crmcore import RecordSchema


class LoyaltyEntrySchema(RecordSchema):
    """An award (points > 0) or a redemption (points < 0) for a contact."""

    contact_id = fields.Integer(required=True)
    points = fields.Integer(required=True, validate=validate.Range(-1_000_000, 1_000_000))
    reason = fields.String(required=True, validate=validate.Length(1, 200))
    order_id = fields.Integer(allow_none=True)

    @validates("points")
    def _not_zero(self, value: int, **_kw: object) -> None:
        if value == 0:
            raise ValidationError("Give or redeem at least one point.")
