"""Every table of the core, imported together so the shared metadata is complete (the
migrations compare against it)."""

from .activities.models import Activity, Attachment, Note, Task
from .audit import AuditEntry
from .contacts.models import Company, Contact
from .customfields import CustomField
from .duplicates.models import DuplicatePair
from .idempotency import IdempotencyKey
from .importing.models import ImportedRow, ImportJob
from .notifications import Notification
from .plugin_state import PluginState
from .search import SearchDoc
from .settings import PasswordReset, SavedView, Setting
from .users.models import ApiToken, Role, Team, User

__all__ = [
    "Activity",
    "ApiToken",
    "Attachment",
    "AuditEntry",
    "Company",
    "Contact",
    "CustomField",
    "DuplicatePair",
    "IdempotencyKey",
    "ImportJob",
    "ImportedRow",
    "Note",
    "Notification",
    "PasswordReset",
    "PluginState",
    "Role",
    "SavedView",
    "SearchDoc",
    "Setting",
    "Task",
    "Team",
    "User",
]
