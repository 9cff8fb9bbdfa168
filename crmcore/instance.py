"""Instance operations shared by the CLI, the tests and (later) the admin pages."""

from __future__ import annotations

import os
import random
import secrets
from collections.abc import Iterable
from typing import Any

from sqlalchemy import select

from . import migrate
from .contributions import DemoContext, RoleGrant
from .permissions import DEFAULT_ROLES, Access
from .plugin_state import PluginState, enabled_names
from .plugins import PluginError
from .records import RecordService
from .users.models import Role, User
from .version import __version__


def upgrade_all(crm: Any, only_enabled: bool = True) -> list[str]:
    """Migrate core and every enabled plugin (or every available one); returns lineages run."""
    migrate.upgrade(crm, "core")
    done = ["core"]
    enabled = crm.enabled_plugins()
    for name in migrate.lineages(crm)[1:]:
        if not only_enabled or name in enabled:
            migrate.upgrade(crm, name)
            done.append(name)
    return done


def ensure_roles(crm: Any) -> None:
    """Create the default roles that do not exist yet (never changes existing ones)."""
    records = crm.records()
    existing = set(crm.session.scalars(select(Role.name)))
    for name, spec in DEFAULT_ROLES.items():
        if name not in existing:
            records.create("roles", {"name": name, **spec}, commit=False)
    records.commit()
    for plugin in crm.plugins:
        if plugin.meta.builtin:
            _mark_enabled(crm, plugin.name)
    crm.session.commit()


def _mark_enabled(crm: Any, name: str) -> PluginState:
    state = crm.session.get(PluginState, name)
    if state is None:
        state = PluginState(name=name)
        crm.session.add(state)
    state.enabled = True
    state.version = crm.plugins.get(name).meta.version
    return state


def init_instance(crm: Any) -> None:
    """Migrate the core, create default roles. Safe to run again."""
    migrate.upgrade(crm, "core")
    ensure_roles(crm)
    for name in enabled_names(crm.session) - crm.builtin_names:
        if name in crm.plugins:
            migrate.upgrade(crm, name)


def enable_plugin(crm: Any, name: str) -> list[str]:
    """Enable an installed plugin: check requirements, migrate, grant defaults. Returns notes."""
    plugin = crm.plugins.get(name)  # raises with the reason when unavailable
    if plugin.meta.builtin:
        return [f"{name} is built in and always enabled"]
    enabled = crm.enabled_plugins()
    missing = [dep for dep in plugin.meta.requires if dep not in enabled]
    if missing:
        raise PluginError(
            f"plugin {name!r} requires {', '.join(repr(m) for m in missing)}, which "
            f"{'is' if len(missing) == 1 else 'are'} not enabled: enable "
            f"{'it' if len(missing) == 1 else 'them'} first"
        )
    migrate.upgrade(crm, name)
    state = _mark_enabled(crm, name)
    crm.session.flush()
    crm.forget_enabled()
    notes = [f"enabled {name} {plugin.meta.version}"]
    if not state.grants_applied:
        applied = apply_grants(
            crm, [g for p, g in crm.plugins.collect("crm_role_grants") if p == name]
        )
        state.grants_applied = True
        notes.extend(applied)
    crm.session.commit()
    crm.forget_enabled()
    return notes


def disable_plugin(crm: Any, name: str) -> None:
    """Disable a plugin: its routes, menus and hooks disappear; every row is kept."""
    plugin = crm.plugins.get(name)
    if plugin.meta.builtin:
        raise PluginError(f"plugin {name!r} is built in and cannot be disabled")
    enabled = crm.enabled_plugins()
    if name not in enabled:
        raise PluginError(f"plugin {name!r} is not enabled")
    dependents = [d for d in crm.plugins.dependents(name) if d in enabled]
    if dependents:
        raise PluginError(
            f"plugin {name!r} is required by {', '.join(repr(d) for d in dependents)}: "
            "disable those first"
        )
    state = crm.session.get(PluginState, name)
    state.enabled = False
    crm.session.commit()
    crm.forget_enabled()


