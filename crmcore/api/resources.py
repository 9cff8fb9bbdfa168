"""REST resources derived from the registry: one blueprint per entity, no per-entity code."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import marshmallow
from flask import Response, g, request, url_for
from flask.views import MethodView
from flask_smorest import Blueprint
from marshmallow import Schema, fields
from sqlalchemy import select

from .. import duplicates
from ..app import CRM, current_crm
from ..audit import AuditEntry
from ..duplicates import hints
from ..errors import StaleRecord, ValidationError
from ..parsing import whole_number
from ..records import RecordService
from ..registry import Entity
from ..timeline import MAX_LIMIT, MAX_OFFSET, PAGE_SIZE, build, parse_kinds
from . import jsontypes, listing
from .bodies import request_json
from .list_statements import ListStatements
from .listing import BadQuery
from .problems import PROBLEM_JSON
from .serializing import dumper, json_response, row_columns, row_dumper

#: the usual error answers; the document lists, per operation, those it can really answer
#: (``openapi.document_errors``): declare any other with ``openapi.error_responses``
ERROR_RESPONSES = {
    code: {
        "description": text,
        "content": {PROBLEM_JSON: {"schema": {"$ref": "#/components/schemas/Problem"}}},
        "x-crm-generic": True,
    }
    for code, text in (
        (400, "Bad request"),
        (401, "Not signed in"),
        (403, "Forbidden"),
        (404, "Not found"),
        (412, "The record changed meanwhile"),
        (422, "Validation failed"),
    )
}


#: the methods of a view class (``crm_reads_only``) that never write: on PostgreSQL their
#: statements run without a transaction (``crmcore.api.read_only_connection``)
READS_ONLY = frozenset({"GET", "HEAD"})


def records() -> RecordService:
    return current_crm().records(g.crm_access)


def json_body() -> dict[str, Any]:
    """The request's JSON object; clear 4xx for a wrong type, bad JSON or a huge body."""
    # a body of ``null`` is valid JSON (422 below), unlike an unparsable one (400)
    data = request_json()
    if not isinstance(data, dict):
        raise ValidationError({"_body": ["Send a JSON object."]})
    return data


def load_json(schema: Schema) -> dict[str, Any]:
    """The request's JSON object loaded by ``schema`` (an input schema of a plugin's endpoint):
    415, 413 or 400 as :func:`json_body` says, 422 with per-field messages."""
    try:
        return schema.load(jsontypes.check(schema, json_body()))  # type: ignore[no-any-return]
    except marshmallow.ValidationError as exc:
        raise ValidationError(exc.messages) from None  # type: ignore[arg-type]


def etag(record: Any) -> str:
    return f'"{record.version}"'


def if_match_versions() -> list[int] | None:
    """Versions accepted by ``If-Match``; ``None`` when absent or ``*``."""
    header = request.headers.get("If-Match")
    if not header or header.strip() == "*":
        return None
    versions = []
    for part in header.split(","):
        version = whole_number(part.strip().removeprefix("W/").strip('"'))
        if version is not None:
            versions.append(version)
    return versions


def with_etag(response: Response, record: Any) -> Response:
    response.headers["ETag"] = etag(record)
    return response


def list_parameters(entity: Entity) -> list[dict[str, Any]]:
    params: list[dict[str, Any]] = [
        {
            "in": "query",
            "name": "limit",
            "schema": {"type": "integer", "minimum": 1, "maximum": listing.MAX_LIMIT},
        },
        {
            "in": "query",
            "name": "cursor",
            "schema": {"type": "string"},
            "description": "The next_cursor of the previous page.",
        },
        {
            "in": "query",
            "name": "sort",
            "schema": {
                "type": "string",
                "enum": sorted([*entity.sortable, *(f"-{f}" for f in entity.sortable)]),
            },
        },
        {
            "in": "query",
            "name": "q",
            "schema": {"type": "string"},
            "description": "Full-text search",
        },
        {
            "in": "query",
            "name": "trashed",
            "schema": {"type": "boolean"},
            "description": "List the trash instead.",
        },
    ]
    for name in sorted(entity.filterable):
        params.append(
            {
                "in": "query",
                "name": name,
                "schema": {"type": "string"},
                "description": f"Filter; also {name}__gte, __lte, __in, __contains, ...",
            }
        )
    return params


