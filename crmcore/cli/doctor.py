"""``crm plugins doctor``: what keeps plugins from working on this instance, and why.

It reports plugins that failed to import, missing plugin or package dependencies, incompatible
core version ranges, dependency cycles, conflicts between plugins (which stop the app from
starting), contributions that can never show (a panel on an entity no installed plugin has, a
menu item, widget or panel gated by a permission nobody declares), enabled plugins that are no
longer installed, and pending migrations of the core and of every enabled plugin. The command
exits with status 1 when it finds anything wrong.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, requires, version
from typing import Any

import click
from flask.cli import ScriptInfo
from packaging.requirements import InvalidRequirement, Requirement

from ..plugins import PluginConflictError, PluginError, PluginSet, UnavailablePlugin


@dataclass(frozen=True)
class Finding:
    """One line of the report. ``ok`` findings are shown but are not problems."""

    subject: str
    message: str
    # ok, import, dependency, core, cycle, conflict, contribution, state, migration, database
    kind: str = "ok"

    @property
    def ok(self) -> bool:
        return self.kind == "ok"


def _kind_of(bad: UnavailablePlugin) -> str:
    if bad.error.startswith("failed to import"):
        return "import"
    if bad.error.startswith(("needs crmcore", "invalid core version range")):
        return "core"
    if bad.error.startswith("dependency cycle"):
        return "cycle"
    return "dependency"


def unavailable_findings(unavailable: Iterable[UnavailablePlugin]) -> list[Finding]:
    """Plugins that could not be loaded: import errors, dependencies, core ranges, cycles."""
    labels = {
        "import": "failed to import",
        "core": "incompatible core version",
        "cycle": "dependency cycle",
        "dependency": "missing dependency",
    }
    out = []
    for bad in unavailable:
        kind = _kind_of(bad)
        detail = bad.error.removeprefix("failed to import: ")
        out.append(Finding(bad.name, f"{labels[kind]}: {detail}", kind))
    return out


def package_findings(plugins: PluginSet) -> list[Finding]:
    """Python packages each plugin's distribution requires that are missing or too old/new."""
    out = []
    for plugin in plugins:
        if not plugin.distribution:
            continue
        try:
            declared = requires(plugin.distribution) or []
        except PackageNotFoundError:
            continue
        for line in declared:
            try:
                req = Requirement(line)
            except InvalidRequirement:
                continue
            if req.marker is not None and not req.marker.evaluate({"extra": ""}):
                continue
            try:
                found = version(req.name)
            except PackageNotFoundError:
                out.append(
                    Finding(
                        plugin.name,
                        f"missing dependency: package {req.name!r} ({req}) is not installed",
                        "dependency",
                    )
                )
                continue
            if req.specifier and not req.specifier.contains(found, prereleases=True):
                out.append(
                    Finding(
                        plugin.name,
                        f"missing dependency: needs {req}, {req.name} {found} is installed",
                        "dependency",
                    )
                )
    return out


def known_permission(crm: Any, name: str) -> bool:
    """Whether ``name`` is a declared named permission or ``<plural>.<action>`` of an entity."""
    from ..contributions import ACTIONS

    if name in crm.permissions:
        return True
    plural, _, action = name.rpartition(".")
    try:
        return action in ACTIONS and crm.registry.get(plural).plural == plural
    except KeyError:
        return False


def contribution_findings(crm: Any) -> list[Finding]:
    """Contributions that would silently never show, naming the plugin that made them.

    A panel or extra field on an entity that no installed plugin registers (a misspelling, or a
    plugin the author forgot to require), and a menu item, widget or panel gated by a permission
    that no plugin declares (only administrators, who hold ``*``, would ever see it).
    """
    out: list[Finding] = []

    def entity_known(name: str) -> bool:
        try:
            crm.registry.get(name)
        except KeyError:
            return False
        return True

    for plugin, panel in crm.plugins.collect("crm_record_panels"):
        if not entity_known(panel.entity):
            out.append(
                Finding(
                    plugin,
                    f"panel {panel.name!r} is on entity {panel.entity!r}, which no installed "
                    "plugin registers: it never shows",
                    "contribution",
                )
            )
    for plugin, extra in crm.plugins.collect("crm_entity_fields"):
        if not entity_known(extra.entity):
            out.append(
                Finding(
                    plugin,
                    f"extra field {extra.name!r} is on entity {extra.entity!r}, which no "
                    "installed plugin registers",
                    "contribution",
                )
            )
    for hook, what in (
        ("crm_menu_items", "menu item"),
        ("crm_dashboard_widgets", "widget"),
        ("crm_record_panels", "panel"),
    ):
        for plugin, item in crm.plugins.collect(hook):
            permission = item.permission
            if permission and not known_permission(crm, permission):
                name = getattr(item, "label", None) or item.name
                out.append(
                    Finding(
                        plugin,
                        f"{what} {name!r} needs permission {permission!r}, which no plugin "
                        "declares: only administrators would see it",
                        "contribution",
                    )
                )
    return out


