"""The trigger and action kinds of enabled plugins, gathered from the automation hooks."""

from __future__ import annotations

from typing import Any

from crmcore.plugins import PluginConflictError

from . import hookspecs
from .actions_catalog import ActionType
from .triggers import TriggerType


def ensure_hookspecs(crm: Any) -> None:
    """Register the automation hookspecs on the app's plugin manager (once)."""
    caller = getattr(crm.plugins.pm.hook, "crm_automation_triggers", None)
    if caller is None or caller.spec is None:
        crm.plugins.pm.add_hookspecs(hookspecs)


def _gather(crm: Any, hook: str, kind: type[Any]) -> dict[str, Any]:
    ensure_hookspecs(crm)
    found: dict[str, tuple[str, Any]] = {}
    item: Any
    for plugin, item in crm.collect(hook):
        if not isinstance(item, kind):
            continue
        if item.name in found:
            raise PluginConflictError(
                f"plugins {found[item.name][0]!r} and {plugin!r} both declare the automation "
                f"{hook.rsplit('_', 1)[-1][:-1]} {item.name!r}"
            )
        found[item.name] = (plugin, item)
    return {name: item for name, (_plugin, item) in found.items()}


def triggers(crm: Any) -> dict[str, TriggerType]:
    """Trigger kinds by name, from every enabled plugin."""
    return _gather(crm, "crm_automation_triggers", TriggerType)


def actions(crm: Any) -> dict[str, ActionType]:
    """Action kinds by name, from every enabled plugin; a kind that works with a plugin
    (``requires``) only while that plugin is enabled."""
    found = _gather(crm, "crm_automation_actions", ActionType)
    enabled = set(crm.enabled_plugins())
    return {n: k for n, k in found.items() if k.requires is None or k.requires in enabled}


def missing_plugin(crm: Any, name: str) -> str | None:
    """The disabled plugin the action kind ``name`` works with, if that keeps it out."""
    kind = _gather(crm, "crm_automation_actions", ActionType).get(name)
    if kind is None or kind.requires is None or kind.requires in crm.enabled_plugins():
        return None
    return str(kind.requires)
