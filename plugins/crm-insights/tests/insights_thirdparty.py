"""A third-party test plugin for the report builder: a ``donation`` entity (an amount, a
status, a date, a reference to a contact) that sales reps read when they own it. It ships no
migrations: the core creates its table as declared."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from crmcore import Entity, Plugin, RecordSchema, RoleGrant, hookimpl
from crmcore.db import Base, OwnedMixin, RecordMixin
from marshmallow import fields, validate
from sqlalchemy import Date, Integer, Numeric, String
from sqlalchemy.orm import Mapped, mapped_column

PLUGIN = Plugin(name="donations", title="Donations", version="0.1.0", requires=["contacts"])


class Donation(RecordMixin, OwnedMixin, Base):
    __tablename__ = "donations_donation"

    title: Mapped[str] = mapped_column(String(100))
    amount: Mapped[Decimal] = mapped_column(Numeric(12, 2), default=Decimal("0"))
    status: Mapped[str] = mapped_column(String(16), default="promised")
    due_on: Mapped[dt.date | None] = mapped_column(Date)
    contact_id: Mapped[int | None] = mapped_column(Integer)


class DonationSchema(RecordSchema):
    title = fields.String(required=True, validate=validate.Length(1, 100))
    amount = fields.Decimal(as_string=True, places=2)
    status = fields.String(validate=validate.OneOf(["promised", "paid"]))
    due_on = fields.Date(allow_none=True)
    contact_id = fields.Integer(allow_none=True)


@hookimpl
def crm_entities() -> list[Entity]:
    """The donation."""
    return [
        Entity(
            name="donation",
            model=Donation,
            schema=DonationSchema,
            plural="donations",
            title="Donation",
        )
    ]


@hookimpl
def crm_role_grants() -> list[RoleGrant]:
    """Sales reps read and write their own donations."""
    own = {"read": "own", "create": "own", "update": "own"}
    return [RoleGrant("sales_rep", entity="donations", actions=own)]
