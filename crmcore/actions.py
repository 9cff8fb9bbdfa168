"""Record actions: operations an entity declares once (convert a lead, send a quote) that the
core turns into an API endpoint, a button or dialog on the record's page, a bulk action on the
list, an audit row and a step automation can run by name.

A plugin declares them on its ``Entity(actions=[...])`` or, for another plugin's entity, from
the ``crm_record_actions`` hook. :func:`run_action` is the one way to run them: it checks the
permission (403), the record's state (409), the input (422), calls the handler inside the
caller's record service and writes the audit row.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import marshmallow
from marshmallow import Schema

from .audit import SECRET_FIELDS, record_audit
from .contributions import ACTIONS
from .errors import Conflict, NotFound, PermissionDenied, ValidationError
from .plugins import PluginConflictError

if TYPE_CHECKING:
    from .app import CRM
    from .records import RecordService
    from .registry import Entity, Registry

log = logging.getLogger(__name__)

#: What an action may not be called: the record's own sub-paths and the audit's actions.
RESERVED = frozenset({*ACTIONS, "restore", "history", "timeline", "edit", "actions"})
_NAME = re.compile(r"^[a-z][a-z0-9_]{0,15}$")


@dataclass(frozen=True)
class ActionResult:
    """What a handler answers.

    :param data: the API's JSON body; ``None`` answers the record as it is after the action.
    :param status: the API's status code; ``None``: the action's ``status``.
    :param target: ``(plural, id)`` of the record the action made: the browser lands on it and
        the API answers its URL in ``Location``. ``None`` stays on the record; ``(plural, None)``
        lands on the list (the action deleted the record).
    :param message: what the page says on success (an English message id, translated on
        display; ``message_args`` fill its ``%(name)s`` placeholders).
    """

    data: Mapping[str, Any] | None = None
    status: int | None = None
    target: tuple[str, int | None] | None = None
    message: str = ""
    message_args: Mapping[str, Any] = field(default_factory=dict)


Handler = Callable[["RecordService", Any, dict[str, Any]], "ActionResult | None"]


@dataclass(frozen=True)
class RecordAction:
    """An operation on one record, declared once.

    :param name: lower-case identifier, at most 16 characters: the last segment of
        ``POST /api/v1/<plural>/<id>/<name>`` and the audit row's action.
    :param label: the button's text (English; translated through the catalogues).
    :param handler: ``handler(records, record, data)`` does the work through ``records`` (the
        caller's record service) with ``data`` loaded by ``schema``; it may commit. It returns
        an :class:`ActionResult` or ``None``; it raises ``crmcore.Conflict`` or
        ``crmcore.ValidationError`` to refuse.
    :param permission: ``"update"`` (or another of read/create/update/delete) for that access
        to this very record, or a named permission (``"orders.create"``, ``"sales.convert"``).
    :param applies: ``applies(record)`` returns ``None`` when the action can run on the record
        as it is, else the reason it cannot (an English message id): the button is shown
        disabled with it and the API answers 409 with it.
    :param schema: the marshmallow schema of the input, or ``None`` when there is none. Its
        fields become the inputs of the action's dialog (labelled ``metadata["label"]`` or
        after the name); a field with ``metadata={"reference": "<plural>"}`` is a choice of
        the records the user may read;
        ``load_only`` fields and secret names are left out of the audit row.
    :param bulk: whether the list page offers it for the selected records.
    :param destructive: whether the page asks for a confirmation first.
    :param field: a field that only this action changes (``"status"``): forms show it read-only
        with the action's button beside it ...
    :param value: ... or, with ``value``, only the action sets that value (a lead becomes
        ``"converted"``), so forms offer the other values and lock the field once it holds it.
    :param entity: the entity (name or plural), for actions contributed by the
        ``crm_record_actions`` hook; empty on an ``Entity``'s own actions.
    :param description: one line for the OpenAPI entry and the dialog.
    :param status: the API's status code on success (``201`` when it creates a record,
        ``202`` when a job finishes it).
    """

    name: str
    label: str
    handler: Handler
    permission: str = "update"
    applies: Callable[[Any], str | None] | None = None
    schema: type[Schema] | None = None
    bulk: bool = False
    destructive: bool = False
    field: str | None = None
    value: Any = None
    entity: str = ""
    description: str = ""
    status: int = 200

    def __post_init__(self) -> None:
        if not _NAME.match(self.name) or self.name in RESERVED:
            raise ValueError(
                f"action {self.name!r}: use 1-16 lower-case letters, digits or _, not one of "
                f"{sorted(RESERVED)}"
            )

    def reason(self, record: Any) -> str | None:
        """Why the action cannot run on ``record`` now, or ``None``."""
        return self.applies(record) if self.applies is not None else None

    def secret(self, name: str) -> bool:
        """Is the input field ``name`` a secret (a password field, never echoed or audited)?"""
        if self.schema is None:
            return False
        schema_field = self.schema._declared_fields.get(name)
        hidden = schema_field is not None and (
            schema_field.load_only or schema_field.metadata.get("secret")
        )
        return bool(hidden) or name in SECRET_FIELDS or "password" in name


#: entity name -> action name -> (contributing plugin, action)
ActionTable = dict[str, dict[str, tuple[str, RecordAction]]]


def collect_actions(
    registry: Registry, contributed: Iterable[tuple[str, RecordAction]]
) -> ActionTable:
    """Every action of every entity: the entities' own, then those of ``crm_record_actions``.

    Two actions of the same name on one entity are refused, naming both plugins.
    """
    table: ActionTable = {}

    def add(entity: Entity, plugin: str, action: RecordAction) -> None:
        mine = table.setdefault(entity.name, {})
        if action.name in mine:
            raise PluginConflictError(
                f"plugins {mine[action.name][0]!r} and {plugin!r} both add the action "
                f"{action.name!r} to {entity.plural!r}"
            )
        mine[action.name] = (plugin, action)

    for entity in registry:
        for action in entity.actions:
            add(entity, entity.plugin, action)
    for plugin, action in contributed:
        try:
            entity = registry.get(action.entity)
        except KeyError:
            continue  # the plugin owning that entity is not installed
        add(entity, plugin, action)
    return table


def actions_of(crm: CRM, entity: Entity) -> list[RecordAction]:
    """The actions of ``entity`` that enabled plugins contribute, in declaration order."""
    enabled = crm.enabled_plugins()
    return [
        action
        for plugin, action in crm.actions.get(entity.name, {}).values()
        if plugin in enabled or plugin in crm.builtin_names
    ]


def find_action(crm: CRM, entity: Entity, name: str) -> RecordAction:
    """The enabled action ``name`` of ``entity``; ``NotFound`` otherwise."""
    for action in actions_of(crm, entity):
        if action.name == name:
            return action
    raise NotFound(f"No action {name!r} on {entity.plural}.")


def permitted(records: RecordService, entity: Entity, action: RecordAction, record: Any) -> bool:
    """Whether the user of ``records`` holds the action's permission for ``record``."""
    access = records.access
    if action.permission in ACTIONS:
        return access.allows_record(entity, action.permission, record, records.session)
    return access.has(action.permission)


