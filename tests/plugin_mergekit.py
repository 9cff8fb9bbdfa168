"""A test plugin with references to contacts and companies, for merges: an entity whose
``contact_id``/``company_id`` the core re-points, and a table that is not an entity, which
its ``crm_merge_records`` re-points itself."""

from marshmallow import fields, validate
from sqlalchemy import ForeignKey, Integer, String, update
from sqlalchemy.orm import Mapped, mapped_column

from crmcore import Entity, Plugin, RecordSchema, hookimpl
from crmcore.db import Base, OwnedMixin, RecordMixin

PLUGIN = Plugin(name="mergekit", title="Merge kit", version="0.1.0")


class Pledge(RecordMixin, OwnedMixin, Base):
    __tablename__ = "mergekit_pledge"

    title: Mapped[str] = mapped_column(String(100))
    contact_id: Mapped[int | None] = mapped_column(Integer)
    company_id: Mapped[int | None] = mapped_column(Integer)


class Link(Base):
    """Not an entity: the registry cannot see it."""

    __tablename__ = "mergekit_link"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    contact_id: Mapped[int] = mapped_column(ForeignKey("core_contact.id"))
    label: Mapped[str] = mapped_column(String(50))


class PledgeSchema(RecordSchema):
    title = fields.String(required=True, validate=validate.Length(1, 100))
    contact_id = fields.Integer(allow_none=True)
    company_id = fields.Integer(allow_none=True)


@hookimpl
def crm_entities():
    return [
        Entity(name="pledge", model=Pledge, schema=PledgeSchema, plural="pledges", title="Pledge")
    ]


@hookimpl
def crm_merge_records(entity, winner, loser, session):
    if entity.name == "contact":
        session.execute(
            update(Link).where(Link.contact_id == loser.id).values(contact_id=winner.id)
        )
