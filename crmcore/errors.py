"""Errors of the record service; the API turns each into an ``application/problem+json`` answer."""

from __future__ import annotations

from typing import Any


class CRMError(Exception):
    """Base of the errors a caller is expected to handle."""

    status = 400
    title = "Bad request"

    def __init__(self, detail: str = "", **extra: Any) -> None:
        super().__init__(detail or self.title)
        self.detail = detail or self.title
        self.extra = extra


class ValidationError(CRMError):
    """Input was refused; ``messages`` maps field names to lists of messages."""

    status = 422
    title = "Validation failed"

    def __init__(self, messages: dict[str, Any] | str, detail: str = "") -> None:
        if isinstance(messages, str):
            messages = {"_schema": [messages]}
        super().__init__(detail or "The input has errors; see the errors of each field.")
        self.messages = messages


class BadRequest(CRMError):
    """A request the API cannot take (wrong content type, malformed or oversized body...)."""

    def __init__(self, detail: str, status: int = 400) -> None:
        super().__init__(detail)
        self.status = status
        self.title = {413: "Payload too large", 415: "Unsupported media type"}.get(
            status, "Bad request"
        )


class Unauthorized(CRMError):
    """No valid credentials."""

    status = 401
    title = "Unauthorized"


class PermissionDenied(CRMError):
    status = 403
    title = "Forbidden"


class NotFound(CRMError):
    status = 404
    title = "Not found"


class Conflict(CRMError):
    status = 409
    title = "Conflict"


class StaleRecord(CRMError):
    """The record changed since the caller read it (``If-Match`` did not match)."""

    status = 412
    title = "Precondition failed"


class ServiceUnavailable(CRMError):
    """The database cannot serve now (busy or down); the client retries after ``retry_after``
    seconds."""

    status = 503
    title = "Service unavailable"

    def __init__(self, detail: str = "", retry_after: int = 2) -> None:
        super().__init__(detail or "The service is busy or restarting; try again shortly.")
        self.retry_after = retry_after
