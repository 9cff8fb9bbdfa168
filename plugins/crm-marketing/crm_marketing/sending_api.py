"""REST endpoints of sending: start or schedule, cancel, and direct-mail address labels.

``POST /api/v1/campaigns/<id>/send``      ``{}`` or ``{"at": "2026-05-01T09:00:00+02:00"}``: 202
``POST /api/v1/campaigns/<id>/cancel``    stop a scheduled or sending campaign
``GET  /api/v1/campaigns/<id>/labels.csv``  direct mail: the addresses, for a mail house
``GET  /api/v1/campaigns/<id>/labels.pdf``  direct mail: A4 sheets of 3 x 8 labels

Sending and cancelling need the ``marketing.send`` permission and update access to the
campaign in the caller's scope; labels need read access to the campaign and list only the
contacts the caller may read.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from flask import Response, current_app, g, request, stream_with_context
from flask_smorest import Blueprint
from marshmallow import Schema, fields

from crmcore import PermissionDenied, ValidationError, current_crm
from crmcore.api.openapi import error_responses
from crmcore.db import utcnow
from crmcore.errors import BadRequest

from . import labels, sending


class SendInput(Schema):
    at = fields.AwareDateTime(
        load_default=None,
        allow_none=True,
        metadata={
            "description": "Send at this moment (ISO 8601 with a time-zone offset, in the "
            "future) instead of now."
        },
    )


def _records() -> Any:
    return current_crm().records(g.crm_access)


def _may_send(records: Any, campaign_id: int) -> Any:
    campaign = records.get("campaigns", campaign_id, "update")
    if not records.access.has("marketing.send"):
        raise PermissionDenied("You may not send campaigns (the marketing.send permission).")
    return campaign


def _dump(records: Any, campaign: Any, status: int) -> Response:
    response = current_app.json.response(records.entity("campaigns").dump_schema.dump(campaign))
    response.status_code = status
    response.headers["ETag"] = f'"{campaign.version}"'
    return response


def _filename(campaign: Any, suffix: str) -> str:
    return f"campaign-{campaign.id}-labels.{suffix}"


def blueprint() -> Blueprint:
    blp = Blueprint(
        "marketing_sending",
        __name__,
        url_prefix="/api/v1",
        description="Marketing: sending campaigns and direct-mail labels",
    )

    @blp.route("/campaigns/<int:campaign_id>/send", methods=["POST"])
    @blp.arguments(SendInput, required=False)
    @blp.response(202)
    def send_campaign(options: dict[str, Any], campaign_id: int) -> Any:
        """Send the campaign now, or schedule it (`at`). Its recipients are chosen now (or at
        the scheduled time) and each gets one message; a second call answers 409."""
        if request.content_length and not request.is_json:
            # a form-encoded "at" would otherwise be ignored and the campaign sent at once
            raise BadRequest("Send JSON with Content-Type: application/json.", 415)
        records = _records()
        campaign = _may_send(records, campaign_id)
        at: dt.datetime | None = options.get("at")
        if at is not None and at <= utcnow():
            raise ValidationError({"at": ["This moment has passed; leave `at` out to send now."]})
        sending.start(current_crm(), campaign, at, records=records)
        return _dump(records, campaign, 202)

    @blp.route("/campaigns/<int:campaign_id>/cancel", methods=["POST"])
    @blp.response(200)
    def cancel_campaign(campaign_id: int) -> Any:
        """Stop a draft, scheduled or sending campaign; messages not yet sent are not sent
        (409 when it was sent or cancelled already)."""
        records = _records()
        campaign = _may_send(records, campaign_id)
        sending.cancel(current_crm(), campaign, records=records)
        return _dump(records, campaign, 200)

    @blp.route("/campaigns/<int:campaign_id>/labels.csv")
    @blp.response(200, content_type="text/csv")
    @blp.doc(responses=error_responses(409))  # not a sent direct-mail campaign
    def labels_csv(campaign_id: int) -> Any:
        """The postal addresses of a sent direct-mail campaign, as CSV."""
        records = _records()
        campaign = records.get("campaigns", campaign_id)
        labels.check_allowed(records, campaign)
        return Response(
            stream_with_context(labels.labels_csv(records, campaign)),
            mimetype="text/csv",
            headers={
                "Content-Disposition": f'attachment; filename="{_filename(campaign, "csv")}"'
            },
        )

    @blp.route("/campaigns/<int:campaign_id>/labels.pdf")
    @blp.response(200, content_type="application/pdf")
    @blp.doc(responses=error_responses(409))  # not a sent direct-mail campaign
    def labels_pdf(campaign_id: int) -> Any:
        """The postal addresses of a sent direct-mail campaign: A4 sheets of 3 x 8 labels."""
        records = _records()
        campaign = records.get("campaigns", campaign_id)
        labels.check_allowed(records, campaign)
        return Response(
            labels.labels_pdf(records, campaign),
            mimetype="application/pdf",
            headers={"Content-Disposition": f'inline; filename="{_filename(campaign, "pdf")}"'},
        )

    return blp