def load_input(action: RecordAction, data: Mapping[str, Any] | None) -> dict[str, Any]:
    """``data`` loaded by the action's schema; ``ValidationError`` (422) per field."""
    if action.schema is None:
        return {}
    try:
        loaded: dict[str, Any] = action.schema().load(dict(data or {}))
    except marshmallow.ValidationError as exc:
        raise ValidationError(exc.messages) from None  # type: ignore[arg-type]
    return loaded


def check(records: RecordService, entity: Entity, action: RecordAction, record: Any) -> None:
    """403 without the permission, 409 with the reason when the record's state forbids it."""
    if not permitted(records, entity, action, record):
        raise PermissionDenied("You may not run this action on this record.")
    reason = action.reason(record)
    if reason:
        raise Conflict(reason)


def run_action(
    service: RecordService,
    entity: Entity | str,
    record: Any,
    name: str,
    data: Mapping[str, Any] | None = None,
) -> ActionResult:
    """Run the action ``name`` on ``record`` (a record or its id) as the service's user.

    The one way actions run - from the API, the pages, bulk lists and automation: 404 when the
    record is not readable, 403 without the permission, 409 when its state forbids the action,
    422 for bad input; then the handler, an audit row (the action's name and its inputs, secrets
    left out) and a commit. On any error the transaction is rolled back. After the commit,
    the ``crm_record_action_performed`` hook is called.
    """
    from .records import RecordEvent

    entity = service.entity(entity)
    action = find_action(service.crm, entity, name)
    if not hasattr(record, "__table__"):
        record = service.get(entity, record)
    try:
        check(service, entity, action, record)
        values = load_input(action, data)
        result = action.handler(service, record, values) or ActionResult()
        inputs = {k: (None, v) for k, v in values.items() if not action.secret(k)}
        record_audit(
            service.session, entity.name, record.id, action.name, service.access.user_id, inputs
        )
        service.commit()
    except Exception:
        service.rollback()
        raise
    event = RecordEvent(entity, record, action.name, inputs, service.user, service)
    try:
        service.crm.hook("crm_record_action_performed")(event=event)
    except Exception:  # the action is committed; a failing listener must not undo the answer
        log.exception("crm_record_action_performed failed for %s %s", entity.name, record.id)
    return result
