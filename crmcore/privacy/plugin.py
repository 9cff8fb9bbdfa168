"""Built-in plugin: a person's rights over their data (export, erasure) and the trash purge."""

from __future__ import annotations

from typing import Any

from flask import render_template, url_for
from marshmallow import Schema, fields

from ..actions import ActionResult, RecordAction
from ..contributions import MenuItem, Panel, PeriodicJob, Permission
from ..errors import ValidationError
from ..plugins import BUILTINS, hookimpl
from . import core_data
from .person import Person, PersonData

PLUGIN = BUILTINS[__name__]

#: the named permission of export, erasure and emptying the trash (administrators hold it)
MANAGE = "privacy.manage"


class EraseInput(Schema):
    confirm = fields.String(
        required=True,
        # secret: the action's audit row must not keep the address just erased
        metadata={"label": "Type the contact's e-mail address to confirm", "secret": True},
    )


def _has_email(record: Any) -> str | None:
    return None if record.email else "This contact has no e-mail address."


def erase_contact(records: Any, record: Any, data: dict[str, Any]) -> ActionResult:
    """Erase the person with this contact's e-mail address (every contact with it)."""
    from .service import erase_person

    email = (record.email or "").strip().lower()
    if data["confirm"].strip().lower() != email:
        raise ValidationError({"confirm": ["The address does not match the contact's."]})
    found = erase_person(records.crm, records.session, email, user=records.user)
    return ActionResult(
        data={"erased": True, "sections": found.counts()},
        target=("contacts", None),
        message="The person's data was erased.",
    )


@hookimpl
def crm_permissions() -> list[Permission]:
    return [
        Permission(MANAGE, "Export and erase a person's data, empty the trash"),
        Permission("audit.read", "Read the whole audit trail: sign-ins, settings, erasures"),
    ]


@hookimpl
def crm_menu_items() -> list[MenuItem]:
    return [MenuItem("Audit trail", "/audit", order=900)]


@hookimpl
def crm_record_actions() -> list[RecordAction]:
    return [
        RecordAction(
            name="erase",
            label="Erase personal data",
            entity="contacts",
            handler=erase_contact,
            permission=MANAGE,
            applies=_has_email,
            schema=EraseInput,
            destructive=True,
            description=(
                "Delete for good every record of the person with this contact's e-mail address "
                "and pseudonymise their traces (GDPR article 17)."
            ),
        )
    ]


def _privacy_panel(record: Any, user: Any, records: Any) -> str | None:
    if not record.email:
        return None
    return render_template(
        "privacy/panel.html",
        export_url=url_for("web_privacy.export_contact", record_id=record.id),
    )


@hookimpl
def crm_record_panels() -> list[Panel]:
    return [Panel("privacy", "Personal data", "contact", _privacy_panel, MANAGE, order=900)]


@hookimpl
def crm_person_data(person: Person) -> list[PersonData]:
    return core_data.sections(person)


@hookimpl
def crm_blueprints() -> list[Any]:
    from .views import make_api_blueprint, make_audit_blueprint, make_web_blueprint

    return [make_api_blueprint(), make_web_blueprint(), make_audit_blueprint()]


@hookimpl
def crm_periodic_jobs() -> list[PeriodicJob]:
    from .trash import run_retention

    # daily, at night: what stayed in the trash longer than ``trash_retention_days`` goes
    return [PeriodicJob("privacy-trash-retention", run_retention, {"minute": "17", "hour": "3"})]
