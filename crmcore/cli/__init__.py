"""The ``crm`` command: a click group that does what Flask's ``FlaskGroup`` does for it
(``crm run``, ``shell`` and ``routes``, a ``ScriptInfo`` for ``with_appcontext``, ``--env-file``
and ``--debug``) but imports Flask only when a command runs, so ``crm --help`` stays fast.
Plugin commands are looked up only when ``crm`` needs them."""

from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING, Any

import click
from click.core import ParameterSource

from .. import __version__

if TYPE_CHECKING:
    from flask.cli import ScriptInfo

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
    # Flask's own, as FlaskGroup adds them
    "run": ("flask.cli:run_command", "Run a development server."),
    "shell": ("flask.cli:shell_command", "Run a shell in the app context."),
    "routes": ("flask.cli:routes_command", "Show the routes for the app."),
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


def new_script_info() -> ScriptInfo:
    """The Flask ``ScriptInfo`` that the ``crm`` executable runs with (what ``with_appcontext``
    loads the app from): the CRM app of the instance that the environment names."""
    from flask.cli import ScriptInfo

    return ScriptInfo(create_app=_create_app, set_debug_flag=False, load_dotenv_defaults=False)


def script_info(ctx: click.Context) -> ScriptInfo:
    """This run's ``ScriptInfo``: the caller's (the test kit gives one), else a new one."""
    root = ctx.find_root()
    if root.obj is None:
        root.obj = new_script_info()
    return root.obj  # type: ignore[no-any-return]


def _load_env_file(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    if value is None:
        return None
    try:
        import dotenv
    except ImportError:
        raise click.BadParameter(
            "python-dotenv must be installed to load an env file.", ctx=ctx, param=param
        ) from None
    dotenv.load_dotenv(value, encoding="utf-8", override=False)
    return value


def _set_debug(ctx: click.Context, param: click.Parameter, value: bool) -> bool | None:
    # an environment variable, not the ScriptInfo, so that create_app sees it (as Flask does)
    if ctx.get_parameter_source(param.name or "") in (
        ParameterSource.DEFAULT,
        ParameterSource.DEFAULT_MAP,
    ):
        return None
    os.environ["FLASK_DEBUG"] = "1" if value else "0"
    return value


#: FlaskGroup's options. ``--app`` is accepted, not shown, and ignored: FlaskGroup given
#: ``create_app`` never loaded the app it names either, so ``crm`` always runs the CRM.
OPTIONS = [
    click.Option(
        ["-e", "--env-file"],
        type=click.Path(exists=True, dir_okay=False),
        help="Load environment variables from this file. Variables set directly in the "
        "environment take precedence. python-dotenv must be installed.",
        is_eager=True,
        expose_value=False,
        callback=_load_env_file,
    ),
    click.Option(
        ["-A", "--app"],
        metavar="IMPORT",
        hidden=True,
        expose_value=False,
    ),
    click.Option(
        ["--debug/--no-debug"], help="Set debug mode.", expose_value=False, callback=_set_debug
    ),
]


class CRMGroup(click.Group):
    """Lazy built-in and plugin commands; known errors become one line and exit status 1."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("context_settings", {}).setdefault("auto_envvar_prefix", "FLASK")
        super().__init__(params=[*OPTIONS, *kwargs.pop("params", [])], **kwargs)

    def make_context(
        self,
        info_name: str | None,
        args: list[str],
        parent: click.Context | None = None,
        **extra: Any,
    ) -> click.Context:
        # tells a module that calls app.run() at import not to start a server (as FlaskGroup)
        os.environ["FLASK_RUN_FROM_CLI"] = "true"
        return super().make_context(info_name, args, parent=parent, **extra)

    def list_commands(self, ctx: click.Context) -> list[str]:
        names = set(self.commands) | set(COMMANDS)
        names |= set(self._plugin_commands(ctx))
        return sorted(names)

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name in COMMANDS:
            return _import(COMMANDS[name][0])
        command = super().get_command(ctx, name)
        if command is not None:
            return command
        return self._plugin_commands(ctx).get(name)

    def _plugin_commands(self, ctx: click.Context) -> dict[str, click.Command]:
        info = ctx.find_root().obj
        if getattr(info, "create_app", None) not in (None, _create_app):
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

        app = script_info(ctx).load_app()
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

        script_info(ctx)  # before the command's context is made: it inherits the object
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
    help="Run and manage a CRM instance. Settings come from CRM_* environment variables and "
    "<instance>/crm.toml (CRM_INSTANCE_PATH, default ./instance).",
)
cli = click.version_option(__version__, prog_name="crm")(cli)


def main() -> None:
    cli.main(prog_name="crm", args=sys.argv[1:])
