"""Roles, scopes and the query filters that enforce them.

A role grants, per entity plural, a scope (``own``, ``team`` or ``all``) for each action, plus
named permissions. Scopes are applied inside the SQL of every read (lists, search, export,
counts), so a query never loads a record its user may not see.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sqlalchemy import ColumnElement, and_, false, or_, select, true

from .contributions import ACTIONS, SCOPES, Permission
from .users.models import Role, Team, User, team_member

if TYPE_CHECKING:
    from .registry import Entity

_RANK = {None: 0, "own": 1, "team": 2, "all": 3}

#: Named permissions of the core.
CORE_PERMISSIONS = (
    Permission("plugins.manage", "Enable and disable plugins"),
    Permission("roles.assign", "Give users their roles"),
    Permission("settings.manage", "Change instance settings and custom fields"),
    Permission("data.export", "Export records to files"),
    Permission("data.import", "Import records from files"),
)

_ALL = {a: "all" for a in ACTIONS}
_READ = {"read": "all"}
_OWN = {a: "own" for a in ACTIONS}
_CORE_SALES = ("contacts", "companies", "notes", "tasks", "activities", "attachments")

#: The roles ``crm init`` creates. Plugins add grants to them with ``crm_role_grants``.
DEFAULT_ROLES: dict[str, dict[str, Any]] = {
    "admin": {"title": "Administrator", "grants": {"*": _ALL}, "permissions": ["*"]},
    "manager": {
        "title": "Manager",
        "grants": {
            "*": _ALL,
            "users": _READ,
            "roles": _READ,
            "teams": _ALL,
            "custom_fields": _READ,
        },
        "permissions": ["data.export", "data.import"],
    },
    "sales_rep": {
        "title": "Sales representative",
        "grants": {**{p: _OWN for p in _CORE_SALES}, "users": _READ, "teams": _READ},
        "permissions": [],
    },
    "support_agent": {
        "title": "Support agent",
        "grants": {
            "contacts": {"read": "all", "create": "all", "update": "all"},
            "companies": {"read": "all", "create": "all", "update": "all"},
            "notes": {"read": "all", "create": "all", "update": "own", "delete": "own"},
            "tasks": {"read": "team", "create": "all", "update": "own", "delete": "own"},
            "activities": {"read": "all", "create": "all", "update": "own", "delete": "own"},
            "attachments": {"read": "all", "create": "all", "delete": "own"},
            "users": _READ,
            "teams": _READ,
        },
        "permissions": [],
    },
    "marketer": {
        "title": "Marketer",
        "grants": {
            "contacts": {"read": "all", "create": "all", "update": "all"},
            "companies": {"read": "all", "create": "all", "update": "all"},
            "notes": {"read": "all", "create": "all", "update": "own", "delete": "own"},
            "tasks": {"read": "own", "create": "own", "update": "own", "delete": "own"},
            "activities": {"read": "all", "create": "all"},
            "attachments": {"read": "all", "create": "all", "delete": "own"},
            "users": _READ,
            "teams": _READ,
        },
        "permissions": ["data.export", "data.import"],
    },
    "read_only": {"title": "Read only", "grants": {"*": _READ}, "permissions": []},
}


def validate_grants(grants: Mapping[str, Any], known_entities: set[str]) -> dict[str, list[str]]:
    """Check a role's grants; returns error messages by entity plural (empty when valid)."""
    errors: dict[str, list[str]] = {}
    for plural, actions in grants.items():
        if plural != "*" and plural not in known_entities:
            errors.setdefault(plural, []).append("Unknown entity.")
            continue
        if not isinstance(actions, Mapping):
            errors.setdefault(plural, []).append("Map each action to a scope.")
            continue
        for action, scope in actions.items():
            if action not in ACTIONS:
                errors.setdefault(plural, []).append(f"Unknown action {action!r}.")
            elif scope is not None and scope not in SCOPES:
                errors.setdefault(plural, []).append(f"Unknown scope {scope!r} for {action}.")
    return errors


