"""A plugin with one entity and no other code: the registry derives the rest."""

from marshmallow import fields, validate
from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from crmcore import Entity, Plugin, RecordSchema, hookimpl
from crmcore.db import Base, CustomFieldsMixin, OwnedMixin, RecordMixin, TagsMixin

PLUGIN = Plugin(name="widgets", title="Widgets", version="0.1.0")


class Widget(RecordMixin, OwnedMixin, CustomFieldsMixin, TagsMixin, Base):
    __tablename__ = "widgets_widget"

    name: Mapped[str] = mapped_column(String(100))
    # stored under another name: the API and pages must key it by attribute, not by column
    colour: Mapped[str | None] = mapped_column("colour_code", String(20))


class WidgetSchema(RecordSchema):
    name = fields.String(required=True, validate=validate.Length(1, 100))
    colour = fields.String(allow_none=True, validate=validate.OneOf(["red", "green", "blue"]))


@hookimpl
def crm_entities():
    return [
        Entity(
            name="widget",
            model=Widget,
            schema=WidgetSchema,
            plural="widgets",
            title="Widget",
            search_fields=("name", "colour"),
            list_columns=("name", "colour", "owner_id"),
        )
    ]