def make_blueprint(crm: CRM, entity: Entity) -> Blueprint:
    """The REST resource of one entity: list, create, read, update, trash, restore, history."""
    blp = Blueprint(
        f"api_{entity.plural}",
        __name__,
        url_prefix=f"/api/v1/{entity.plural}",
        description=f"{entity.title_plural} ({entity.plugin} plugin)",
    )
    blp.crm_plugin = entity.plugin  # type: ignore[attr-defined]
    schema = entity.full_schema
    envelope = type(
        f"{entity.title.replace(' ', '')}Page",
        (Schema,),
        {
            "data": fields.List(fields.Nested(schema)),
            "next_cursor": fields.String(allow_none=True),
        },
    )
    body_doc = {"required": True, "content": {"application/json": {"schema": schema}}}
    partial_doc = {  # the <Name>Patch schema: no field is required
        "required": True,
        "content": {"application/json": {"schema": entity.update_schema}},
    }

    @blp.route("")
    class Collection(MethodView):
        crm_reads_only = READS_ONLY
        @blp.doc(
            parameters=list_parameters(entity),
            responses=ERROR_RESPONSES,
            summary=f"List {entity.title_plural.lower()}",
        )
        @blp.response(200, envelope)
        def get(self) -> Any:
            crm = current_crm()
            service = records()
            params = listing.parse(
                entity,
                request.args,
                crm.settings.secret_key,
                lambda: crm.custom_field_defs(service.session, entity),
            )
            columns = row_columns(entity, entity.dump_schema)
            if columns is not None and params.sort_field not in columns:
                columns = None
            # a plain page (no filter, no search) reuses the statement built for this user,
            # scope and shape; the others are built here
            cached = ListStatements.of(crm).page(service, entity, params, columns)
            if cached is not None:
                stmt, values = cached
            else:
                stmt, values = service.query(entity, "read", trashed=params.trashed), {}
                stmt = listing.apply_filters(entity, stmt, params, crm.engine.dialect.name)
                if params.q:
                    ids = crm.search.record_ids(entity, params.q)
                    if ids is not None:
                        stmt = stmt.where(entity.model.id.in_(ids))
                stmt = listing.apply_sort(entity, stmt, params).limit(params.limit + 1)
                if columns is not None:
                    stmt = stmt.with_only_columns(*columns.values())
            rows: Sequence[Any]
            if columns is not None:
                # read-only: plain rows, executed on the session's connection (the ORM's
                # result loading was a tenth of the request's CPU time), fetched in one call
                # (iterating asks the driver for one row at a time: psycopg's Python per row)
                rows = service.session.connection().execute(stmt, values).all()
                dump = row_dumper(entity.dump_schema, list(columns))
            else:
                rows = service.session.scalars(stmt, values).all()
                dump = dumper(entity.dump_schema)  # what the envelope's schema gives, compiled
            next_cursor = None
            if len(rows) > params.limit:
                rows = rows[: params.limit]
                next_cursor = listing.encode_cursor(
                    entity, rows[-1], params, crm.settings.secret_key
                )
            return json_response(
                crm.app, {"data": [dump(row) for row in rows], "next_cursor": next_cursor}
            )

        if entity.api_create:

            @blp.doc(
                requestBody=body_doc,
                responses=ERROR_RESPONSES,
                summary=f"Create a {entity.title.lower()}",
                parameters=hints.strict_parameter_doc(entity),
            )
            @blp.response(201, schema)
            def post(self) -> Any:
                data = jsontypes.check(entity.create_schema, json_body())
                service = records()
                found = (
                    duplicates.check_input(service, entity, data)
                    if service.access.can(entity, "create")
                    else []
                )
                if found and hints.strict_requested():
                    return hints.conflict(entity, found)
                record = service.create(entity, data)
                body = dumper(entity.dump_schema)(record)
                if found:
                    body["duplicates"] = hints.as_json(found)
                response = current_crm().app.json.response(body)
                response.status_code = 201
                response.headers["Location"] = url_for(
                    f"api_{entity.plural}.Item", record_id=record.id, _external=False
                )
                return with_etag(response, record)

    @blp.route("/<int:record_id>")
    class Item(MethodView):
        crm_reads_only = READS_ONLY
        @blp.doc(responses=ERROR_RESPONSES, summary=f"Read a {entity.title.lower()}")
        @blp.response(200, schema, headers={"ETag": {"schema": {"type": "string"}}})
        def get(self, record_id: int) -> Any:
            record = records().get(entity, record_id)
            return with_etag(
                current_crm().app.json.response(dumper(entity.dump_schema)(record)), record
            )

        @blp.doc(
            requestBody=partial_doc,
            responses=ERROR_RESPONSES,
            parameters=[
                {
                    "in": "header",
                    "name": "If-Match",
                    "schema": {"type": "string"},
                    "description": "The ETag you read; 412 if the record changed.",
                }
            ],
            summary=f"Change a {entity.title.lower()}",
        )
        @blp.response(200, schema)
        def patch(self, record_id: int) -> Any:
            data = jsontypes.check(entity.update_schema, json_body())
            service = records()
            record = service.get(entity, record_id, "update")
            versions = if_match_versions()
            if versions is not None and record.version not in versions:
                raise StaleRecord(
                    "The record was changed by someone else; reload it and try again."
                )
            record = service.update(entity, record, data, expected_version=record.version)
            return with_etag(
                current_crm().app.json.response(dumper(entity.dump_schema)(record)), record
            )

        @blp.doc(responses=ERROR_RESPONSES, summary=f"Move a {entity.title.lower()} to the trash")
        @blp.response(204)
        def delete(self, record_id: int) -> Any:
            records().delete(entity, record_id)
            return Response(status=204)

    @blp.route("/<int:record_id>/restore")
    class Restore(MethodView):
        @blp.doc(responses=ERROR_RESPONSES, summary="Restore from the trash")
        @blp.response(200, schema)
        def post(self, record_id: int) -> Any:
            record = records().restore(entity, record_id)
            return with_etag(
                current_crm().app.json.response(dumper(entity.dump_schema)(record)), record
            )

    @blp.route("/<int:record_id>/history")
    class History(MethodView):
        @blp.doc(responses=ERROR_RESPONSES, summary="Audit trail: who changed what, when")
        @blp.response(200, AuditPage)
        def get(self, record_id: int) -> Any:
            service = records()
            service.get(entity, record_id, trashed=_trashed_flag())
            rows = service.session.scalars(
                select(AuditEntry)
                .where(AuditEntry.entity == entity.name, AuditEntry.record_id == record_id)
                .order_by(AuditEntry.id.desc())
                .limit(500)
            )
            return {"data": list(rows)}

    @blp.route("/<int:record_id>/timeline")
    class Timeline(MethodView):
        @blp.doc(
            responses=ERROR_RESPONSES,
            summary="Everything that happened to the record, newest first, in the reader's scope",
            parameters=TIMELINE_PARAMETERS,
        )
        @blp.response(200, TimelinePage)
        def get(self, record_id: int) -> Any:
            return timeline_page(records(), entity, record_id)

    return blp