def instance_findings(crm: Any) -> list[Finding]:
    """Enabled state and migrations of the instance's database."""
    from .. import migrate
    from ..plugin_state import enabled_names

    out: list[Finding] = []
    try:
        stored = enabled_names(crm.session)
    except Exception as exc:
        crm.session.rollback()
        first = str(getattr(exc, "orig", exc)).strip().splitlines()[0]
        return [
            Finding("database", f"cannot read the instance: {first} (run `crm init`)", "database")
        ]
    unavailable = {u.name for u in crm.plugins.unavailable}
    for name in sorted(stored - set(crm.plugins.plugins) - unavailable):
        out.append(
            Finding(name, "enabled on this instance but not installed: reinstall it", "state")
        )
    for name in sorted(stored & unavailable):
        out.append(Finding(name, "enabled on this instance but unavailable (see above)", "state"))
    enabled = crm.enabled_plugins()
    for plugin in crm.plugins:
        if plugin.meta.builtin or plugin.name not in enabled:
            continue
        off = [dep for dep in plugin.meta.requires if dep not in enabled]
        if off:
            out.append(
                Finding(
                    plugin.name,
                    f"missing dependency: requires {', '.join(map(repr, off))}, not enabled",
                    "dependency",
                )
            )
    for lineage in migrate.lineages(crm):
        if lineage != "core" and lineage not in enabled:
            continue
        head = migrate.head(crm, lineage)
        current = migrate.current(crm, lineage)
        if head is None:
            out.append(Finding(lineage, "no migrations (tables made when enabled)"))
        elif current == head:
            out.append(Finding(lineage, f"migrations up to date ({head})"))
        else:
            out.append(
                Finding(
                    lineage,
                    f"pending migrations: the database is at {current or 'nothing'}, "
                    f"the head is {head} (run `crm db upgrade`)",
                    "migration",
                )
            )
    crm.session.rollback()
    return out


def diagnose(info: ScriptInfo) -> list[Finding]:
    """Every finding about the app ``info`` loads (or fails to load)."""
    try:
        app = info.load_app()
        app.extensions["crm"].api.complete()
    except PluginConflictError as exc:
        found = [Finding("conflict", str(exc), "conflict")]
        try:
            plugins = PluginSet.build()
        except PluginError:
            return found
        return found + unavailable_findings(plugins.unavailable) + package_findings(plugins)
    crm = app.extensions["crm"]
    found = [
        Finding(p.name, f"{p.meta.version} loaded", "ok") for p in crm.plugins if not p.meta.builtin
    ]
    found += unavailable_findings(crm.plugins.unavailable) + package_findings(crm.plugins)
    with app.app_context():
        found += contribution_findings(crm)
        found += instance_findings(crm)
    return found


def report(findings: list[Finding]) -> int:
    """Print the findings; the exit status: 1 when any is a problem."""
    for f in findings:
        click.echo(f"{'ok' if f.ok else 'FAIL':<5} {f.subject:<14} {f.message}")
    problems = [f for f in findings if not f.ok]
    if problems:
        click.echo(f"{len(problems)} problem{'s' if len(problems) > 1 else ''} found")
        return 1
    click.echo("no problems found")
    return 0


@click.command()
@click.pass_context
def doctor(ctx: click.Context) -> None:
    """Check installed plugins and this instance: imports, dependencies, core versions,
    conflicts and pending migrations. Exit status 1 when anything is wrong."""
    ctx.exit(report(diagnose(ctx.ensure_object(ScriptInfo))))
