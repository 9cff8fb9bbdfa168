"""REST endpoints of segments beyond the generic ones: members, live count, static lists.

``GET  /api/v1/segments/<id>/members``                 the members, as ``GET /api/v1/contacts``
``GET  /api/v1/segments/<id>/count``                   the live member count
``POST /api/v1/segments/<id>/members``                 ``{"contact_ids": [...]}`` (static)
``DELETE /api/v1/segments/<id>/members/<contact_id>``  (static)
``POST /api/v1/segments/<id>/import``                  a CSV file into a static segment

Every read and write goes through the caller's record service: contacts outside their scope
are never listed, counted, added nor removed.
"""

from __future__ import annotations

import secrets
import shutil
from pathlib import Path
from typing import Any

from flask import Response, g, request
from flask.views import MethodView
from flask_smorest import Blueprint
from marshmallow import Schema, fields, validate

from crmcore import ValidationError, current_crm
from crmcore.api import listing
from crmcore.api.resources import load_json
from crmcore.errors import PermissionDenied
from crmcore.importing import ImportFileError, import_limit, parse_mapping

from . import segments

MAX_IDS = 1000
_TRUE = ("1", "true", "yes", "on")
_COPY_CHUNK = 1024 * 1024


class MembersInput(Schema):
    contact_ids = fields.List(
        fields.Integer(strict=True, validate=validate.Range(1, 2**31 - 1)),
        required=True,
        validate=validate.Length(1, MAX_IDS),
    )


class MembersAdded(Schema):
    added = fields.Integer()
    already_members = fields.Integer()


class SegmentCount(Schema):
    id = fields.Integer()
    kind = fields.String()
    member_count = fields.Integer()


class RejectedRow(Schema):
    line = fields.Integer()
    email = fields.String()
    reason = fields.String()


class ListImportResult(Schema):
    dry_run = fields.Boolean()
    total = fields.Integer(metadata={"description": "data rows in the file"})
    added = fields.Integer(metadata={"description": "contacts newly listed"})
    already_members = fields.Integer()
    duplicates = fields.Integer(metadata={"description": "rows repeating an earlier e-mail"})
    contacts_created = fields.Integer()
    companies_created = fields.Integer()
    rejected = fields.Integer()
    rejected_rows = fields.List(
        fields.Nested(RejectedRow),
        metadata={"description": f"the first {segments.MAX_LISTED_REJECTS} rejected rows"},
    )
    columns = fields.Dict(metadata={"description": "header -> field"})
    ignored = fields.List(fields.String())


_MEMBERS_PAGE = {
    "description": "One page of members (contacts), as GET /api/v1/contacts",
    "content": {
        "application/json": {
            "schema": {
                "type": "object",
                "properties": {
                    "data": {"type": "array", "items": {"$ref": "#/components/schemas/Contact"}},
                    "next_cursor": {"type": "string", "nullable": True},
                },
            }
        }
    },
}
_LIST_PARAMETERS = [
    {"in": "query", "name": "limit", "schema": {"type": "integer", "maximum": listing.MAX_LIMIT}},
    {"in": "query", "name": "cursor", "schema": {"type": "string"}},
    {"in": "query", "name": "sort", "schema": {"type": "string"}},
    {"in": "query", "name": "q", "schema": {"type": "string"}},
]
_UPLOAD_DOC = {
    "required": True,
    "content": {
        "multipart/form-data": {
            "schema": {
                "type": "object",
                "required": ["file"],
                "properties": {
                    "file": {"type": "string", "format": "binary", "description": "The CSV file"},
                    "mapping": {
                        "type": "string",
                        "description": 'JSON {"Column": "field" or null}',
                    },
                    "dry_run": {"type": "boolean"},
                },
            }
        }
    },
}


def _records() -> Any:
    return current_crm().records(g.crm_access)


