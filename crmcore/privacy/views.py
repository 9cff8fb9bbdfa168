"""Export and erasure over the API (``/api/v1/people/...``) and the contact page's export."""

from __future__ import annotations

import tempfile
from typing import Any

from flask import Blueprint as FlaskBlueprint
from flask import flash, g, redirect, request, send_file, url_for
from flask_smorest import Blueprint
from marshmallow import Schema, fields

from ..errors import PermissionDenied, ValidationError
from .plugin import MANAGE


class PersonQuery(Schema):
    email = fields.String(required=True, metadata={"description": "The person's e-mail address"})


class EraseQuery(PersonQuery):
    confirm = fields.String(
        required=True, metadata={"description": "The same address again, to confirm"}
    )


class EmptyTrash(Schema):
    entity = fields.String(metadata={"description": "A plural name; omitted: every entity"})


class Emptied(Schema):
    purged = fields.Dict(keys=fields.String(), values=fields.Integer())


class Erased(Schema):
    erased = fields.Boolean()
    sections = fields.Dict(keys=fields.String(), values=fields.Integer())


def _require_manage() -> None:
    if not g.crm_access.has(MANAGE):
        raise PermissionDenied("You may not export or erase personal data.")


def _body(required: tuple[str, ...]) -> dict[str, str]:
    from ..api.resources import json_body

    body = json_body()
    errors = {
        name: ["Missing data for required field."]
        for name in required
        if not isinstance(body.get(name), str) or not body.get(name, "").strip()
    }
    if errors:
        raise ValidationError(errors)
    return {name: str(body[name]) for name in required}


def _zip_response(crm: Any, email: str, download_name: str) -> Any:
    from .service import export_person

    spool = tempfile.SpooledTemporaryFile(max_size=16 * 1024 * 1024)
    export_person(crm, crm.session, email, spool, user=g.crm_user)
    spool.seek(0)
    return send_file(
        spool, mimetype="application/zip", as_attachment=True, download_name=download_name
    )


def make_api_blueprint() -> Blueprint:
    from ..api.resources import ERROR_RESPONSES
    from ..app import current_crm

    zip_responses: dict[Any, Any] = dict(ERROR_RESPONSES)
    zip_responses["200"] = {"description": "The archive", "content": {"application/zip": {}}}
    blp = Blueprint(
        "api_privacy", __name__, url_prefix="/api/v1", description="A person's data (GDPR)"
    )

    @blp.route("/people/export", methods=["POST"])
    @blp.doc(
        summary="A ZIP of everything held about one person (needs privacy.manage)",
        responses=zip_responses,
        requestBody={
            "required": True,
            "content": {"application/json": {"schema": PersonQuery}},
        },
    )
    def export() -> Any:
        _require_manage()
        from .service import clean_email

        email = clean_email(_body(("email",))["email"])
        return _zip_response(current_crm(), email, "person.zip")

    @blp.route("/people/erase", methods=["POST"])
    @blp.doc(
        summary="Erase one person's data for good (needs privacy.manage)",
        responses=ERROR_RESPONSES,
        requestBody={
            "required": True,
            "content": {"application/json": {"schema": EraseQuery}},
        },
    )
    @blp.response(200, Erased)
    def erase() -> Any:
        _require_manage()
        from .service import clean_email, erase_person

        body = _body(("email", "confirm"))
        email = clean_email(body["email"])
        if body["confirm"].strip().lower() != email:
            raise ValidationError({"confirm": ["The address does not match."]})
        crm = current_crm()
        found = erase_person(crm, crm.session, email, user=g.crm_user)
        return {"erased": True, "sections": found.counts()}

    @blp.route("/trash/empty", methods=["POST"])
    @blp.doc(
        summary="Delete for good what is in the trash (needs privacy.manage)",
        description="Every entity's trash, or only that of `entity` (a plural name).",
        responses=ERROR_RESPONSES,
        requestBody={"content": {"application/json": {"schema": EmptyTrash}}},
    )
    @blp.response(200, Emptied)
    def empty_trash() -> Any:
        _require_manage()
        from ..api.resources import json_body

        crm = current_crm()
        body = json_body() if request.get_data() else {}
        plural = body.get("entity")
        entities = None
        if plural is not None:
            if not isinstance(plural, str):
                raise ValidationError({"entity": ["Not a valid string."]})
            entities = [_trash_entity(crm, plural)]
        from .trash import purge_trash

        counts = purge_trash(crm, crm.session, entities=entities, user=g.crm_user, action="empty")
        return {"purged": counts}

    return blp


def _trash_entity(crm: Any, plural: str) -> Any:
    """The entity whose trash the user may empty: privacy.manage and delete rights on it."""
    from .trash import purgeable

    records = crm.records(g.crm_access)
    entity = records.entity(plural)  # 404 for unknown or disabled entities
    if entity not in purgeable(crm, crm.session):
        raise ValidationError({"entity": ["This trash cannot be emptied."]})
    if not g.crm_access.can(entity, "delete"):
        raise PermissionDenied("You may not empty this trash.")
    return entity


def make_web_blueprint() -> FlaskBlueprint:
    from ..app import current_crm

    bp = FlaskBlueprint("web_privacy", __name__, url_prefix="/privacy", template_folder="templates")

    @bp.route("/contacts/<int:record_id>/export", methods=["POST"])
    def export_contact(record_id: int) -> Any:
        _require_manage()
        crm = current_crm()
        contact = crm.records(g.crm_access).get("contacts", record_id)
        if not contact.email:
            raise ValidationError({"email": ["This contact has no e-mail address."]})
        return _zip_response(crm, contact.email.lower(), f"contact-{record_id}.zip")

    @bp.route("/trash/<plural>/empty", methods=["POST"])
    def empty_trash(plural: str) -> Any:
        from flask_babel import gettext as _

        from .trash import purge_trash

        _require_manage()
        crm = current_crm()
        entity = _trash_entity(crm, plural)
        counts = purge_trash(crm, crm.session, entities=[entity], user=g.crm_user, action="empty")
        flash(
            _("%(count)d records deleted for good.", count=counts.get(entity.plural, 0)), "success"
        )
        return redirect(url_for("web_records.trash", plural=entity.plural), 303)

    @bp.app_template_global()
    def may_empty_trash(entity: Any) -> bool:
        """Whether the trash page offers "Empty trash" to the reader."""
        access = g.get("crm_access")
        return bool(access and access.has(MANAGE) and access.can(entity, "delete"))

    return bp
