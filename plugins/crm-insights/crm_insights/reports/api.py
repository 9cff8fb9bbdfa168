"""``POST /api/v1/reports/run`` (a definition in the body) and ``POST /api/v1/reports/<id>/run``
(a saved report), both answered within the caller's permission scope."""

from __future__ import annotations

from typing import Any

from crmcore import current_crm
from crmcore.api.resources import json_body
from flask import g
from flask_smorest import Blueprint
from marshmallow import Schema, fields

from .definition import BUCKETS, MAX_LIMIT, MEASURES, parse_definition
from .runner import run_definition
from .sharing import get_readable


class GroupSchema(Schema):
    field = fields.String(
        required=True, metadata={"description": "A field, or <join>.<field> of a joined entity"}
    )
    bucket = fields.String(metadata={"enum": list(BUCKETS)})


class MeasureSchema(Schema):
    op = fields.String(required=True, metadata={"enum": list(MEASURES)})
    field = fields.String(metadata={"description": "Not needed by count"})


class ReportDefinitionSchema(Schema):
    entity = fields.String(
        required=True,
        metadata={
            "description": "Plural or singular name; or the line items of an entity's nested "
            "line list, <plural>.<list> (orders.lines, quotes.lines): one row per line, its "
            "fields line.<field> (line.product_id, line.quantity, line.unit_price, "
            "line.discount_percent, line.net, line.total), the parent's fields and joins as "
            "in the parent's report"
        },
    )
    joins = fields.List(
        fields.String(),
        metadata={
            "description": "Reference fields of the entity to join; line.<field> for a "
            "reference of a line (line.product_id)"
        },
    )
    filters = fields.Dict(
        keys=fields.String(),
        metadata={
            "description": "The list filter language (field__op: value); <join>.<field>__op "
            "for a joined entity"
        },
    )
    group_by = fields.List(
        fields.Nested(GroupSchema),
        metadata={"description": "Up to two; also as strings: 'close_date:month'"},
    )
    measures = fields.List(
        fields.Nested(MeasureSchema),
        metadata={"description": "Also as strings: 'count', 'sum:amount'"},
    )
    sort = fields.List(fields.String(), metadata={"description": "Keys of groups or measures"})
    limit = fields.Integer(metadata={"minimum": 1, "maximum": MAX_LIMIT})


class ReportColumnSchema(Schema):
    key = fields.String()
    role = fields.String(metadata={"enum": ["group", "currency", "measure"]})
    kind = fields.String()
    field = fields.String(allow_none=True)
    bucket = fields.String(allow_none=True)
    op = fields.String()


class ReportResultSchema(Schema):
    entity = fields.String()
    columns = fields.List(fields.Nested(ReportColumnSchema))
    rows = fields.List(
        fields.Dict(),
        metadata={
            "description": "One object per row by column key; <key>_name beside references; "
            "_filter: the list query string of the row's records (null when lists cannot "
            "express it)"
        },
    )
    truncated = fields.Boolean()


def _service() -> Any:
    return current_crm().records(g.crm_access)


def make_blueprint() -> Blueprint:
    """The two run endpoints."""
    blp = Blueprint(
        "insights_reports_api", __name__, url_prefix="/api/v1", description="Reports (insights)"
    )

    @blp.route("/reports/run", methods=["POST"])
    @blp.doc(
        summary="Run a report definition without saving it",
        requestBody={
            "required": True,
            "content": {"application/json": {"schema": ReportDefinitionSchema}},
        },
    )
    @blp.response(200, ReportResultSchema)
    def run_adhoc() -> Any:
        service = _service()
        return run_definition(service, parse_definition(service, json_body()))

    @blp.route("/reports/<int:report_id>/run", methods=["POST"])
    @blp.doc(summary="Run a saved report with the caller's rights")
    @blp.response(200, ReportResultSchema)
    def run_saved(report_id: int) -> Any:
        service = _service()
        report = get_readable(service, report_id)
        return run_definition(service, parse_definition(service, report.definition))

    return blp
