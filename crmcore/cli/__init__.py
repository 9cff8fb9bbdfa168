"""The ``crm`` command, built on Flask's ``FlaskGroup`` (``crm run``, ``shell`` and ``routes``
come with it). Plugin commands are looked up only when ``crm`` needs them."""

from __future__ import annotations

import sys
from typing import Any

import click
from flask.cli import FlaskGroup, ScriptInfo

from .. import __version__

#: Built-in commands: name -> ("module:attribute", short help). A command is imported when it
#: runs; ``crm --help`` lists them from here (``tests/test_cli.py`` keeps the texts current).
COMMANDS: dict[str, tuple[str, str]] = {
    "init": (
        "crmcore.cli.instance:init",
        "Create the instance (SQLite by default), migrate, create default roles.",
    ),
    "serve": (
        "crmcore.cli.instance:serve",
        "Serve the CRM with a production server (gunicorn; waitress on Windows).",
    ),
    "demo": (
        "crmcore.cli.instance:demo",
        "Fill the instance with realistic demo users and records of every enabled plugin.",
    ),
    "db": ("crmcore.cli.instance:db", "Database migrations (one lineage per plugin)."),
    "plugins": (
        "crmcore.cli.plugins:plugins",
        "Installed plugins and which are enabled on this instance.",
    ),
    "users": ("crmcore.cli.users:users", "Create and list users, change roles."),
    "tokens": ("crmcore.cli.users:tokens", "Personal API tokens."),
    "people": (
        "crmcore.cli.people:people",
        "Export or erase everything held about one person (by e-mail address).",
    ),
    "worker": (
        "crmcore.cli.ops:worker",
        "Run background jobs (Huey consumer) until stopped with Ctrl-C or SIGTERM.",
    ),
    "backup": (
        "crmcore.cli.ops:backup",
        "Write the database and attachments into FILE (.tar.gz), while the CRM keeps running.",
    ),
    "restore": (
        "crmcore.cli.ops:restore",
        "Restore the database and attachments from a backup FILE made by `crm backup`.",
    ),
    "import": (
        "crmcore.cli.data:import_",
        "Import the CSV FILE into ENTITY (singular or plural name, e.g. contacts).",
    ),
    "export": (
        "crmcore.cli.data:export",
        "Export ENTITY to FILE (default: standard output), streaming at constant memory.",
    ),
}


class LazyGroup(click.Group):
    """A command group whose subcommands are imported only when one runs or shows its help.

    ``lazy_subcommands`` maps a name to ``"module:attribute"``; a plugin's ``crm <plugin>``
    group made this way keeps ``crm --help`` from importing what its commands need::

        support = LazyGroup(
            name="support",
            help="Tickets from mail, SLAs.",
            lazy_subcommands={"fetch-mail": "crm_support.imap:fetch_mail_command"},
        )
    """

    def __init__(
        self, *args: Any, lazy_subcommands: dict[str, str] | None = None, **kwargs: Any
    ) -> None:
        super().__init__(*args, **kwargs)
        self.lazy_subcommands = dict(lazy_subcommands or {})

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *self.lazy_subcommands})

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name in self.lazy_subcommands:
            return _import(self.lazy_subcommands[name])
        return super().get_command(ctx, name)


def _create_app() -> Any:
    from ..app import create_app

    return create_app()


def _import(target: str) -> click.Command:
    from importlib import import_module

    module, _, attr = target.partition(":")
    return getattr(import_module(module), attr)  # type: ignore[no-any-return]


