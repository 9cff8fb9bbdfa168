"""The OpenAPI document tells the truth: what it declares is what the API answers and accepts.

- a field that can be ``null`` is ``nullable`` (read-only fields follow their column);
- decimals are strings, as they are serialised;
- every operation lists the error statuses it can answer, each as ``application/problem+json``,
  and nothing else (no catch-all ``default``);
- PATCH bodies have their own ``<Name>Patch`` schema, without required fields;
- a disabled plugin's operations, and the schemas only they use, are left out;
- an entity's schema is named after the entity (``automation_item`` -> ``AutomationItem``), so
  two plugins' ``ItemSchema`` classes never meet; two other schema classes that would share a
  name are refused at start-up, naming both (never renamed ``Item1`` by load order).
"""

from __future__ import annotations

import re
from typing import Any

from flask import Flask
from marshmallow import fields

from .problems import PROBLEM_JSON

METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
WRITES = ("post", "put", "patch", "delete")
PROBLEM_REF = {"$ref": "#/components/schemas/Problem"}
DECIMAL_PATTERN = r"^-?[0-9]+(\.[0-9]+)?$"

#: what each error status means, as documented on every operation that can answer it
ERROR_TEXTS = {
    400: "Bad request: a malformed query, header or body",
    401: "No valid token (Authorization: Bearer <token>)",
    403: "The token's user may not do this",
    404: "No such record, or not one the user may read",
    409: "Conflicts with the current state (a value already taken, a state that forbids it)",
    412: "The record changed meanwhile (If-Match)",
    413: "The body is too large",
    415: "The body is not of the documented content type",
    422: "Validation failed; see the errors of each field",
    429: "Too many requests; retry later",
    503: "Temporarily unavailable (the database is busy or down); retry later",
}


def error_responses(*codes: int) -> dict[int, dict[str, Any]]:
    """``responses`` for ``@blp.doc``: error statuses an operation answers besides those the
    document derives for it (400, 401/403, 404 with path parameters, 409/412 on writes, 413/415/422
    with a body, 422 with query parameters, 429, 503)."""
    return {
        code: {
            "description": ERROR_TEXTS.get(code, "Error"),
            "content": {PROBLEM_JSON: {"schema": dict(PROBLEM_REF)}},
        }
        for code in codes
    }


def decimal_as_string(converter: Any, field: fields.Field, ret: dict[str, Any]) -> dict[str, Any]:
    """apispec attribute function: decimals are serialised as JSON strings, so document them so.

    Bounds of a ``Range`` validator stay in the description (``minimum`` means nothing for a
    string).
    """
    if not isinstance(field, fields.Decimal):
        return {}
    bounds = []
    for key, word in (("minimum", "at least"), ("maximum", "at most")):
        if key in ret:
            bounds.append(f"{word} {ret.pop(key)}")
    ret.pop("exclusiveMinimum", None)
    ret.pop("exclusiveMaximum", None)
    out: dict[str, Any] = {"type": "string", "format": "decimal", "pattern": DECIMAL_PATTERN}
    if bounds:
        text = "A decimal number as a string, " + " and ".join(bounds) + "."
        ret["description"] = f"{ret['description']} {text}" if ret.get("description") else text
    return out


def nullable_columns(schema_columns: dict[type, dict[str, bool]]) -> Any:
    """apispec attribute function: a read-only field of an entity is nullable when its column is.

    ``schema_columns`` maps each entity's schema class to ``{field: column is nullable}``.
    Writable fields declare ``allow_none`` themselves (the loader then accepts ``null``).
    """

    def nullable(converter: Any, field: fields.Field, ret: dict[str, Any]) -> dict[str, Any]:
        parent = getattr(field, "parent", None)
        columns = schema_columns.get(type(parent)) if parent is not None else None
        if not columns or not field.dump_only or ret.get("nullable"):
            return {}
        column = field.attribute or field.name
        return {"nullable": True} if columns.get(column or "") else {}

    return nullable


def patch_schema_name(component: str) -> str:
    return f"{component}Patch"


def entity_component_name(entity: Any) -> str:
    """The schema name of an entity in the document: its name in CamelCase."""
    return "".join(part[:1].upper() + part[1:] for part in entity.name.split("_"))


