"""``GET /api/v1/search?q=``: every readable entity at once."""

from __future__ import annotations

from typing import Any

from flask import g, request
from flask_smorest import Blueprint
from marshmallow import Schema, fields

from ..app import current_crm
from .listing import BadQuery
from .resources import ERROR_RESPONSES


class Hit(Schema):
    entity = fields.String()
    plural = fields.String()
    id = fields.Integer()
    title = fields.String()


class Hits(Schema):
    data = fields.List(fields.Nested(Hit))


def make_blueprint() -> Blueprint:
    blp = Blueprint("api_search", __name__, url_prefix="/api/v1", description="Global search")

    @blp.route("/search")
    @blp.doc(
        summary="Search every entity you may read",
        responses=ERROR_RESPONSES,
        parameters=[
            {"in": "query", "name": "q", "required": True, "schema": {"type": "string"}},
            {"in": "query", "name": "limit", "schema": {"type": "integer", "maximum": 50}},
        ],
    )
    @blp.response(200, Hits)
    def search() -> Any:
        crm = current_crm()
        query = request.args.get("q", "")[:200]
        try:
            limit = min(max(int(request.args.get("limit", 20)), 1), 50)
        except ValueError:
            raise BadQuery("limit", "Must be a whole number.") from None
        entities = crm.entities()
        docs = crm.search.search(crm.session, g.crm_access, entities, query, limit)
        by_name = {e.name: e for e in entities}
        return {
            "data": [
                {
                    "entity": d.entity,
                    "plural": by_name[d.entity].plural,
                    "id": d.record_id,
                    "title": d.title,
                }
                for d in docs
            ]
        }

    return blp
