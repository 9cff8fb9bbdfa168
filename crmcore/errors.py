"""Errors of the record service; the API turns each into an ``application/problem+json`` answer."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Term:
    """A parameter of an error message that is itself translated: an entity's title, a verb.

    :param text: the English message id (``"Contact"``, ``"read"``).
    :param context: the catalogue context (``"verb"``), or ``None``.
    :param lower: shown in lower case (``"No contact with id 5."``).
    """

    text: str
    context: str | None = None
    lower: bool = False

    def render(self, translate: Callable[[str, str | None], str]) -> str:
        shown = translate(self.text, self.context)
        return shown.lower() if self.lower else shown

    def __str__(self) -> str:
        return self.text.lower() if self.lower else self.text


class CRMError(Exception):
    """Base of the errors a caller is expected to handle.

    ``detail`` may be a message template with ``%(name)s`` placeholders filled from ``params``;
    the API and pages translate the template, then fill it (``Term`` parameters translated too),
    so the reader gets the message in their language. ``str(error)`` is the English text.
    """

    status = 400
    title = "Bad request"

    def __init__(
        self, detail: str = "", *, params: Mapping[str, Any] | None = None, **extra: Any
    ) -> None:
        self.template = detail or self.title
        self.params = dict(params or {})
        self.detail = self.template % self.params if self.params else self.template
        super().__init__(self.detail)
        self.extra = extra

    def localised(self, translate: Callable[[str, str | None], str]) -> str:
        """The detail in the reader's language; ``translate(message, context)`` looks it up."""
        text = translate(self.template, None)
        if not self.params:
            return text
        values = {
            k: v.render(translate) if isinstance(v, Term) else v for k, v in self.params.items()
        }
        try:
            return text % values
        except (KeyError, TypeError, ValueError):  # a broken translation: fall back to English
            return self.detail

    def translated(self) -> str:
        """The detail in the language of the current request (Flask-Babel's locale)."""
        from flask_babel import gettext, pgettext

        return self.localised(
            lambda text, context: pgettext(context, text) if context else gettext(text)
        )


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
    """The user may not do this (403)."""

    status = 403
    title = "Forbidden"


class NotFound(CRMError):
    """No such record, or not one the user may read (404)."""

    status = 404
    title = "Not found"


class Conflict(CRMError):
    """The request conflicts with the current state: a value already taken, a state that
    forbids it (409)."""

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