class SchemaNames:
    """apispec's ``schema_name_resolver`` for one API: entity schemas by entity name, others by
    class name without ``Schema``; a name two schema classes would share is a plugin conflict."""

    def __init__(self, registry: Any, plugin_of: Any) -> None:
        self.entities = {entity.full_schema: entity_component_name(entity) for entity in registry}
        self.plugin_of = plugin_of
        self.taken: dict[str, type] = {}

    def __call__(self, schema: Any) -> str:
        from apispec.ext.marshmallow.common import resolve_schema_cls

        from ..plugins import PluginConflictError

        resolved = resolve_schema_cls(schema)
        cls = resolved[0] if isinstance(resolved, list) else resolved
        name = self.entities.get(cls)
        if name is None:
            name = cls.__name__.removesuffix("Schema") or cls.__name__
        other = self.taken.setdefault(name, cls)
        if other is not cls:
            raise PluginConflictError(
                f"two schemas would be called {name!r} in the OpenAPI document: "
                f"{_where(other, self.plugin_of)} and {_where(cls, self.plugin_of)}; "
                "rename one of the classes"
            )
        return name


def _where(cls: type, plugin_of: Any) -> str:
    plugin = plugin_of(cls.__module__)
    owner = f" (plugin {plugin!r})" if plugin else ""
    return f"{cls.__module__}.{cls.__qualname__}{owner}"


def truthful(spec: dict[str, Any], app: Flask, hidden_tags: set[str]) -> dict[str, Any]:
    """``spec`` (a copy of flask-smorest's document) made to tell the truth, in place."""
    paths = spec.get("paths", {})
    for path in list(paths):
        item = paths[path]
        for method in list(item):
            op = item[method]
            if method in METHODS and set(op.get("tags", ())) & hidden_tags:
                del item[method]
        if not any(m in METHODS for m in item):
            del paths[path]
    spec["tags"] = [t for t in spec.get("tags", []) if t["name"] not in hidden_tags]
    public = public_operations(app)
    for path, item in paths.items():
        shared = item.get("parameters", [])
        for method in [m for m in item if m in METHODS]:
            document_errors(path, method, item[method], shared, (path, method) in public)
    components = spec.get("components", {})
    components.pop("responses", None)  # flask-smorest's DEFAULT_ERROR and friends: unused now
    _prune_schemas(spec)
    return spec


def document_errors(
    path: str, method: str, op: dict[str, Any], shared: list[dict[str, Any]], public: bool
) -> None:
    """Replace ``op``'s error responses by the statuses it can answer, as problem+json."""
    params = [*shared, *op.get("parameters", [])]
    has_body = "requestBody" in op
    codes = {400, 429, 503}
    if not public:
        codes |= {401, 403}
    elif op.get("security") == []:
        codes.add(401)  # a public operation that takes credentials itself (the token request)
    if "{" in path:
        codes.add(404)
    if method in WRITES:
        codes |= {409, 412}
    if has_body:
        codes |= {413, 415, 422}
    if any(p.get("in") == "query" for p in params):
        codes.add(422)
    responses = op.setdefault("responses", {})
    for code in list(responses):
        if code == "default" or code[:1] in ("4", "5"):
            if code != "default" and not responses[code].get("x-crm-generic"):
                codes.add(int(code))  # declared by the operation itself
            del responses[code]
    for code in sorted(codes):
        responses[str(code)] = {
            "description": ERROR_TEXTS.get(code, "Error"),
            "content": {PROBLEM_JSON: {"schema": dict(PROBLEM_REF)}},
        }


def public_operations(app: Flask) -> set[tuple[str, str]]:
    """``(OpenAPI path, method)`` of the API views that need no token."""
    out: set[tuple[str, str]] = set()
    for rule in app.url_map.iter_rules():
        view = app.view_functions.get(rule.endpoint)
        if view is None or not getattr(view, "crm_public", False):
            continue
        path = re.sub(r"<(?:[^<>:]+:)?([^<>]+)>", r"{\1}", rule.rule)
        for method in rule.methods or ():
            out.add((path, method.lower()))
    return out


def _refs(node: Any, found: set[str]) -> None:
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/components/schemas/"):
            found.add(ref.rsplit("/", 1)[-1])
        for value in node.values():
            _refs(value, found)
    elif isinstance(node, list):
        for value in node:
            _refs(value, found)


def _prune_schemas(spec: dict[str, Any]) -> None:
    """Drop the component schemas no remaining operation uses (a disabled plugin's)."""
    schemas = spec.get("components", {}).get("schemas", {})
    used: set[str] = set()
    _refs(spec.get("paths", {}), used)
    todo = list(used)
    while todo:
        name = todo.pop()
        more: set[str] = set()
        _refs(schemas.get(name, {}), more)
        for extra in more - used:
            used.add(extra)
            todo.append(extra)
    for name in list(schemas):
        if name not in used:
            del schemas[name]
