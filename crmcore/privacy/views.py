"""Export and erasure over the API (``/api/v1/people/...``) and the contact page's export."""

from __future__ import annotations

import tempfile
from dataclasses import replace
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


class AuditTrailRow(Schema):
    id = fields.Integer()
    at = fields.DateTime()
    user_id = fields.Integer(allow_none=True)
    user_name = fields.String(allow_none=True)
    entity = fields.String()
    record_id = fields.Integer()
    action = fields.String()
    changes = fields.Dict()


class AuditTrailPage(Schema):
    data = fields.List(fields.Nested(AuditTrailRow))
    next_cursor = fields.String(allow_none=True)


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

    @blp.route("/audit", methods=["GET"])
    @blp.doc(
        summary="The audit trail across every entity, newest first, in your scope",
        description=(
            "Filters: `user` (id), `entity` (plural or singular name, or `session` for "
            "sign-ins, `person` for exports and erasures, `trash`, `setting`), `action`, "
            "`record` (id), `since` and `until` (dates or ISO 8601 times); paging with `limit` "
            "(at most 200) and `cursor` (the `next_cursor` of the page before); `format=csv` "
            "for a CSV file of at most 10,000 rows. Holders of audit.read see every row; "
            "others the rows of records they may read and their own sign-ins."
        ),
        responses=ERROR_RESPONSES,
        parameters=[
            {"in": "query", "name": name, "schema": {"type": kind}}
            for name, kind in (
                ("user", "integer"),
                ("entity", "string"),
                ("action", "string"),
                ("record", "integer"),
                ("since", "string"),
                ("until", "string"),
                ("limit", "integer"),
                ("cursor", "string"),
                ("format", "string"),
            )
        ],
    )
    @blp.response(200, AuditTrailPage)
    def audit() -> Any:
        from .audit_view import audit_page, parse_filters

        records = current_crm().records(g.crm_access)
        if request.args.get("format") == "csv":
            return audit_csv(records)
        data, cursor = audit_page(records, parse_filters(request.args))
        return {"data": data, "next_cursor": cursor}

    return blp


def audit_csv(records: Any) -> Any:
    """The filtered trail as a CSV download (at most ``CSV_LIMIT`` rows)."""
    import csv
    import io

    from flask import Response

    from ..exporting import csv_cell
    from .audit_view import CSV_LIMIT, audit_page, parse_filters

    filters = parse_filters(request.args, max_limit=CSV_LIMIT)
    if not request.args.get("limit"):
        filters = replace(filters, limit=CSV_LIMIT)
    data, _cursor = audit_page(records, filters)
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    names = ["id", "at", "user_id", "user_name", "entity", "record_id", "action", "changes"]
    writer.writerow(names)
    for row in data:
        writer.writerow([csv_cell(row[name]) for name in names])
    return Response(
        buffer.getvalue(),
        mimetype="text/csv",
        headers={"Content-Disposition": 'attachment; filename="audit.csv"'},
    )


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


#: actions of the trail with their labels (English message ids, translated on the page)
ACTION_LABELS = {
    "create": "Created",
    "update": "Changed",
    "delete": "Moved to the trash",
    "restore": "Restored",
    "signin": "Signed in",
    "signin_failed": "Failed sign-in",
    "export": "Exported",
    "erase": "Erased",
    "purge": "Trash purged",
    "empty": "Trash emptied",
    "merge": "Merged",
}
#: entries of the trail that are not records (English message ids)
OTHER_KINDS = {
    "session": "Sign-ins",
    "person": "Personal data",
    "trash": "Trash",
    "setting": "Settings",
}
USER_CHOICES = 200


def _change_text(value: Any) -> str:
    if isinstance(value, list) and len(value) == 2:
        before, after = value
        shown = [("" if v is None else str(v))[:200] for v in (before, after)]
        return f"{shown[0]} → {shown[1]}" if shown[0] else shown[1]
    return str(value)[:400]


def make_audit_blueprint() -> FlaskBlueprint:
    """``/audit``: the audit trail page and its CSV export, in the reader's scope."""
    from urllib.parse import urlencode as url_encode

    from flask import render_template
    from flask_babel import gettext as _
    from sqlalchemy import select

    from ..app import current_crm
    from ..users.models import User
    from .audit_view import READ_ALL, audit_page, parse_filters

    bp = FlaskBlueprint("web_audit", __name__, url_prefix="/audit", template_folder="templates")

    @bp.route("")
    def index() -> Any:
        crm = current_crm()
        records = crm.records(g.crm_access)
        errors: dict[str, Any] = {}
        try:
            data, cursor = audit_page(records, parse_filters(request.args))
        except ValidationError as exc:
            errors, data, cursor = dict(exc.messages), [], None
        by_name = {e.name: e for e in crm.entities()}
        rows = []
        for row in data:
            entity = by_name.get(row["entity"])
            link = None
            if entity is not None and row["action"] not in ("erase",):
                link = url_for("web_records.show", plural=entity.plural, record_id=row["record_id"])
            kind = (
                _(entity.title)
                if entity is not None
                else _(OTHER_KINDS.get(row["entity"], row["entity"]))
            )
            changes = row["changes"] or {}
            rows.append(
                {
                    **row,
                    "kind": kind,
                    "link": link,
                    "action_label": _(ACTION_LABELS[row["action"]])
                    if row["action"] in ACTION_LABELS
                    else row["action"],
                    "changes": [(k, _change_text(v)) for k, v in list(changes.items())[:20]],
                }
            )
        entities = [
            (e.plural, _(e.title_plural)) for e in crm.entities() if records.access.can(e, "read")
        ]
        everything = records.access.has(READ_ALL)
        if everything:
            entities += [(k, _(v)) for k, v in OTHER_KINDS.items()]
        users = (
            [
                (u.id, u.name or u.email)
                for u in crm.session.scalars(
                    select(User).order_by(User.name, User.id).limit(USER_CHOICES)
                )
            ]
            if everything
            else [(g.crm_user.id, g.crm_user.name or g.crm_user.email)]
        )
        args = {k: v for k, v in request.args.items() if k != "cursor" and v}
        next_url = (
            f"{url_for('web_audit.index')}?{url_encode({**args, 'cursor': cursor})}"
            if cursor
            else None
        )
        return render_template(
            "privacy/audit.html",
            rows=rows,
            args=request.args,
            errors=errors,
            entities=entities,
            actions=[(k, _(v)) for k, v in ACTION_LABELS.items()],
            users=users,
            next_url=next_url,
            query=url_encode(args),
        ), (422 if errors else 200)

    @bp.route("/export.csv")
    def export() -> Any:
        return audit_csv(current_crm().records(g.crm_access))

    return bp