@dataclass
class Access:
    """What one user may do. ``Access.system()`` is unrestricted (jobs, CLI, migrations)."""

    user: User | None
    grants: Mapping[str, Mapping[str, str | None]] = field(default_factory=dict)
    permissions: frozenset[str] = frozenset()
    is_system: bool = False

    @classmethod
    def system(cls) -> Access:
        """The system: every action on every record, for jobs, the CLI and follow-up writes
        that must not depend on who triggered them."""
        return cls(user=None, is_system=True)

    @classmethod
    def for_user(cls, user: User) -> Access:
        """What ``user``'s role grants; nothing for an inactive or trashed user."""
        if not user.active or user.deleted_at is not None:
            return cls(user=user)
        return cls.for_role(user.role, user)

    @classmethod
    def for_role(cls, role: Role | None, user: User | None = None) -> Access:
        """What a role grants; a trashed role grants nothing."""
        if role is None or role.deleted_at is not None:
            return cls(user=user)
        return cls(
            user=user, grants=role.grants or {}, permissions=frozenset(role.permissions or ())
        )

    @property
    def user_id(self) -> int | None:
        """The user's id; ``None`` for the system."""
        return self.user.id if self.user is not None else None

    def scope(self, entity: Entity | str, action: str) -> str | None:
        """The scope this user has for ``action`` on the entity, or ``None`` when denied."""
        if self.is_system:
            return "all"
        plural = entity if isinstance(entity, str) else entity.plural
        specific = self.grants.get(plural)
        actions = specific if specific is not None else self.grants.get("*", {})
        scope = actions.get(action)
        if scope in ("own", "team") and not isinstance(entity, str) and entity.owner_field is None:
            return None  # records without an owner can only be reached with the "all" scope
        return scope if scope in SCOPES else None

    def can(self, entity: Entity | str, action: str) -> bool:
        """May the user ``action`` (``read``, ``create``, ``update``, ``delete``) at least some
        records of the entity (an entity or its plural)? Which ones: :meth:`scope`."""
        return self.scope(entity, action) is not None

    def has(self, permission: str) -> bool:
        """A named permission, or ``"<plural>.<action>"`` for an entity action."""
        if self.is_system or "*" in self.permissions or permission in self.permissions:
            return True
        plural, _, action = permission.rpartition(".")
        return action in ACTIONS and self.scope(plural, action) is not None

    def covers(self, other: Access, plurals: Iterable[str]) -> bool:
        """Whether this user may do all ``other`` may, on the entities ``plurals`` and beyond.

        Only then may they give ``other``'s role away or manage a user holding it: nobody
        raises their own rights through a role or an account they control.
        """
        if self.is_system:
            return True
        if other.is_system:
            return False
        if "*" not in self.permissions and not other.permissions <= self.permissions:
            return False
        return all(
            _RANK[self.scope(plural, action)] >= _RANK[other.scope(plural, action)]
            for plural in {*plurals, "*"}
            for action in ACTIONS
        )

    def teammate_ids(self) -> Any:
        """A subquery of the ids of users sharing a team (not trashed) with this user."""
        live = select(Team.id).where(Team.deleted_at.is_(None))
        my_teams = select(team_member.c.team_id).where(
            team_member.c.user_id == self.user_id, team_member.c.team_id.in_(live)
        )
        return select(team_member.c.user_id).where(team_member.c.team_id.in_(my_teams))

    def condition(
        self, entity: Entity, action: str, owner_column: Any = None
    ) -> ColumnElement[bool]:
        """The SQL condition selecting the records this user may ``action``."""
        scope = self.scope(entity, action)
        if scope is None:
            return false()
        if scope == "all":
            return true()
        column = owner_column if owner_column is not None else entity.attribute(entity.owner_field)
        if scope == "own":
            return column == self.user_id
        return or_(column == self.user_id, column.in_(self.teammate_ids()))

    def owner_allowed(self, scope: str, owner_id: int | None, session: Any) -> bool:
        """May a record with this scope be given to ``owner_id``?"""
        if scope == "all":
            return True
        if owner_id == self.user_id:
            return True
        if scope == "team" and owner_id is not None:
            found = session.execute(
                self.teammate_ids().where(team_member.c.user_id == owner_id).limit(1)
            ).first()
            return found is not None
        return False

    def allows_record(self, entity: Entity, action: str, record: Any, session: Any) -> bool:
        """May the user ``action`` this loaded ``record`` (its owner within the scope)?"""
        scope = self.scope(entity, action)
        if scope is None:
            return False
        if scope == "all":
            return True
        owner = getattr(record, entity.owner_field)  # type: ignore[arg-type]
        return self.owner_allowed(scope, owner, session)


def linked_condition(
    access: Access, entity: Entity, entities: Iterable[Entity]
) -> ColumnElement[bool]:
    """For an entity with ``linked_to``: the record it is attached to must be readable too.

    One ``OR`` branch per entity the user may read: unrestricted for the ``all`` scope, an
    ``IN`` over that entity's scoped ids otherwise. Unattached records stay readable.
    """
    if entity.linked_to is None or access.is_system:
        return true()
    type_column, id_column = (entity.attribute(name) for name in entity.linked_to)
    everything: list[str] = []
    scoped: list[ColumnElement[bool]] = []
    for other in entities:
        scope = access.scope(other, "read")
        if scope == "all":
            everything.append(other.name)
        elif scope is not None:
            ids = select(other.model.id).where(access.condition(other, "read"))
            scoped.append(and_(type_column == other.name, id_column.in_(ids)))
    return or_(type_column.is_(None), type_column.in_(everything), *scoped)