def _trashed_flag() -> bool:
    return request.args.get("trashed", "").lower() in ("1", "true")


class AuditSchema(Schema):
    id = fields.Integer()
    action = fields.String()
    user_id = fields.Integer(allow_none=True)
    at = fields.AwareDateTime()
    changes = fields.Dict(metadata={"description": "field -> [before, after]"})


class AuditPage(Schema):
    data = fields.List(fields.Nested(AuditSchema))


class TimelineItemSchema(Schema):
    kind = fields.String(
        metadata={
            "description": "note, task, call, meeting, email, attachment, change, or a plugin's "
            "kind (deal, quote, order, ticket, ticket_message, campaign, portal...)"
        }
    )
    at = fields.AwareDateTime()
    title = fields.String(metadata={"description": "one line, in the reader's language"})
    summary = fields.String()
    link = fields.String(allow_none=True, metadata={"description": "path of its page"})
    user_id = fields.Integer(allow_none=True, metadata={"description": "who did it"})
    id = fields.Integer(allow_none=True)
    data = fields.Dict()


class TimelineKind(Schema):
    kind = fields.String()
    label = fields.String()


class TimelinePage(Schema):
    data = fields.List(fields.Nested(TimelineItemSchema))
    kinds = fields.List(fields.Nested(TimelineKind), metadata={"description": "for a filter"})
    next_cursor = fields.String(allow_none=True)


TIMELINE_PARAMETERS = [
    {
        "in": "query",
        "name": "kind",
        "schema": {"type": "array", "items": {"type": "string"}},
        "description": "only these kinds (repeat it, or separate with commas)",
    },
    {"in": "query", "name": "limit", "schema": {"type": "integer", "default": 25, "maximum": 100}},
    {"in": "query", "name": "cursor", "schema": {"type": "string"}},
]


def timeline_page(service: RecordService, entity: Entity, record_id: int) -> dict[str, Any]:
    """One page of a record's timeline for the API; bad ``kind``, ``limit`` or ``cursor`` are
    400 problems naming the parameter."""
    limit = whole_number(request.args.get("limit", str(PAGE_SIZE)), 1, MAX_LIMIT)
    if limit is None:
        raise BadQuery("limit", f"Must be a whole number from 1 to {MAX_LIMIT}.")
    offset = whole_number(request.args.get("cursor") or "0", 0, MAX_OFFSET)
    if offset is None:
        raise BadQuery("cursor", "Not a cursor of this timeline.")
    kinds = parse_kinds(request.args.getlist("kind"))
    page = build(service, entity, record_id, kinds=kinds, offset=offset, limit=limit)
    unknown = sorted((kinds or set()) - set(page.kinds))
    if unknown:
        raise BadQuery("kind", f"Unknown kind {unknown[0]!r}; use one of: {', '.join(page.kinds)}.")
    return {
        "data": [
            {
                "kind": i.kind,
                "at": i.at,
                "title": i.title,
                "summary": i.summary,
                "link": i.link,
                "user_id": i.actor_id,
                "id": i.id,
                "data": dict(i.data),
            }
            for i in page.items
        ],
        "kinds": [{"kind": k, "label": text} for k, text in page.kinds.items()],
        "next_cursor": str(page.next_offset) if page.next_offset is not None else None,
    }
