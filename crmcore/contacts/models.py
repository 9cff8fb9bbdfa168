"""Contacts and companies: the customers everything else hangs from."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import Boolean, ForeignKey, Index, String, Text, Time, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..db import (
    AwareDateTime,
    Base,
    CustomFieldsMixin,
    JSONType,
    OwnedMixin,
    RecordMixin,
    TagsMixin,
)


class AddressMixin:
    street: Mapped[str | None] = mapped_column(String(200))
    city: Mapped[str | None] = mapped_column(String(100), index=True)
    region: Mapped[str | None] = mapped_column(String(100))
    postal_code: Mapped[str | None] = mapped_column(String(20))
    country: Mapped[str | None] = mapped_column(String(2), index=True)


class Company(RecordMixin, OwnedMixin, CustomFieldsMixin, TagsMixin, AddressMixin, Base):
    __tablename__ = "core_company"
    #: duplicate detection reads companies by a range of lower-cased names
    __table_args__ = (Index("ix_core_company_name_lower", text("lower(name)")),)

    name: Mapped[str] = mapped_column(String(200), index=True)
    domain: Mapped[str | None] = mapped_column(String(253), index=True)
    website: Mapped[str | None] = mapped_column(String(300))
    phone: Mapped[str | None] = mapped_column(String(40))
    industry: Mapped[str | None] = mapped_column(String(100))
    description: Mapped[str | None] = mapped_column(Text)


class Contact(RecordMixin, OwnedMixin, CustomFieldsMixin, TagsMixin, AddressMixin, Base):
    __tablename__ = "core_contact"
    __table_args__ = (
        # the list paths at a million contacts (docs/performance.md): sort by last name,
        # case-insensitive filters (``lower(col) = ?``) walked in sort order, a sales rep's
        # own records newest first, recently changed first
        Index("ix_core_contact_last_name_id", "last_name", "id"),
        Index("ix_core_contact_city_sort", text("lower(city)"), "last_name", "id"),
        Index("ix_core_contact_country_id", text("lower(country)"), "id"),
        # every look-up by address (addresses are stored lower-cased; migration 0017 dropped
        # the index of ``email`` as stored, which held the same values)
        Index("ix_core_contact_email_lower", text("lower(email)")),
        Index("ix_core_contact_owner_id_id", "owner_id", "id"),
        Index("ix_core_contact_updated_at_id", "updated_at", "id"),
        # duplicate detection looks contacts up by phone and mobile (crmcore.duplicates)
        Index("ix_core_contact_phone", "phone"),
        Index("ix_core_contact_mobile", "mobile"),
        # and by company and last name (the company's own look-ups use it too)
        Index("ix_core_contact_company_last_name", "company_id", text("lower(last_name)")),
    )

    first_name: Mapped[str] = mapped_column(String(100), default="")
    last_name: Mapped[str] = mapped_column(String(100), default="")
    title: Mapped[str | None] = mapped_column(String(100))
    #: stored lower-cased (``crmcore.fields.Email``); sorted by ``lower(email)``, whose index
    #: serves the look-ups by address too
    email: Mapped[str | None] = mapped_column(String(254), info={"sort": "lower"})
    phone: Mapped[str | None] = mapped_column(String(40))
    mobile: Mapped[str | None] = mapped_column(String(40))
    #: further addresses, phones and e-mails: ``[{"label": "work", "value": "..."}]``
    emails: Mapped[list[Any]] = mapped_column(JSONType, default=list)
    phones: Mapped[list[Any]] = mapped_column(JSONType, default=list)
    addresses: Mapped[list[Any]] = mapped_column(JSONType, default=list)
    company_id: Mapped[int | None] = mapped_column(
        ForeignKey("core_company.id", ondelete="SET NULL")
    )
    best_time_from: Mapped[dt.time | None] = mapped_column(Time)
    best_time_to: Mapped[dt.time | None] = mapped_column(Time)
    timezone: Mapped[str | None] = mapped_column(String(64))
    #: the language to write to the contact in (mail, documents); ``None``: the instance's
    locale: Mapped[str | None] = mapped_column(String(10))
    email_opt_out: Mapped[bool] = mapped_column(Boolean, default=False)
    email_opt_out_at: Mapped[dt.datetime | None] = mapped_column(AwareDateTime)
    email_opt_out_source: Mapped[str | None] = mapped_column(String(100))
    consent_at: Mapped[dt.datetime | None] = mapped_column(AwareDateTime)
    consent_source: Mapped[str | None] = mapped_column(String(100))
    source: Mapped[str | None] = mapped_column(String(100))
    description: Mapped[str | None] = mapped_column(Text)

    company: Mapped[Company | None] = relationship(lazy="raise")


#: the mixins' single-column indexes that ix_core_contact_owner_id_id and
#: ix_core_contact_updated_at_id make redundant (an index serves every look-up by its first
#: column; on SQLite an index already ends with the rowid): dropped by migration 0014
REDUNDANT_INDEXES = ("ix_core_contact_owner_id", "ix_core_contact_updated_at")
for _index in [i for i in Contact.__table__.indexes if i.name in REDUNDANT_INDEXES]:
    Contact.__table__.indexes.discard(_index)
