"""The main navigation of one user: plugins' menu items grouped by module, plus an entry for
every readable entity that no item links to, so each list is reachable from the menu."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .contributions import MenuItem

#: Plugins whose entities are reached elsewhere (the administration pages), not from the menu.
ADMIN_PLUGINS = frozenset({"users"})
#: Order of the entries made for entities that have no menu item of their own.
ENTITY_ORDER = 90


@dataclass
class MenuEntry:
    """One link of the menu, with the plugin and group it belongs to."""

    label: str
    url: str
    plugin: str
    group: str | None
    order: int
    icon: str | None = None


@dataclass
class MenuGroup:
    """A heading of the menu and its entries (``label`` ``None``: the top row)."""

    label: str | None
    entries: list[MenuEntry] = field(default_factory=list)

    @property
    def order(self) -> int:
        return min((e.order for e in self.entries), default=0)


def _group_of(crm: Any, plugin: str, item: MenuItem) -> str | None:
    if item.group is not None:
        return item.group or None
    meta = crm.plugins.get(plugin).meta
    return None if meta.builtin else str(meta.title)


def menu_entries(crm: Any, access: Any) -> list[MenuEntry]:
    """Every entry ``access`` may see, in menu order (by group, then order and label)."""

    def allowed(permission: str | None) -> bool:
        return permission is None or bool(access.has(permission))

    entries = [
        MenuEntry(m.label, m.url, p, _group_of(crm, p, m), m.order, m.icon)
        for p, m in crm.collect("crm_menu_items")
        if allowed(m.permission)
    ]
    linked = {e.url.rstrip("/") for e in entries}
    # an entity joins the group its plugin's own items are in
    plugin_group = {e.plugin: e.group for e in reversed(entries)}
    for entity in crm.entities():
        url = f"/{entity.plural}"
        if (
            url in linked
            or entity.plugin in ADMIN_PLUGINS
            or entity.linked_to is not None
            or not allowed(f"{entity.plural}.read")
        ):
            continue
        if entity.plugin in plugin_group:
            group = plugin_group[entity.plugin]
        else:
            meta = crm.plugins.get(entity.plugin).meta
            group = None if meta.builtin else str(meta.title)
        entries.append(MenuEntry(entity.title_plural, url, entity.plugin, group, ENTITY_ORDER))
    return [e for g in _by_group(entries) for e in g.entries]


def _by_group(entries: list[MenuEntry]) -> list[MenuGroup]:
    groups: dict[str | None, MenuGroup] = {}
    for entry in entries:
        groups.setdefault(entry.group, MenuGroup(entry.group)).entries.append(entry)
    for group in groups.values():
        group.entries.sort(key=lambda e: (e.order, e.label))
    return sorted(groups.values(), key=lambda g: (g.label is not None, g.order, g.label or ""))


def menu_groups(crm: Any, access: Any) -> list[MenuGroup]:
    """The entries ``access`` may see, grouped: the top row first, then one group per module."""
    return _by_group(menu_entries(crm, access))
