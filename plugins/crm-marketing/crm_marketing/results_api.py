"""REST endpoint of campaign results: ``GET /api/v1/campaigns/<id>/results``."""

from __future__ import annotations

from typing import Any

from flask import g
from flask_smorest import Blueprint
from marshmallow import Schema, fields, validate

from crmcore import PermissionDenied, current_crm

from .results import BUCKETS, campaign_results

PERMISSION = "marketing.results"


class ResultsQuery(Schema):
    bucket = fields.String(
        validate=validate.OneOf(BUCKETS),
        metadata={"description": "Time-series buckets; default: hours for up to three days"},
    )


class Counts(Schema):
    recipients = fields.Integer(metadata={"description": "Contacts of the campaign's outbox"})
    queued = fields.Integer(metadata={"description": "Not sent yet (waiting or being sent)"})
    sent = fields.Integer(metadata={"description": "Handed to the mail server"})
    delivered = fields.Integer(metadata={"description": "Sent and not bounced"})
    opened = fields.Integer(metadata={"description": "Unique recipients who opened or clicked"})
    clicked = fields.Integer(metadata={"description": "Unique recipients who clicked a link"})
    unsubscribed = fields.Integer()
    bounced = fields.Integer()
    failed = fields.Integer(metadata={"description": "Refused by the mail server"})
    skipped = fields.Integer(metadata={"description": "Not sent: opted out, bounced, no e-mail"})
    unknown = fields.Integer(
        metadata={"description": "The sender stopped while handing the message over"}
    )
    skipped_by_reason = fields.Dict(
        keys=fields.String(),
        values=fields.Integer(),
        metadata={"description": "opted_out, bounced, no_email..."},
    )


class Rates(Schema):
    delivery = fields.Float(allow_none=True, metadata={"description": "delivered / sent"})
    bounce = fields.Float(allow_none=True, metadata={"description": "bounced / sent"})
    open = fields.Float(allow_none=True, metadata={"description": "opened / delivered"})
    click = fields.Float(allow_none=True, metadata={"description": "clicked / delivered"})
    click_to_open = fields.Float(allow_none=True, metadata={"description": "clicked / opened"})
    unsubscribe = fields.Float(
        allow_none=True, metadata={"description": "unsubscribed / delivered"}
    )


class Point(Schema):
    at = fields.String(metadata={"description": "Start of the hour or day, UTC"})
    sent = fields.Integer()
    delivered = fields.Integer(
        metadata={"description": "Messages sent in this bucket that have not bounced"}
    )
    open = fields.Integer()
    click = fields.Integer()
    unsubscribe = fields.Integer()
    bounce = fields.Integer()


class Timeline(Schema):
    bucket = fields.String(metadata={"enum": list(BUCKETS)})
    points = fields.List(fields.Nested(Point))


class Link(Schema):
    url = fields.String()
    clicks = fields.Integer()
    unique_clicks = fields.Integer()


class Money(Schema):
    currency = fields.String()
    amount = fields.String(metadata={"description": "Decimal amount"})


class Attribution(Schema):
    leads = fields.Integer(
        allow_none=True, metadata={"description": "null: you may not read leads"}
    )
    converted_leads = fields.Integer(allow_none=True)
    deals = fields.Integer(
        allow_none=True, metadata={"description": "null: you may not read deals"}
    )
    won_deals = fields.Integer(allow_none=True)
    lost_deals = fields.Integer(allow_none=True)
    open_deals = fields.Integer(allow_none=True)
    revenue = fields.List(
        fields.Nested(Money),
        allow_none=True,
        metadata={"description": "Amounts of the won deals, per currency"},
    )


class Results(Schema):
    campaign_id = fields.Integer()
    name = fields.String()
    kind = fields.String()
    status = fields.String()
    started_at = fields.String(allow_none=True)
    finished_at = fields.String(allow_none=True)
    counts = fields.Nested(Counts)
    rates = fields.Nested(Rates)
    timeline = fields.Nested(Timeline)
    top_links = fields.List(fields.Nested(Link))
    attribution = fields.Nested(
        Attribution,
        allow_none=True,
        metadata={
            "description": "Leads and deals whose custom field campaign_id is this campaign, "
            "in your scope; null without the sales plugin"
        },
    )
    computed_at = fields.String()


def blueprint() -> Blueprint:
    """The ``marketing_results`` blueprint."""
    blp = Blueprint(
        "marketing_results", __name__, url_prefix="/api/v1", description="Marketing results"
    )

    @blp.route("/campaigns/<int:campaign_id>/results")
    @blp.arguments(ResultsQuery, location="query", as_kwargs=True)
    @blp.response(200, Results)
    @blp.doc(
        summary="A campaign's results: counts, rates, events over time, top links, attribution",
        description=(
            "Needs the permission `marketing.results` and read access to the campaign. Leads "
            "and deals are counted within your own scope."
        ),
    )
    def results(campaign_id: int, bucket: str | None = None) -> Any:
        if not g.crm_access.has(PERMISSION):
            raise PermissionDenied("You may not see campaign results.")
        records = current_crm().records(g.crm_access)
        campaign = records.get("campaigns", campaign_id)
        return campaign_results(records, campaign, bucket)

    return blp