def blueprint() -> Blueprint:
    """``marketing_segments``: members, counts and static lists under ``/api/v1/segments``."""
    blp = Blueprint(
        "marketing_segments",
        __name__,
        url_prefix="/api/v1",
        description="Segment members, live counts and static lists (marketing plugin)",
    )

    @blp.route("/segments/<int:segment_id>/members")
    class Members(MethodView):
        @blp.doc(
            summary="The segment's contacts you may read, filtered, sorted and paged as "
            "GET /api/v1/contacts",
            parameters=_LIST_PARAMETERS,
            responses={200: _MEMBERS_PAGE},
        )
        def get(self, segment_id: int) -> Any:
            crm = current_crm()
            records = _records()
            segment = records.get("segments", segment_id)
            contacts = records.entity("contacts")
            params = listing.parse(
                contacts,
                request.args,
                crm.settings.secret_key,
                lambda: crm.custom_field_defs(records.session, contacts),
            )
            if params.trashed:
                raise listing.BadQuery("trashed", "Contacts in the trash are never members.")
            stmt = segments.members_query(crm, records, segment)
            stmt = listing.apply_filters(contacts, stmt, params, crm.engine.dialect.name)
            if params.q:
                found = crm.search.record_ids(contacts, params.q)
                if found is not None:
                    stmt = stmt.where(contacts.model.id.in_(found))
            stmt = listing.apply_sort(contacts, stmt, params).limit(params.limit + 1)
            rows = list(records.session.scalars(stmt))
            next_cursor = None
            if len(rows) > params.limit:
                rows = rows[: params.limit]
                next_cursor = listing.encode_cursor(
                    contacts, rows[-1], params, crm.settings.secret_key
                )
            data = contacts.dump_schema.dump(rows, many=True)
            return crm.app.json.response({"data": data, "next_cursor": next_cursor})

        @blp.doc(
            summary="List contacts in a static segment (segments.update)",
            requestBody={
                "required": True,
                "content": {"application/json": {"schema": MembersInput}},
            },
        )
        @blp.response(200, MembersAdded)
        def post(self, segment_id: int) -> Any:
            records = _records()
            segment = records.get("segments", segment_id, "update")
            data = load_json(MembersInput())
            added, already = segments.add_members(records, segment, data["contact_ids"])
            return {"added": added, "already_members": already}

    @blp.route("/segments/<int:segment_id>/members/<int:contact_id>", methods=["DELETE"])
    @blp.doc(summary="Take a contact off a static segment (segments.update)")
    @blp.response(204)
    def remove_member(segment_id: int, contact_id: int) -> Any:
        records = _records()
        segment = records.get("segments", segment_id, "update")
        segments.remove_member(records, segment, contact_id)
        return Response(status=204)

    @blp.route("/segments/<int:segment_id>/count")
    @blp.doc(summary="How many of the segment's contacts you may read, counted now")
    @blp.response(200, SegmentCount)
    def member_count(segment_id: int) -> Any:
        records = _records()
        segment = records.get("segments", segment_id)
        return {
            "id": segment.id,
            "kind": segment.kind,
            "member_count": segments.count(records, segment),
        }

    @blp.route("/segments/<int:segment_id>/import", methods=["POST"])
    @blp.doc(
        summary="Import a CSV file into a static segment: rows matched to contacts by e-mail, "
        "missing contacts created (segments.update and data.import)",
        requestBody=_UPLOAD_DOC,
    )
    @blp.response(200, ListImportResult)
    def import_list(segment_id: int) -> Any:
        records = _records()
        segment = records.get("segments", segment_id, "update")
        if not records.access.has("data.import"):
            raise PermissionDenied("You may not import data (the data.import permission).")
        form = request.form
        upload = request.files.get("file")
        errors: dict[str, list[str]] = {}
        if upload is None:
            errors["file"] = ["Send the CSV file as the multipart field 'file'."]
        mapping = None
        if form.get("mapping"):
            try:
                mapping = parse_mapping(form["mapping"])
            except ImportFileError as exc:
                errors["mapping"] = [str(exc)]
        if errors:
            raise ValidationError(errors)
        segments.require_static(segment)
        crm = current_crm()
        folder = Path(crm.settings.instance_path) / "imports" / f"list-{secrets.token_hex(8)}"
        folder.mkdir(parents=True)
        try:
            stored = folder / "upload.csv"
            _save_upload(upload, stored, import_limit(crm))
            result = segments.import_list(
                records,
                segment,
                stored,
                dry_run=form.get("dry_run", "").lower() in _TRUE,
                mapping=mapping,
                source="import",
            )
        finally:
            shutil.rmtree(folder, ignore_errors=True)
        return result.summary()

    return blp


def _save_upload(upload: Any, target: Path, limit: int) -> None:
    size = 0
    with open(target, "wb") as out:
        while chunk := upload.stream.read(_COPY_CHUNK):
            size += len(chunk)
            if size > limit:
                raise ImportFileError(
                    f"the file is larger than the import limit of {limit / 1024 / 1024:.1f} MB"
                )
            out.write(chunk)
