"""crmcore: a pluggable, self-hosted CRM framework.

The public facade. Plugins import what they need from here::

    from crmcore import Entity, Plugin, RecordSchema, hookimpl
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .contributions import (
    DemoContext,
    ExtraField,
    MenuItem,
    Panel,
    PeriodicJob,
    Permission,
    RoleGrant,
    Widget,
)
from .errors import (
    Conflict,
    CRMError,
    NotFound,
    PermissionDenied,
    StaleRecord,
    ValidationError,
)
from .plugins import Plugin, PluginConflictError, PluginError, hookimpl
from .version import __version__

if TYPE_CHECKING:
    from .actions import ActionResult, RecordAction, run_action
    from .app import CRM, create_app, current_crm
    from .permissions import Access
    from .records import RecordEvent, RecordService
    from .registry import Entity, RecordSchema
    from .timeline import TimelineContext, TimelineItem

__all__ = [
    "CRM",
    "Access",
    "ActionResult",
    "CRMError",
    "Conflict",
    "DemoContext",
    "Entity",
    "ExtraField",
    "MenuItem",
    "NotFound",
    "Panel",
    "PeriodicJob",
    "Permission",
    "PermissionDenied",
    "Plugin",
    "PluginConflictError",
    "PluginError",
    "RecordAction",
    "RecordEvent",
    "RecordSchema",
    "RecordService",
    "RoleGrant",
    "StaleRecord",
    "TimelineContext",
    "TimelineItem",
    "ValidationError",
    "Widget",
    "__version__",
    "create_app",
    "current_crm",
    "hookimpl",
    "run_action",
]

_LAZY = {
    "ActionResult": "actions",
    "RecordAction": "actions",
    "run_action": "actions",
    "CRM": "app",
    "create_app": "app",
    "current_crm": "app",
    "Access": "permissions",
    "RecordEvent": "records",
    "RecordService": "records",
    "Entity": "registry",
    "RecordSchema": "registry",
    "TimelineContext": "timeline",
    "TimelineItem": "timeline",
}


def __getattr__(name: str) -> Any:
    # SQLAlchemy, marshmallow, Flask and the API load on first use, so `crm --help` stays fast.
    if name in _LAZY:
        from importlib import import_module

        return getattr(import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module 'crmcore' has no attribute {name!r}")
