"""Built-in plugin: contacts and companies."""

from __future__ import annotations

from typing import Any

from ..contributions import DemoContext, MenuItem, PeriodicJob
from ..db import utcnow
from ..plugins import BUILTINS, hookimpl
from ..registry import Entity
from . import demo
from .merge_action import merge_action
from .models import Company, Contact
from .schemas import CompanySchema, ContactSchema

PLUGIN = BUILTINS[__name__]


def prepare_contact(values: dict[str, Any], record: Contact | None, service: Any) -> None:
    # company_id is a reference: the record service checks it (crmcore.references)
    was_out = record.email_opt_out if record is not None else False
    if "email_opt_out" in values and values["email_opt_out"] != was_out:
        values["email_opt_out_at"] = utcnow() if values["email_opt_out"] else None
        if values["email_opt_out"]:
            values.setdefault("email_opt_out_source", "manual")


@hookimpl
def crm_entities() -> list[Entity]:
    return [
        Entity(
            name="company",
            model=Company,
            schema=CompanySchema,
            plural="companies",
            title="Company",
            title_plural="Companies",
            search_fields=("name", "domain", "city", "phone"),
            list_columns=("name", "domain", "city", "country", "owner_id"),
            filter_fields=("industry",),
            sort_fields=("industry",),
            actions=[merge_action("company", "companies")],
        ),
        Entity(
            name="contact",
            model=Contact,
            schema=ContactSchema,
            plural="contacts",
            title="Contact",
            title_fields=("first_name", "last_name"),
            search_fields=("first_name", "last_name", "email", "phone", "mobile", "city"),
            list_columns=("first_name", "last_name", "email", "phone", "company_id", "owner_id"),
            filter_fields=("city", "country", "tags", "email_opt_out", "source", "title"),
            sort_fields=("city", "country"),
            prepare=prepare_contact,
            actions=[merge_action("contact", "contacts")],
        ),
    ]


@hookimpl
def crm_menu_items() -> list[MenuItem]:
    return [
        MenuItem("Contacts", "/contacts", permission="contacts.read", order=10),
        MenuItem("Companies", "/companies", permission="companies.read", order=20),
    ]


@hookimpl
def crm_blueprints() -> list[Any]:
    from ..duplicates import api, pages

    return [api.make_blueprint(), pages.make_blueprint()]


@hookimpl
def crm_periodic_jobs() -> list[PeriodicJob]:
    from ..duplicates.scan import scan_all

    # nightly: the Duplicates pages list what this found ("Find duplicates now" runs it too)
    return [PeriodicJob("duplicate_scan", scan_all, {"hour": "2", "minute": "30"})]


@hookimpl
def crm_record_updated(event: Any) -> None:
    """A merged contact or company restored from the trash gets back the references its merge
    moved to the other record (``crmcore.merging.unmerge``)."""
    if event.action != "restore" or event.entity.name not in ("contact", "company"):
        return
    from ..merging import unmerge

    records = event.records.crm.records(session=event.session)  # the system: every record
    if unmerge(records, event.entity, event.record.id):
        records.commit()
    else:
        records.rollback()


@hookimpl
def crm_demo_data(ctx: DemoContext) -> None:
    demo.create(ctx)
