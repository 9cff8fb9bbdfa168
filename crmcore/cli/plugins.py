"""``crm plugins list | info | enable | disable | drop | new | doctor | check-dist | search |
install | upgrade``."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import click
from flask import current_app
from flask.cli import ScriptInfo, with_appcontext

from ..plugins import PluginError
from ..version import __version__
from . import LazyGroup, _create_app


def _crm():  # type: ignore[no-untyped-def]
    return current_app.extensions["crm"]


@click.group(cls=LazyGroup, lazy_subcommands={"doctor": "crmcore.cli.doctor:doctor"})
def plugins() -> None:
    """Installed plugins and which are enabled on this instance."""


@plugins.command("list")
@click.pass_context
def list_(ctx: click.Context) -> None:
    """Every installed plugin: enabled, disabled or unavailable (and why)."""
    from ..plugin_listing import listing_lines

    info = ctx.ensure_object(ScriptInfo)
    if info.create_app in (None, _create_app):
        # `crm` itself: read the plugins and the enabled state without building the app (its
        # models, API spec and pages take seconds to set up and are not needed here)
        lines = _list_instance()
    else:  # the caller gave its own app (tests, an embedding program): its plugins, extra
        with info.load_app().app_context():  # modules included
            crm = _crm()
            lines = listing_lines(crm.plugins, crm.plugins.unavailable, crm.enabled_plugins())
    for line in lines:
        click.echo(line)


def _list_instance() -> list[str]:
    import logging

    from ..config import load_settings
    from ..plugin_listing import enabled_in_database, listing_lines
    from ..plugins import installed_plugins

    settings = load_settings()
    found, unavailable = installed_plugins()
    for bad in unavailable:  # as create_app logs them
        logging.getLogger("crmcore.app").error("plugin %s is unavailable: %s", bad.name, bad.error)
    return listing_lines(found, unavailable, enabled_in_database(settings.database_url))


@plugins.command()
@click.argument("name")
@with_appcontext
def info(name: str) -> None:
    """Details of one plugin: version, requirements, entities, permissions, routes."""
    crm = _crm()
    plugin = crm.plugins.get(name)
    meta = plugin.meta
    enabled = name in crm.enabled_plugins()
    click.echo(f"name:         {meta.name}")
    click.echo(f"title:        {meta.title}")
    click.echo(f"version:      {meta.version}")
    click.echo(f"state:        {'enabled' if enabled else 'disabled'}")
    click.echo(f"requires:     {', '.join(meta.requires) or '-'}")
    click.echo(f"core range:   {meta.core}")
    click.echo(f"distribution: {plugin.distribution or 'crmcore'}")
    click.echo(f"module:       {plugin.module.__name__}")
    entities = [e.plural for e in crm.registry if e.plugin == name]
    click.echo(f"entities:     {', '.join(entities) or '-'}")
    perms = [p for p, (owner, _perm) in crm.permissions.items() if owner == name]
    click.echo(f"permissions:  {', '.join(perms) or '-'}")
    dependents = crm.plugins.dependents(name)
    click.echo(f"needed by:    {', '.join(dependents) or '-'}")
    if meta.description:
        click.echo("")
        click.echo(meta.description)


@plugins.command()
@click.argument("name")
@with_appcontext
def enable(name: str) -> None:
    """Enable NAME: check requirements, run its migrations, grant its default permissions."""
    from ..instance import enable_plugin

    for note in enable_plugin(_crm(), name):
        click.echo(note)


@plugins.command()
@click.argument("name")
@with_appcontext
def disable(name: str) -> None:
    """Disable NAME: hide its routes, menus and hooks. Every row is kept."""
    from ..instance import disable_plugin

    disable_plugin(_crm(), name)
    click.echo(f"disabled {name}; its data is kept (enable it again to bring it back)")


@plugins.command()
@click.argument("name")
@click.option("--yes", is_flag=True, help="Do not ask; for scripts.")
@with_appcontext
def drop(name: str, yes: bool) -> None:
    """Delete every row of the disabled plugin NAME and drop its tables, after writing an
    export of them under <instance>/exports. This cannot be undone."""
    from ..plugin_data import drop_plugin_data, plugin_tables

    crm = _crm()
    tables = plugin_tables(crm, name)
    click.echo(f"this deletes the data of {name!r}: {', '.join(t.name for t in tables) or '-'}")
    if not yes:
        typed = click.prompt(f"type {name!r} to confirm", default="", show_default=False)
        if typed.strip() != name:
            raise click.ClickException("not confirmed; nothing was changed")
    report = drop_plugin_data(crm, name)
    rows = sum(report.tables.values()) + sum(report.linked.values())
    click.echo(f"exported {rows} row(s) to {report.export_dir}")
    click.echo(f"dropped {len(report.tables)} table(s) of {name}; enable it again to start afresh")


@plugins.command()
@click.argument("name")
@click.option(
    "--dir",
    "directory",
    default=".",
    show_default=True,
    type=click.Path(file_okay=False),
    help="Where to write the distribution folder crm-NAME.",
)
@click.option("--title", default=None, help="Display name (default: NAME in title case).")
def new(name: str, directory: str, title: str | None) -> None:
    """Write a new plugin distribution crm-NAME: pyproject.toml, PLUGIN, an entity with its
    migration, a page, a command, tests, README and CHANGELOG."""
    from ..scaffold import generate

    root = generate(name, directory, title=title)
    click.echo(f"created {root}")
    click.echo(f"next: cd {root} && pip install -e '.[test]' && pytest")


@plugins.command("check-dist")
@click.argument("wheel", type=click.Path(dir_okay=False, path_type=Path))
def check_dist(wheel: Path) -> None:
    """Check a built plugin wheel before publishing it: entry point, metadata, core range,
    migrations, templates and translations packaged, and that its PLUGIN imports."""
    from ..distcheck import check_wheel

    findings = check_wheel(wheel)
    for finding in findings:
        click.echo(f"{'ok     ' if finding.ok else 'PROBLEM'}  {finding.text}")
    problems = sum(not f.ok for f in findings)
    if problems:
        raise click.ClickException(f"{problems} problem(s) in {wheel.name}")
    click.echo(f"{wheel.name} is ready to publish")


_INDEX_OPTION = click.option(
    "--index-url",
    default=None,
    help="The package index (default: CRM_PLUGIN_INDEX, else pip's index).",
)


@plugins.command()
@click.argument("text", default="")
@_INDEX_OPTION
def search(text: str, index_url: str | None) -> None:
    """Plugins on the package index whose name, summary or keywords contain TEXT."""
    from ..plugin_index import index_url as resolve
    from ..plugin_index import search as find

    found = find(text, resolve(index_url))
    if not found:
        click.echo("no plugin found")
    for c in found:
        fits = "" if c.compatible else f"  (needs crmcore {c.core}; this is {__version__})"
        click.echo(f"{c.project:<28} {c.version:<10} {c.plugin:<14} {c.summary}{fits}")


def _install(spec: str, index_url: str | None, enable: bool | None, upgrade: bool) -> None:
    from ..plugin_index import check_release, installed_version, pip_install
    from ..plugin_index import index_url as resolve

    project, _, version = spec.partition("==")
    index = resolve(index_url)
    current = installed_version(project)
    if upgrade and current is None:
        raise click.ClickException(f"{project} is not installed; use crm plugins install")
    if not upgrade and current is not None:
        raise click.ClickException(
            f"{project} {current} is installed already; use crm plugins upgrade"
        )
    try:
        plan = check_release(
            project, version or None, index, newer_than=current if upgrade else None
        )
    except PluginError as exc:
        raise click.ClickException(f"{exc}; nothing was changed") from None
    click.echo(f"{plan.project} {plan.version}: plugin {plan.plugin!r} fits crmcore {__version__}")
    try:
        pip_install(plan, index, upgrade=upgrade)
    except PluginError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"installed {plan.project} {plan.version}")
    follow = ["db", "upgrade"] if upgrade else ["plugins", "enable", plan.plugin]
    if upgrade:
        click.echo("migrating the instance")
    elif enable is None:
        enable = click.confirm(f"enable {plan.plugin} on this instance now?", default=True)
    if upgrade or enable:
        # a new process: this one loaded the plugins before pip changed them
        command = [sys.executable, "-c", "from crmcore.cli import main; main()", *follow]
        done = subprocess.run(command, text=True)  # noqa: S603 - our own command
        if done.returncode != 0:
            raise click.ClickException(f"crm {' '.join(follow)} failed")
    click.echo("restart crm serve and crm worker to load it")


@plugins.command()
@click.argument("spec", metavar="NAME[==VERSION]")
@_INDEX_OPTION
@click.option("--enable/--no-enable", default=None, help="Enable it afterwards (default: ask).")
def install(spec: str, index_url: str | None, enable: bool | None) -> None:
    """Install the plugin NAME from the package index, after checking that it fits this core
    and that the plugins it requires are installed; a refused install changes nothing."""
    _install(spec, index_url, enable, upgrade=False)


@plugins.command()
@click.argument("name")
@_INDEX_OPTION
def upgrade(name: str, index_url: str | None) -> None:
    """Upgrade the installed plugin NAME to the newest release that fits this core, then
    migrate the instance."""
    _install(name, index_url, None, upgrade=True)
