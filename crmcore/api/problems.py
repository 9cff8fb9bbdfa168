"""Errors as ``application/problem+json`` (RFC 9457), with per-field messages in ``errors``."""

from __future__ import annotations

import logging
from typing import Any

from flask import Response, json, request
from flask_babel import gettext
from werkzeug.exceptions import HTTPException

from ..errors import CRMError

log = logging.getLogger(__name__)

PROBLEM_JSON = "application/problem+json"


def problem(
    status: int,
    title: str,
    detail: str = "",
    errors: dict[str, Any] | None = None,
    headers: dict[str, str] | None = None,
) -> Response:
    body: dict[str, Any] = {"type": "about:blank", "title": title, "status": status}
    if detail:
        body["detail"] = detail
    if errors:
        body["errors"] = errors
    body["instance"] = request.path
    response = Response(json.dumps(body), status=status, mimetype=PROBLEM_JSON)
    for key, value in (headers or {}).items():
        response.headers[key] = value
    return response


def from_crm_error(error: CRMError) -> Response:
    """The problem for ``error``, in the language the client asked for (``Accept-Language``)."""
    errors = getattr(error, "messages", None)
    return problem(
        error.status,
        gettext(error.title),
        error.translated(),
        _translated_messages(errors),
    )


def _translated_messages(messages: Any) -> Any:
    """Per-field messages translated where the catalogues know them (the field names are not)."""
    if isinstance(messages, str):
        return gettext(messages)
    if isinstance(messages, list):
        return [_translated_messages(m) for m in messages]
    if isinstance(messages, dict):
        return {k: _translated_messages(v) for k, v in messages.items()}
    return messages


def from_http_exception(error: HTTPException) -> Response:
    data = getattr(error, "data", None) or {}
    errors = data.get("errors") or data.get("messages")
    if isinstance(errors, dict) and set(errors) <= {"json", "query", "form", "files"}:
        merged: dict[str, Any] = {}
        for part in errors.values():
            if isinstance(part, dict):
                merged.update(part)
            else:  # webargs' messages about the whole body come as a list
                merged.setdefault("_body", []).extend(part)
        errors = merged
    headers = dict(data.get("headers") or {})
    if error.code == 405 and error.valid_methods:  # type: ignore[attr-defined]
        headers["Allow"] = ", ".join(error.valid_methods)  # type: ignore[attr-defined]
    detail = data.get("message") or error.description or ""
    if error.code == 422 and errors:
        detail = "The input has errors; see the errors of each field."
    return problem(
        error.code or 500,
        gettext(error.name),
        gettext(detail),
        _translated_messages(errors),
        headers,
    )


def from_unexpected(error: Exception) -> Response:
    log.exception("unhandled error on %s %s", request.method, request.path)
    return problem(500, "Internal server error", "Something went wrong on our side.")
