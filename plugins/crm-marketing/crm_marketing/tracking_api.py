"""REST endpoints of tracking and consent: bounces, and the link of the subscription form.

``POST /api/v1/marketing/bounces`` takes DSN messages for an MTA or a mailbox poller that
cannot run ``crm marketing bounces``: the raw message as the body (``Content-Type:
message/rfc822``), or one or more files in the multipart field ``file``. It needs the
``marketing.send`` permission (marketers, administrators): whoever sends is who looks after
deliverability. Every message is read before anything is recorded, so one malformed message
refuses the whole request (422) and records nothing; mail that is not a DSN is answered
``"ignored"`` with the reason.

``GET /api/v1/marketing/subscribe-url[?segment_id=N]`` gives the public link of the
subscription form, for the newsletter or for a static segment (which needs ``update`` on it).
"""

from __future__ import annotations

from typing import Any

from flask import g, request
from flask_smorest import Blueprint

from crmcore import NotFound, PermissionDenied, ValidationError, current_crm
from crmcore.errors import BadRequest

from . import bounces, subscribe

_RESULT = {
    "type": "object",
    "properties": {
        "data": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "file": {"type": "string", "nullable": True},
                    "action": {"type": "string", "enum": ["recorded", "ignored"]},
                    "reason": {"type": "string", "nullable": True},
                    "bounces": {"type": "array", "items": {"type": "object"}},
                },
            },
        }
    },
}
_BODY = {
    "content": {
        "message/rfc822": {"schema": {"type": "string", "format": "binary"}},
        "multipart/form-data": {
            "schema": {
                "type": "object",
                "properties": {
                    "file": {"type": "array", "items": {"type": "string", "format": "binary"}}
                },
            }
        },
    }
}
MAX_FILES = 50


def _messages(limit: int) -> list[tuple[str | None, bytes]]:
    """The messages of the request, each read up to ``limit`` + 1 bytes."""
    if request.mimetype == "multipart/form-data":
        uploads = request.files.getlist("file")
        if not uploads:
            raise ValidationError({"file": ["Send each message as the multipart field 'file'."]})
        if len(uploads) > MAX_FILES:
            raise ValidationError({"file": [f"At most {MAX_FILES} messages at a time."]})
        return [(u.filename or None, u.stream.read(limit + 1)) for u in uploads]
    if request.mimetype in ("message/rfc822", "message/global"):
        if (request.content_length or 0) > limit:
            raise BadRequest(f"The message is larger than {limit // (1024 * 1024) or 1} MB.", 413)
        return [(None, request.stream.read(limit + 1))]
    raise BadRequest(
        "Send the message with Content-Type: message/rfc822, or as multipart field 'file'.", 415
    )


def blueprint() -> Blueprint:
    """The ``marketing_tracking`` blueprint."""
    blp = Blueprint(
        "marketing_tracking",
        __name__,
        url_prefix="/api/v1",
        description="Marketing: bounces and the subscription form",
    )

    @blp.route("/marketing/bounces", methods=["POST"])
    @blp.doc(
        summary="Record bounces from DSN messages (RFC 3464)",
        description="The raw message (Content-Type: message/rfc822) or multipart field 'file' "
        "(repeatable). Needs the marketing.send permission. Answers one item per message: "
        "recorded (with its bounces) or ignored (not a DSN, or no failed recipient).",
        requestBody=_BODY,
        responses={
            200: {"description": "OK", "content": {"application/json": {"schema": _RESULT}}}
        },
    )
    @blp.response(200)
    def post_bounces() -> Any:
        crm = current_crm()
        if not g.crm_access.has("marketing.send"):
            raise PermissionDenied("You may not record bounces (marketing.send).")
        limit = bounces.max_bytes(crm)
        messages = _messages(limit)
        reports = []
        for index, (name, raw) in enumerate(messages):
            try:
                reports.append(bounces.parse(raw, limit))
            except bounces.TooLarge as exc:
                raise BadRequest(exc.detail, 413) from None
            except bounces.MalformedReport as exc:
                where = name or (f"message {index + 1}" if len(messages) > 1 else "message")
                raise ValidationError({"file": [f"{where}: {exc.detail}"]}, exc.detail) from None
        outcomes = bounces.record_reports(crm, reports)
        return {
            "data": [
                {"file": name, **outcome.as_dict()}
                for (name, _raw), outcome in zip(messages, outcomes, strict=True)
            ]
        }

    @blp.route("/marketing/subscribe-url")
    @blp.doc(summary="The public link of the subscription form (?segment_id= for a static segment)")
    @blp.response(200)
    def subscribe_url() -> Any:
        crm = current_crm()
        raw = request.args.get("segment_id", "")
        if not raw:
            return {"url": subscribe.subscribe_url(crm), "segment_id": None}
        records = crm.records(g.crm_access)
        try:
            segment = records.get("segments", raw, "update")
        except NotFound:
            raise ValidationError({"segment_id": ["No such segment."]}) from None
        if segment.kind != "static":
            raise ValidationError(
                {"segment_id": ["Only a static segment (a list) can be joined from the form."]}
            )
        return {"url": subscribe.subscribe_url(crm, segment.id), "segment_id": segment.id}

    return blp
