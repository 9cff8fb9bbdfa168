"""REST endpoints beyond the generic ones: the thread, merging, invitations, reports."""

from __future__ import annotations

from typing import Any

from flask import g, request, url_for
from flask_smorest import Blueprint
from marshmallow import Schema, fields, validate

from crmcore import NotFound, PermissionDenied, ValidationError, current_crm
from crmcore.api.resources import load_json

from . import portal_accounts, reports, tickets


class MessageInput(Schema):
    body = fields.String(required=True, validate=validate.Length(1, 100_000))
    attachment_ids = fields.List(
        fields.Integer(),
        load_default=list,
        validate=validate.Length(max=20),
        metadata={"description": "files uploaded to this ticket first (POST .../attachments)"},
    )
    public = fields.Boolean(load_default=True)
    status = fields.String(
        load_default=None,
        validate=validate.OneOf(("new", "open", "pending", "on_hold", "solved", "closed")),
    )


class InviteInput(Schema):
    contact_id = fields.Integer(required=True)


def _body(schema: type[Schema]) -> dict[str, Any]:
    """The OpenAPI request body of an endpoint that reads ``schema`` with ``load_json``."""
    return {"required": True, "content": {"application/json": {"schema": schema}}}


def _records() -> Any:
    return current_crm().records(g.crm_access)


def _dump(entity: str, record: Any) -> Any:
    return current_crm().registry.get(entity).dump_schema.dump(record)


def _ticket_files(records: Any, ticket_id: int, ids: list[int]) -> list[int]:
    """``ids`` when each is a live attachment of this ticket that the user may read."""
    from crmcore.activities.models import Attachment

    ids = list(dict.fromkeys(ids))
    if not ids:
        return []
    found = set(
        records.session.scalars(
            records.query("attachments")
            .where(
                Attachment.id.in_(ids),
                Attachment.record_type == "ticket",
                Attachment.record_id == ticket_id,
            )
            .with_only_columns(Attachment.id)
        )
    )
    missing = [i for i in ids if i not in found]
    if missing:
        raise ValidationError({"attachment_ids": [f"No attachment {missing[0]} on this ticket."]})
    return ids


def ticket_blueprint() -> Blueprint:
    """``/api/v1/tickets/<id>/messages`` and ``/merge``."""
    blp = Blueprint(
        "support_tickets_api",
        __name__,
        url_prefix="/api/v1/tickets",
        description="Ticket threads and merging (support plugin)",
    )

    @blp.route("/<int:ticket_id>/messages")
    @blp.doc(summary="The ticket's thread, oldest first")
    @blp.response(200)
    def list_messages(ticket_id: int) -> Any:
        records = _records()
        ticket = records.get("tickets", ticket_id)
        if not records.access.can("ticket_messages", "read"):
            raise PermissionDenied("You may not read ticket messages.")
        rows = tickets.messages(records.session, ticket.id)
        return {"data": [_dump("ticket_messages", m) for m in rows]}

    @blp.route("/<int:ticket_id>/messages", methods=["POST"])
    @blp.doc(
        summary="Reply (public: e-mailed to the contact) or add an internal note",
        requestBody=_body(MessageInput),
    )
    @blp.response(201)
    def post_message(ticket_id: int) -> Any:
        records = _records()
        ticket = records.get("tickets", ticket_id, "update")
        data = load_json(MessageInput())
        message = tickets.add_message(
            records,
            ticket,
            data["body"],
            public=data["public"],
            status=data["status"],
            attachment_ids=_ticket_files(records, ticket.id, data["attachment_ids"]),
        )
        response = current_crm().app.json.response(_dump("ticket_messages", message))
        response.status_code = 201
        response.headers["Location"] = url_for(
            "api_ticket_messages.Item", record_id=message.id, _external=False
        )
        return response

    return blp


def support_blueprint() -> Blueprint:
    """``/api/v1/support/...``: portal invitations and reports."""
    blp = Blueprint(
        "support_api",
        __name__,
        url_prefix="/api/v1/support",
        description="Support desk: portal invitations and reports",
    )

    @blp.route("/portal/invitations", methods=["POST"])
    @blp.doc(
        summary="Invite a contact to the customer portal (an e-mail with a link)",
        requestBody=_body(InviteInput),
    )
    @blp.response(201)
    def invite() -> Any:
        records = _records()
        if not records.access.has("support.portal_invite"):
            raise PermissionDenied("You may not invite contacts to the portal.")
        data = load_json(InviteInput())
        try:
            contact = records.get("contacts", data["contact_id"])
        except NotFound:
            raise ValidationError({"contact_id": ["No such contact."]}) from None
        account = portal_accounts.invite(current_crm(), contact)
        return {"id": account.id, "contact_id": contact.id, "email": account.email}, 201

    @blp.route("/reports/<name>")
    @blp.doc(summary="A report: backlog, response-times, sla or satisfaction (?days=30)")
    @blp.response(200)
    def report(name: str) -> Any:
        records = _records()
        if not records.access.has("support.reports"):
            raise PermissionDenied("You may not see support reports.")
        if name not in reports.REPORTS:
            raise NotFound(f"No report called {name!r}.")
        raw = request.args.get("days", "")
        try:
            days = int(raw) if raw else reports.DEFAULT_DAYS
        except ValueError:
            raise ValidationError({"days": ["Give a whole number of days."]}) from None
        if not 1 <= days <= 366:
            raise ValidationError({"days": ["Between 1 and 366 days."]})
        return {"report": name, "data": reports.REPORTS[name](records, days)}

    return blp
