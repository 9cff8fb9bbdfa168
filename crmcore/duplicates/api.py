"""``GET /api/v1/<plural>/duplicates`` and ``POST /api/v1/<plural>/duplicates/scan`` for the
entities duplicates are looked for in (contacts, companies)."""

from __future__ import annotations

from typing import Any

from flask import request
from flask.views import MethodView
from flask_smorest import Blueprint
from marshmallow import Schema, fields

from ..errors import PermissionDenied
from .pairs import entity_with_rules, page, parse_cursor, parse_limit

#: the collections with a duplicates list (the entities of ``matching.RULES``)
PLURALS = ("contacts", "companies")


class PairRecordSchema(Schema):
    id = fields.Integer()
    title = fields.String()


class PairSchema(Schema):
    id = fields.Integer()
    score = fields.Integer(metadata={"description": "0-100: how likely the two are one"})
    reasons = fields.List(
        fields.String(), metadata={"description": "email, phone, name, similar_name, domain"}
    )
    found_at = fields.AwareDateTime()
    records = fields.List(fields.Nested(PairRecordSchema))


class PairPage(Schema):
    data = fields.List(fields.Nested(PairSchema))
    next_cursor = fields.String(allow_none=True)


class ScanSchema(Schema):
    status = fields.String()


_LIST_PARAMETERS = [
    {"in": "query", "name": "limit", "schema": {"type": "integer", "minimum": 1, "maximum": 200}},
    {"in": "query", "name": "cursor", "schema": {"type": "string"}},
    {
        "in": "query",
        "name": "record_id",
        "schema": {"type": "integer"},
        "description": "Only the pairs of this record.",
    },
]


def make_blueprint() -> Blueprint:
    """The API blueprint of the stored duplicate pairs."""
    from ..api.resources import ERROR_RESPONSES, records

    blp = Blueprint(
        "api_duplicates",
        __name__,
        url_prefix="/api/v1",
        description="Likely duplicate contacts and companies, found by the duplicate scan",
    )

    def add(plural: str) -> None:
        class Pairs(MethodView):
            @blp.doc(
                parameters=_LIST_PARAMETERS,
                responses=ERROR_RESPONSES,
                summary=f"Likely duplicate {plural}, best first, in your scope",
            )
            @blp.response(200, PairPage)
            def get(self) -> Any:
                service = records()
                entity = entity_with_rules(service, plural)
                record_id = request.args.get("record_id")
                found, next_cursor = page(
                    service,
                    entity,
                    parse_limit(request.args.get("limit")),
                    parse_cursor(request.args.get("cursor")),
                    int(record_id) if record_id and record_id.isdigit() else None,
                )
                return {"data": found, "next_cursor": next_cursor}

        class Scan(MethodView):
            @blp.doc(responses=ERROR_RESPONSES, summary=f"Look for duplicate {plural} now")
            @blp.response(202, ScanSchema)
            def post(self) -> Any:
                service = records()
                entity = entity_with_rules(service, plural)
                if not service.access.can(entity, "update"):
                    raise PermissionDenied("You may not look for duplicates here.")
                service.session.commit()  # end the request's transaction: the job has its own
                service.crm.jobs.enqueue("crmcore.duplicates.scan:scan_job", entity.name)
                return {"status": "queued"}, 202

        blp.route(f"/{plural}/duplicates", endpoint=f"{plural}_pairs")(Pairs)
        blp.route(f"/{plural}/duplicates/scan", endpoint=f"{plural}_scan")(Scan)

    for plural in PLURALS:
        add(plural)
    return blp
