"""How the API and pages tell a caller about likely duplicates of what they create."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from flask import Response, request
from flask_babel import gettext
from flask_babel import lazy_gettext as _l

from ..registry import Entity
from .matching import RULES, SCORES, Candidate

#: messages of errors raised in this package, translated when shown; listed for extraction
RUNTIME_STRINGS = (
    _l("limit must be a whole number from 1 to 200."),
    _l("Not a cursor of this list; use the next_cursor of the previous page."),
    _l("Duplicates are not looked for in %(name)s."),
    _l("You may not look for duplicates here."),
)

#: the query parameter asking ``POST /api/v1/<plural>`` to refuse a likely duplicate (409)
STRICT_PARAMETER = "strict"


def strict_requested() -> bool:
    """Whether the request asks for strict mode: ``?strict=1`` (or ``true``)."""
    return request.args.get(STRICT_PARAMETER, "").strip().lower() in ("1", "true", "yes")


def reason_labels() -> dict[str, str]:
    """Why two records look alike, in the reader's language, by reason code."""
    return {
        "email": gettext("same e-mail"),
        "phone": gettext("same phone"),
        "name": gettext("same name"),
        "similar_name": gettext("similar name"),
        "domain": gettext("same web domain"),
    }


def as_json(found: Sequence[Candidate]) -> list[dict[str, Any]]:
    """The ``duplicates`` hint: ``[{"id", "title", "score", "reasons"}]``, best first."""
    return [c.as_json() for c in found]


def conflict(entity: Entity, found: Sequence[Candidate]) -> Response:
    """The strict mode's refusal: a 409 problem whose ``duplicates`` lists the candidates."""
    from ..api.problems import problem

    response = problem(
        409,
        gettext("Conflict"),
        gettext(
            "This %(thing)s may already exist; nothing was created. "
            "Send the request without strict=1 to create it anyway.",
            thing=gettext(entity.title).lower(),
        ),
    )
    body = json.loads(response.get_data())
    body["duplicates"] = as_json(found)
    response.set_data(json.dumps(body))
    return response


def strict_parameter_doc(entity: Entity) -> list[dict[str, Any]]:
    """The OpenAPI entry of ``?strict`` on the create operation of an entity with a rule."""
    if entity.name not in RULES:
        return []
    return [
        {
            "in": "query",
            "name": STRICT_PARAMETER,
            "schema": {"type": "boolean"},
            "description": "Refuse (409, with the candidates in `duplicates`) a record that "
            "may duplicate an existing one; without it the record is created and the answer "
            "carries the `duplicates` hint.",
        }
    ]


#: the ``duplicates`` hint of a create's answer, as the OpenAPI document declares it
HINT_SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "required": ["id", "title", "score", "reasons"],
    "properties": {
        "id": {"type": "integer"},
        "title": {"type": "string"},
        "score": {"type": "integer", "minimum": 0, "maximum": 100},
        "reasons": {
            "type": "array",
            "items": {
                "type": "string",
                "enum": sorted(SCORES),
            },
        },
    },
}


def document_hints(spec: dict[str, Any], entities: Sequence[Entity], component: Any) -> None:
    """Declare, in the OpenAPI document ``spec``, the ``duplicates`` member that a create of an
    entity with duplicate rules may answer: a ``<Name>Created`` schema (the record plus the
    hint) for the ``201`` of ``POST /api/v1/<plural>``."""
    schemas = spec.setdefault("components", {}).setdefault("schemas", {})
    for entity in entities:
        name = component(entity)
        if entity.name not in RULES or name not in schemas:
            continue
        operation = spec.get("paths", {}).get(f"/api/v1/{entity.plural}", {}).get("post")
        content = (operation or {}).get("responses", {}).get("201", {}).get("content", {})
        if "application/json" not in content:
            continue
        schemas.setdefault("DuplicateHint", HINT_SCHEMA)
        created = json.loads(json.dumps(schemas[name]))
        created.setdefault("properties", {})["duplicates"] = {
            "type": "array",
            "items": {"$ref": "#/components/schemas/DuplicateHint"},
            "description": "Likely duplicates among the records the caller may read; present "
            "only when there are some (?strict=1 answers 409 instead)",
        }
        schemas[f"{name}Created"] = created
        content["application/json"]["schema"] = {"$ref": f"#/components/schemas/{name}Created"}
