"""The hooks the automation plugin adds, so other plugins contribute triggers and actions.

They are registered on the app's plugin manager the first time the automation plugin needs
them (:func:`crm_automation.catalog.ensure_hookspecs`), and called like the core's
registration hooks: for enabled plugins, in load order, each contribution attributed to its
plugin. The automation plugin implements both for its own built-in kinds.
"""

# mypy: disable-error-code="empty-body"
from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

import pluggy

if TYPE_CHECKING:
    from .actions_catalog import ActionType
    from .triggers import TriggerType

hookspec = pluggy.HookspecMarker("crmcore")


@hookspec
def crm_automation_triggers() -> Iterable[TriggerType]:
    """Return trigger kinds that workflow rules may use (``TriggerType(name=...)``).

    A trigger kind checks its settings when a rule is saved (``validate``) and says whether a
    record event fires it (``matches``) and under which occurrence key (``occurrence``), so
    that a rule runs once per record and occurrence. Names are unique across plugins; a second
    plugin declaring the same name is refused when the catalogue is built, naming both.
    """


@hookspec
def crm_automation_actions() -> Iterable[ActionType]:
    """Return action kinds that workflow rules may use (``ActionType(name=...)``).

    An action kind checks its settings when a rule is saved (``validate``, raising
    ``crmcore.ValidationError``), describes what it would do for a dry run (``describe``) and
    does it (``run``) through the record service it is given - the rule owner's, or the
    system's for a rule marked "system" - so permission scopes apply to every write.
    """
