"""The one way JSON request bodies are read: the record endpoints' :func:`json_body` and every
``@blp.arguments`` of flask-smorest (through :class:`JSONBodyParser`) alike.

A body that is not JSON, nests deeper than :data:`MAX_DEPTH`, holds a lone surrogate
(``"\\ud800"``, which no database or encoder takes) or is larger than :data:`MAX_JSON_BYTES` is a
400/413 problem, never a 500.
"""

from __future__ import annotations

import json
from typing import Any

from flask import Flask, Request, request
from flask.json.provider import DefaultJSONProvider
from flask_smorest import Blueprint
from marshmallow import missing
from webargs import core
from webargs.flaskparser import FlaskParser

from ..errors import BadRequest

MAX_JSON_BYTES = 1024 * 1024
#: Nesting deeper than this is refused (no input of the CRM needs more).
MAX_DEPTH = 64
NOT_JSON = "The body is not valid JSON."
NESTS_TOO_DEEP = "The body nests deeper than 64 levels."


def parse_json(raw: bytes, max_bytes: int | None = MAX_JSON_BYTES) -> Any:
    """``raw`` parsed as JSON, or :class:`~crmcore.errors.BadRequest` saying why not."""
    if max_bytes is not None and len(raw) > max_bytes:
        raise BadRequest("The body is too large.", 413)
    try:
        data = json.loads(raw)
    except (ValueError, RecursionError):  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        raise BadRequest(NOT_JSON) from None
    problem = _shape_problem(data)
    if problem:
        raise BadRequest(problem)
    return data


def _shape_problem(data: Any) -> str | None:
    """Why ``data`` cannot be taken although it parsed: too deep, or a lone surrogate."""
    stack: list[tuple[Any, int]] = [(data, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, str):
            if not _encodable(item):
                return "The body holds an invalid character (a lone UTF-16 surrogate)."
        elif isinstance(item, dict | list):
            if depth > MAX_DEPTH:
                return NESTS_TOO_DEEP
            values = item.items() if isinstance(item, dict) else ((None, v) for v in item)
            for key, value in values:
                if key is not None:
                    stack.append((key, depth))
                stack.append((value, depth + 1))
    return None


def _encodable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def request_json() -> Any:
    """The current request's body parsed by :func:`parse_json` (415 when it is not JSON)."""
    if not request.is_json:
        raise BadRequest("Send JSON with Content-Type: application/json.", 415)
    if (request.content_length or 0) > MAX_JSON_BYTES:
        raise BadRequest("The body is too large.", 413)
    return parse_json(request.get_data(cache=True))


class JSONBodyParser(FlaskParser):  # type: ignore[misc]
    """webargs' Flask parser reading JSON through :func:`parse_json`."""

    def _raw_load_json(self, req: Request) -> Any:
        if not core.is_json(req.mimetype):
            return missing
        if (req.content_length or 0) > MAX_JSON_BYTES:
            raise BadRequest("The body is too large.", 413)
        raw = req.get_data(cache=True)
        return parse_json(raw) if raw else missing


class JSONProvider(DefaultJSONProvider):
    """Flask's JSON with :func:`parse_json`'s checks, so ``request.get_json()`` anywhere (plugins
    included) answers 400 - or ``None`` when silent - instead of failing later."""

    sort_keys = False  # keep the schemas' field order

    def loads(self, s: str | bytes, **kwargs: Any) -> Any:
        try:
            raw = s.encode("utf-8", "surrogatepass") if isinstance(s, str) else s
            return parse_json(raw, max_bytes=None)  # request bodies are measured before
        except BadRequest as exc:
            raise ValueError(exc.detail) from None


def use_json_body_parser(app: Flask) -> None:
    """Read every JSON body through :func:`parse_json`: the app's JSON provider and the parser
    of every flask-smorest blueprint (a class attribute of flask-smorest: call this before the
    blueprints are built)."""
    app.json = JSONProvider(app)
    if not isinstance(Blueprint.ARGUMENTS_PARSER, JSONBodyParser):
        Blueprint.ARGUMENTS_PARSER = JSONBodyParser()
