"""Trigger kinds: what makes a rule fire on a record event.

The built-in kinds follow the kernel's record events: ``created``, ``updated``, ``deleted``,
``restored``, ``field_changed`` (optionally from one value to another) and ``action`` (a record
action was performed, such as a lead converted). Plugins add kinds through the
``crm_automation_triggers`` hook.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from crmcore import ValidationError
from crmcore.actions import actions_of

from .i18n import text as _

#: kernel event action -> built-in trigger kind
EVENT_KINDS = {"create": "created", "update": "updated", "delete": "deleted",
               "restore": "restored"}  # fmt: skip


@dataclass(frozen=True)
class TriggerType:
    """A kind of trigger.

    :param name: identifier stored in the rule (``{"type": name, ...}``).
    :param label: English label (translated through the catalogues).
    :param matches: ``matches(config, event)``: whether a record event (``RecordEvent``, or
        an action event whose ``action`` is the action's name) fires the rule.
    :param validate: ``validate(config, entity, crm)`` raises ``ValidationError`` naming the
        bad setting when the rule is saved; ``None`` accepts any settings.
    :param fields: names of the settings the rule builder asks for.
    :param due: for time-based kinds, ``due(crm, rule, entity, now)`` returns a
        ``crm_automation.schedules.Due`` (the SQL condition of the records due now and their
        occurrence key) or ``None`` when nothing is due; the periodic job fires them.
    """

    name: str
    label: str
    matches: Callable[[Mapping[str, Any], Any], bool]
    validate: Callable[[Mapping[str, Any], Any, Any], None] | None = None
    fields: tuple[str, ...] = ()
    due: Callable[[Any, Any, Any, Any], Any] | None = None


def occurrence(event: Any) -> str:
    """The key of one occurrence of an event on a record: the action and the record's version
    after it, which changes with every write, so a replayed event is the same occurrence."""
    return f"{event.action}:{getattr(event.record, 'version', 0)}"


def _on(action: str) -> Callable[[Mapping[str, Any], Any], bool]:
    def matches(_config: Mapping[str, Any], event: Any) -> bool:
        return bool(event.action == action)

    return matches


def _same(a: Any, b: Any) -> bool:
    """Values compared as the rule's JSON holds them (``"won"``, ``10``, ``true``, ``null``)."""
    if a is None or b is None:
        return a is None and b is None
    if isinstance(a, bool) or isinstance(b, bool):
        return str(a).lower() == str(b).lower()
    return str(a) == str(b)


def _field_changed(config: Mapping[str, Any], event: Any) -> bool:
    if event.action not in ("create", "update"):
        return False
    change = event.changes.get(config.get("field"))
    if change is None:
        return False
    before, after = change
    if "from" in config and not _same(before, config["from"]):
        return False
    return not ("to" in config and not _same(after, config["to"]))


def _check_field(config: Mapping[str, Any], entity: Any, _crm: Any) -> None:
    name = config.get("field")
    if not isinstance(name, str) or not name:
        raise ValidationError({"trigger": [_("Choose the field whose change fires the rule.")]})
    if name.startswith("custom_fields.") and entity.has_custom_fields:
        return
    if name not in entity.columns or name in ("id", "created_at", "updated_at", "version"):
        raise ValidationError({"trigger": [_("No field %(name)s on %(entity)s to watch.",
                                              name=repr(name), entity=entity.plural)]})  # fmt: skip


def _action_performed(config: Mapping[str, Any], event: Any) -> bool:
    return bool(getattr(event, "performed", None) == config.get("action"))


def _check_action(config: Mapping[str, Any], entity: Any, crm: Any) -> None:
    name = config.get("action")
    names = [a.name for a in actions_of(crm, entity)]
    if name not in names:
        shown = ", ".join(names) or "-"
        raise ValidationError(
            {"trigger": [_("No action %(name)s on %(entity)s; use one of: %(names)s.",
                           name=repr(name), entity=entity.plural, names=shown)]}
        )


def _never(_config: Mapping[str, Any], _event: Any) -> bool:
    return False


def builtin_triggers() -> list[TriggerType]:
    """The kinds the automation plugin provides itself."""
    from .incoming import trigger_type
    from .schedules import check_date, check_schedule, date_due, schedule_due

    return [
        TriggerType("date", "Date reached", _never, check_date,
                    ("field", "offset_days", "yearly"), due=date_due),
        TriggerType("schedule", "Schedule", _never, check_schedule, ("time", "weekdays"),
                    due=schedule_due),
        TriggerType("created", "Record created", _on("create")),
        TriggerType("updated", "Record updated", _on("update")),
        TriggerType("deleted", "Record deleted", _on("delete")),
        TriggerType("restored", "Record restored", _on("restore")),
        TriggerType("field_changed", "Field changed", _field_changed, _check_field,
                    ("field", "from", "to")),
        TriggerType("action", "Record action performed", _action_performed, _check_action,
                    ("action",)),
        trigger_type(),
    ]  # fmt: skip