class CRMGroup(FlaskGroup):
    """Lazy built-in and plugin commands; known errors become one line and exit status 1."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        # FlaskGroup would create the app to list app.cli commands: too slow for --help
        names = set(self.commands) | set(COMMANDS)
        names |= set(self._plugin_commands(ctx))
        return sorted(names)

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name in COMMANDS:
            return _import(COMMANDS[name][0])
        command = click.Group.get_command(self, ctx, name)
        if command is not None:
            return command
        return self._plugin_commands(ctx).get(name)

    def _plugin_commands(self, ctx: click.Context) -> dict[str, click.Command]:
        info = ctx.ensure_object(ScriptInfo)
        if info.create_app not in (None, _create_app):
            # the caller gave its own app (tests, an embedding program): the commands of that
            # app's plugins, extra modules included, kept on the app rather than on `crm`
            crm = info.load_app().extensions["crm"]
            if not hasattr(crm, "cli_commands"):
                collected = [
                    (plugin, command)
                    for plugin, command in crm.plugins.collect("crm_cli_commands")
                    if command.name not in COMMANDS
                ]
                crm.cli_commands = {command.name: command for _p, command in collected}
                crm.cli_command_plugins = {command.name: p for p, command in collected}
            self._owners = crm.cli_command_plugins
            return crm.cli_commands  # type: ignore[no-any-return]
        if not hasattr(self, "_plugin_cache"):
            # only installed plugins are imported (built-ins have no commands of their own),
            # so `crm --help` does not pay for the whole application
            from ..plugins import discover

            found: dict[str, click.Command] = {}
            owners: dict[str, str] = {}
            plugins, _failed = discover()
            for plugin in plugins:
                hook = getattr(plugin.module, "crm_cli_commands", None)
                try:
                    for command in hook() if hook else ():
                        if command.name not in COMMANDS:
                            found[command.name or ""] = command
                            owners[command.name or ""] = plugin.name
                except Exception as exc:  # a broken plugin must not break `crm`
                    click.echo(f"warning: commands of {plugin.name} unavailable: {exc}", err=True)
            self._plugin_cache = found
            self._plugin_owners = owners
        self._owners = self._plugin_owners
        return self._plugin_cache

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """The command list of ``crm --help``, importing no built-in command to write it."""
        rows = []
        for name in self.list_commands(ctx):
            if name in COMMANDS:
                rows.append((name, COMMANDS[name][1]))
                continue
            command = self.get_command(ctx, name)
            if command is not None and not command.hidden:
                rows.append((name, command.get_short_help_str(formatter.width - 20)))
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)

    def resolve_command(
        self, ctx: click.Context, args: list[str]
    ) -> tuple[str | None, click.Command | None, list[str]]:
        """A plugin's commands run only where the plugin is enabled (``--help`` always works)."""
        name, command, rest = super().resolve_command(ctx, args)
        owner = getattr(self, "_owners", {}).get(name or "")
        if owner and command is not None and not {"--help", "-h"} & set(rest):
            self._require_enabled(ctx, owner)
        return name, command, rest

    @staticmethod
    def _require_enabled(ctx: click.Context, plugin: str) -> None:
        from sqlalchemy.exc import SQLAlchemyError

        app = ctx.ensure_object(ScriptInfo).load_app()
        with app.app_context():
            try:
                enabled = app.extensions["crm"].enabled_plugins()
            except SQLAlchemyError:
                return  # no instance yet: the command itself says what is wrong
        if plugin not in enabled:
            raise click.ClickException(
                f"plugin {plugin!r} is not enabled on this instance: crm plugins enable {plugin}"
            )

    def invoke(self, ctx: click.Context) -> Any:
        from ..config import ConfigError
        from ..errors import CRMError, ValidationError
        from ..plugin_listing import DatabaseUnavailable
        from ..plugins import PluginError

        try:
            return super().invoke(ctx)
        except ValidationError as exc:
            fields = "; ".join(
                f"{k}: {' '.join(map(str, v)) if isinstance(v, list) else v}"
                for k, v in exc.messages.items()
            )
            raise click.ClickException(fields or exc.detail) from None
        except (CRMError, PluginError, ConfigError) as exc:
            raise click.ClickException(str(exc)) from None
        except DatabaseUnavailable as exc:  # read with the driver itself (crm plugins list)
            raise click.ClickException(_database_error(exc.detail)) from None
        except Exception as exc:
            # SQLAlchemy is loaded by the commands that use it, not to run every command
            errors = sys.modules.get("sqlalchemy.exc")
            if errors and isinstance(exc, (errors.OperationalError, errors.ProgrammingError)):
                raise click.ClickException(_database_error(str(exc.orig or exc))) from None
            raise


def _database_error(detail: str) -> str:
    first = detail.strip().splitlines()[0] if detail.strip() else detail
    return f"database error: {first} (has `crm init` been run for this instance?)"


cli = CRMGroup(
    name="crm",
    create_app=_create_app,
    add_default_commands=True,
    add_version_option=False,
    load_dotenv=False,
    set_debug_flag=False,
    help="Run and manage a CRM instance. Settings come from CRM_* environment variables and "
    "<instance>/crm.toml (CRM_INSTANCE_PATH, default ./instance).",
)
cli = click.version_option(__version__, prog_name="crm")(cli)


def main() -> None:
    cli.main(prog_name="crm", args=sys.argv[1:])