def apply_grants(crm: Any, grants: Iterable[RoleGrant]) -> list[str]:
    """Add default grants to existing roles (a scope already set is left alone).

    A grant on an entity no installed plugin provides (another plugin's, optional) is skipped.
    """
    records = crm.records()
    roles = {r.name: r for r in crm.session.scalars(select(Role))}
    known = {e.plural for e in crm.registry}
    changed: dict[str, dict[str, Any]] = {}
    for grant in grants:
        role = roles.get(grant.role)
        if role is None or (grant.entity and grant.entity not in known):
            continue
        data = changed.setdefault(
            role.name,
            {
                "grants": {k: dict(v) for k, v in (role.grants or {}).items()},
                "permissions": list(role.permissions or []),
            },
        )
        if grant.entity:
            if grant.entity not in data["grants"] and "*" in data["grants"]:
                # an entity entry replaces the wildcard for that entity: start from it
                data["grants"][grant.entity] = dict(data["grants"]["*"])
            actions = data["grants"].setdefault(grant.entity, {})
            for action, scope in grant.actions.items():
                actions.setdefault(action, scope)
        if grant.permission and grant.permission not in data["permissions"]:
            data["permissions"].append(grant.permission)
    for role_name, data in changed.items():
        records.update("roles", roles[role_name], data, commit=False)
    records.commit()
    return [f"granted defaults to role {r}" for r in changed]


def create_user(
    crm: Any,
    email: str,
    password: str,
    role: str | None,
    name: str = "",
    records: RecordService | None = None,
) -> User:
    records = records or crm.records()
    role_id = None
    if role:
        role_row = crm.session.scalar(select(Role).where(Role.name == role))
        if role_row is None:
            known = ", ".join(sorted(crm.session.scalars(select(Role.name))))
            raise PluginError(f"no role called {role!r}; roles: {known}")
        role_id = role_row.id
    return records.create(
        "users",
        {
            "email": email,
            "password": password,
            "role_id": role_id,
            "name": name or email.split("@")[0].title(),
        },
    )


DEMO_USERS = (
    ("admin@example.com", "Alex Admin", "admin"),
    ("manager@example.com", "Morgan Manager", "manager"),
    ("rep1@example.com", "Rita Rep", "sales_rep"),
    ("rep2@example.com", "Raúl Rep", "sales_rep"),
    ("agent@example.com", "Sam Support", "support_agent"),
    ("marketer@example.com", "Mia Marketer", "marketer"),
)


def create_demo(crm: Any, password: str | None = None, seed: int = 42) -> tuple[str, bool]:
    """Demo users (one per role), a sales team and every enabled plugin's demo data.

    Returns the demo password and whether anything was created (``False`` when the demo users
    already exist).
    """
    password = password or secrets.token_urlsafe(12)
    if crm.session.scalar(select(User.id).where(User.email == DEMO_USERS[0][0])):
        return password, False
    records = crm.records()
    users: dict[str, User] = {}
    for email, name, role in DEMO_USERS:
        users[email] = create_user(crm, email, password, role, name, records)
    records.create(
        "teams",
        {
            "name": "Sales",
            "member_ids": [
                users["manager@example.com"].id,
                users["rep1@example.com"].id,
                users["rep2@example.com"].id,
            ],
        },
    )
    ctx = DemoContext(
        records=crm.records(Access.system()),
        random=random.Random(seed),
        users={
            "sales_rep": users["rep1@example.com"],
            "sales_rep_2": users["rep2@example.com"],
            "manager": users["manager@example.com"],
            "support_agent": users["agent@example.com"],
            "marketer": users["marketer@example.com"],
        },
    )
    crm.hook("crm_demo_data")(ctx=ctx)
    return password, True


def write_private(path: Any, text: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(text)


__all__ = [
    "__version__",
    "create_demo",
    "create_user",
    "disable_plugin",
    "enable_plugin",
    "init_instance",
    "upgrade_all",
]
