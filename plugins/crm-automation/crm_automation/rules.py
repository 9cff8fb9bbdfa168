"""The ``workflow`` entity: its schema and the checks made when a rule is saved.

A rule is refused when saved - with a message naming the part - if its entity is unknown, its
trigger, a condition or an action does not compile, an action names a field the entity does not
have, or a template does not compile. Only holders of ``automation.system`` (administrators)
mark a rule "system" (it then runs with the system's rights) or change a system rule.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from crmcore import ValidationError
from crmcore.errors import NotFound, PermissionDenied
from crmcore.permissions import Access
from crmcore.registry import RecordSchema
from marshmallow import fields, validate

from . import catalog
from .conditions import compile_conditions
from .i18n import text as _
from .incoming import prepare_tokens

MAX_ACTIONS = 20
SYSTEM_PERMISSION = "automation.system"


class WorkflowSchema(RecordSchema):
    """A workflow rule as the API reads and writes it."""

    name = fields.String(required=True, validate=validate.Length(1, 200))
    description = fields.String(load_default="", validate=validate.Length(max=5000))
    entity = fields.String(
        required=True,
        validate=validate.Length(1, 64),
        metadata={"description": "The entity whose records fire the rule (contact, deal...)."},
    )
    trigger = fields.Dict(
        required=True,
        metadata={
            "description": 'What fires the rule: {"type": "field_changed", '
            '"field": "stage", "to": "won"}.'
        },
    )
    conditions = fields.String(
        load_default="",
        validate=validate.Length(max=2000),
        metadata={"description": "Filters in the list language: status=open&amount__gte=100."},
    )
    actions = fields.List(
        fields.Dict(),
        required=True,
        metadata={"description": 'Ordered actions: [{"type": "add_tags", "tags": ["vip"]}].'},
    )
    active = fields.Boolean(load_default=True)
    sequence = fields.Boolean(
        load_default=False,
        metadata={
            "description": "Enrol each record once; leave early on exit conditions or an opt-out."
        },
    )
    exit_conditions = fields.String(
        load_default="",
        validate=validate.Length(max=2000),
        metadata={
            "description": "A sequence ends for a record meeting these (checked before "
            "each step): replied=true."
        },
    )
    system = fields.Boolean(
        load_default=False,
        metadata={"description": "Runs with the system's rights; administrators only."},
    )
    rotate_hook_url = fields.Boolean(
        load_only=True,
        metadata={"description": "Make a new incoming-webhook URL (the old one stops working)."},
    )
    rotate_signing_secret = fields.Boolean(
        load_only=True,
        metadata={"description": "Make a new signing secret for the call-webhook actions."},
    )
    hook_url = fields.Method(
        "_hook_url",
        dump_only=True,
        metadata={"description": "The incoming-webhook URL: only in the answer that made it."},
    )
    signing_secret = fields.Method(
        "_signing_secret",
        dump_only=True,
        metadata={"description": "The call-webhook signing secret: only in the answer that "
                  "made it."},
    )

    def _hook_url(self, obj: Any) -> str | None:
        from .incoming import made_url

        return made_url(obj)

    def _signing_secret(self, obj: Any) -> str | None:
        from .incoming import made_secret

        return made_secret(obj)


def prepare_workflow(values: dict[str, Any], record: Any, service: Any) -> None:
    """Check the whole rule (the stored values with the changes over them) before it is saved."""
    current = (
        {
            name: getattr(record, name)
            for name in (
                "entity",
                "trigger",
                "conditions",
                "actions",
                "system",
                "owner_id",
                "sequence",
                "exit_conditions",
            )
        }
        if record is not None
        else {}
    )
    merged = {**current, **values}
    may_system = service.access.has(SYSTEM_PERMISSION)
    if not may_system and (merged.get("system") or current.get("system")):
        raise PermissionDenied(_("Only administrators may create or change system rules."))
    crm = service.crm
    entity = _entity(service, merged.get("entity"))
    if "entity" in values:
        values["entity"] = entity.name
    if not merged.get("system"):
        owner_id = merged.get("owner_id") if "owner_id" in merged else service.access.user_id
        if owner_id is None:
            raise ValidationError(
                {"owner_id": [_("A rule that is not a system rule needs an owner to act as.")]}
            )
        _check_owner_reads(service, entity, owner_id)
    _check_trigger(crm, entity, merged.get("trigger"))
    compile_conditions(crm, entity, merged.get("conditions") or "")
    if merged.get("exit_conditions"):
        if not merged.get("sequence"):
            raise ValidationError({"exit_conditions": [_("Exit conditions are for sequences.")]})
        try:
            compile_conditions(crm, entity, merged["exit_conditions"])
        except ValidationError as exc:
            raise ValidationError({"exit_conditions": exc.messages["conditions"]}) from None
    check_actions(crm, entity, merged.get("actions"))
    prepare_tokens(values, record, merged)


def _entity(service: Any, name: Any) -> Any:
    if not isinstance(name, str) or not name:
        raise ValidationError({"entity": [_("Choose the entity whose records fire the rule.")]})
    try:
        entity = service.entity(name)
    except NotFound:
        raise ValidationError(
            {"entity": [_("No entity called %(name)s.", name=repr(name))]}
        ) from None
    if entity.name == "workflow":
        raise ValidationError({"entity": [_("A rule cannot fire on rules.")]})
    return entity


def _check_owner_reads(service: Any, entity: Any, owner_id: Any) -> None:
    """The owner must read the entity, else the rule could never match a record."""
    from crmcore.users.models import User

    user = service.session.get(User, owner_id) if owner_id else None
    if user is None:
        return  # the record service refuses an unknown owner itself
    if not Access.for_user(user).can(entity, "read"):
        raise ValidationError(
            {"entity": [_("The rule's owner may not read %(entity)s.", entity=entity.plural)]}
        )


def _check_trigger(crm: Any, entity: Any, trigger: Any) -> None:
    if not isinstance(trigger, Mapping) or not trigger.get("type"):
        raise ValidationError({"trigger": [_('Choose a trigger: {"type": "created"} ...')]})
    kinds = catalog.triggers(crm)
    kind = kinds.get(str(trigger["type"]))
    if kind is None:
        raise ValidationError(
            {
                "trigger": [
                    _("Unknown trigger %(name)s; use one of: %(names)s.",
                      name=repr(trigger["type"]), names=", ".join(sorted(kinds)))
                ]
            }
        )
    if kind.validate is not None:
        kind.validate(trigger, entity, crm)


def check_actions(crm: Any, entity: Any, actions: Any) -> None:
    """Refuse a list of actions naming the first bad one (``Action 2 (add_tags): ...``)."""
    if not isinstance(actions, list) or not actions:
        raise ValidationError({"actions": [_("Add at least one action.")]})
    if len(actions) > MAX_ACTIONS:
        raise ValidationError(
            {"actions": [_("A rule has at most %(count)s actions.", count=MAX_ACTIONS)]}
        )
    kinds = catalog.actions(crm)
    for number, action in enumerate(actions, start=1):
        kind = kinds.get(str(action.get("type"))) if isinstance(action, Mapping) else None
        if kind is None and isinstance(action, Mapping):
            plugin = catalog.missing_plugin(crm, str(action.get("type")))
            if plugin is not None:
                raise ValidationError(
                    {
                        "actions": [
                            _("Action %(number)s: %(kind)s needs the %(plugin)s plugin, "
                              "which is not enabled.", number=number,
                              kind=repr(action.get("type")), plugin=plugin)
                        ]
                    }
                )
        if kind is None:
            shown = action.get("type") if isinstance(action, Mapping) else action
            raise ValidationError(
                {
                    "actions": [
                        _("Action %(number)s: unknown action %(kind)s; use one of: %(names)s.",
                          number=number, kind=repr(shown), names=", ".join(sorted(kinds)))
                    ]
                }
            )
        if kind.validate is not None:
            where = _("Action %(number)s (%(kind)s)", number=number, kind=kind.name)
            kind.validate(action, entity, crm, where)
