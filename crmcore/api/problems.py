"""Errors as ``application/problem+json`` (RFC 9457), with per-field messages in ``errors``."""

from __future__ import annotations

import logging
from typing import Any

from flask import Response, json, request
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
    errors = getattr(error, "messages", None)
    return problem(error.status, error.title, error.detail, errors)


def from_http_exception(error: HTTPException) -> Response:
    data = getattr(error, "data", None) or {}
    errors = data.get("errors") or data.get("messages")
    if isinstance(errors, dict) and set(errors) <= {"json", "query", "form", "files"}:
        merged: dict[str, Any] = {}
        for part in errors.values():
            merged.update(part)
        errors = merged
    headers = dict(data.get("headers") or {})
    if error.code == 405 and error.valid_methods:  # type: ignore[attr-defined]
        headers["Allow"] = ", ".join(error.valid_methods)  # type: ignore[attr-defined]
    detail = data.get("message") or error.description or ""
    if error.code == 422 and errors:
        detail = "The input has errors; see the errors of each field."
    return problem(error.code or 500, error.name, detail, errors, headers)


def from_unexpected(error: Exception) -> Response:
    log.exception("unhandled error on %s %s", request.method, request.path)
    return problem(500, "Internal server error", "Something went wrong on our side.")
