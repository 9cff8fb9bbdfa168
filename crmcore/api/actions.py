"""``POST /api/v1/<plural>/<id>/<action>``: one endpoint and OpenAPI entry per record action."""

from __future__ import annotations

from typing import Any

from flask import request, url_for
from flask_smorest import Blueprint

from ..actions import RecordAction, run_action
from ..app import CRM, current_crm
from ..errors import NotFound
from ..registry import Entity
from .problems import PROBLEM_JSON
from .resources import json_body, records


def _problem(text: str) -> dict[str, Any]:
    return {
        "description": text,
        "content": {PROBLEM_JSON: {"schema": {"$ref": "#/components/schemas/Problem"}}},
    }


def add_routes(blp: Blueprint, crm: CRM, entity: Entity) -> None:
    """Add the endpoint of every action of ``entity`` (whatever plugin contributed it) to the
    entity's blueprint; an action of a disabled plugin answers 404."""
    for plugin, action in crm.actions.get(entity.name, {}).values():
        _add(blp, entity, plugin, action)


def _add(blp: Blueprint, entity: Entity, plugin: str, action: RecordAction) -> None:
    def view(record_id: int) -> Any:
        crm = current_crm()
        if plugin not in crm.enabled_plugins() and plugin not in crm.builtin_names:
            raise NotFound("No such action.")
        service = records()
        data = _body() if action.schema is not None else {}
        result = run_action(service, entity, record_id, action.name, data)
        if result.data is not None:
            response = crm.app.json.response(dict(result.data))
        else:
            record = service.get(entity, record_id)
            response = crm.app.json.response(entity.dump_schema.dump(record))
            response.headers["ETag"] = f'"{record.version}"'
        response.status_code = result.status or action.status
        if result.target is not None and result.target[1] is not None:
            plural, target_id = result.target
            response.headers["Location"] = url_for(f"api_{plural}.Item", record_id=target_id)
        return response

    view.__name__ = f"action_{action.name}"
    view.__doc__ = action.description or action.label
    responses: dict[Any, Any] = {
        code: _problem(text)
        for code, text in (
            (401, "Not signed in"),
            (403, "You lack the action's permission"),
            (404, "No such record, or you may not read it"),
            (409, "The record's state forbids the action; `detail` says why"),
            (422, "Validation failed"),
        )
    }
    doc: dict[str, Any] = {
        "summary": f"{action.label} ({entity.title.lower()} action)",
        "description": action.description or action.label,
        "responses": responses,
        "x-crm-plugin": plugin,
    }
    if action.schema is not None:
        doc["requestBody"] = {
            "required": False,
            "content": {"application/json": {"schema": action.schema}},
        }
    documented = blp.response(action.status, description="Done")(blp.doc(**doc)(view))
    blp.route(f"/<int:record_id>/{action.name}", methods=["POST"], endpoint=view.__name__)(
        documented
    )


def _body() -> dict[str, Any]:
    """The JSON object sent, ``{}`` for an empty body (every input optional then)."""
    if not request.get_data(cache=True):
        return {}
    return json_body()
