"""``crm init``, ``crm demo``, ``crm serve`` and ``crm db``."""

from __future__ import annotations

import platform
from typing import Any

import click
from click.core import ParameterSource
from flask import current_app
from flask.cli import with_appcontext

from ..config import ensure_secret_key, load_settings


def _crm():  # type: ignore[no-untyped-def]
    return current_app.extensions["crm"]


@click.command()
@click.option("--demo", is_flag=True, help="Also enable every plugin and add demo users and data.")
def init(demo: bool) -> None:
    """Create the instance (SQLite by default), migrate, create default roles.

    Running it again is safe: it migrates what is new and changes nothing else.
    """
    settings = load_settings()
    settings.instance_path.mkdir(parents=True, exist_ok=True)
    ensure_secret_key(settings)
    from ..app import create_app
    from ..instance import create_demo, enable_plugin, init_instance, write_private

    app = create_app(settings.instance_path)
    with app.app_context():
        crm = app.extensions["crm"]
        init_instance(crm)
        click.echo(f"instance ready at {settings.instance_path}")
        if not demo:
            click.echo("next: crm users create EMAIL --role admin --password-stdin")
            return
        for plugin in crm.plugins:
            if not plugin.meta.builtin and plugin.name not in crm.enabled_plugins():
                try:
                    for note in enable_plugin(crm, plugin.name):
                        click.echo(note)
                except Exception as exc:
                    click.echo(f"could not enable {plugin.name}: {exc}", err=True)
        password, created = create_demo(crm)
        login_file = settings.instance_path / "demo-login.txt"
        if created:
            write_private(login_file, f"admin@example.com {password}\n")
            click.echo("demo data created")
        text = login_file.read_text().strip() if login_file.exists() else ""
        if text:
            email, _, pw = text.partition(" ")
            click.echo(
                f"admin login: {email} / {pw} (same password for manager@, rep1@, rep2@, "
                "agent@ and marketer@example.com)"
            )


@click.command()
@with_appcontext
def demo() -> None:
    """Fill the instance with realistic demo users and records of every enabled plugin."""
    from ..instance import create_demo

    password, created = create_demo(_crm())
    if not created:
        raise click.ClickException("demo users already exist")
    click.echo(f"demo data created; admin login: admin@example.com / {password}")


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5000, show_default=True, type=int)
@click.option("--workers", type=click.IntRange(1, 256), help="Worker processes [default: 2].")
@click.option("--threads", type=click.IntRange(1, 256), help="Threads per worker [default: 4].")
@click.option(
    "--timeout",
    type=click.IntRange(0),
    help="Seconds a request may take before its worker is restarted [gunicorn's default: 30].",
)
@click.option(
    "--keep-alive",
    "keepalive",
    type=click.IntRange(0),
    help="Seconds an idle connection stays open [gunicorn's default: 2].",
)
@click.option(
    "--max-requests",
    type=click.IntRange(0),
    help="Restart a worker after this many requests (0: never) [gunicorn's default: 0].",
)
@click.option(
    "--max-requests-jitter",
    type=click.IntRange(0),
    help="Random extra requests before that restart, so workers do not restart together.",
)
@click.option(
    "--access-log",
    "accesslog",
    metavar="FILE",
    help="Where the access log goes: a file, '-' for standard output [default: -].",
)
@click.option(
    "--config",
    "config_file",
    type=click.Path(exists=True, dir_okay=False),
    help="A gunicorn configuration file (else --config in GUNICORN_CMD_ARGS, else "
    "./gunicorn.conf.py when it exists).",
)
@click.option(
    "--print-config", is_flag=True, help="Print the server settings that would be used, and exit."
)
@click.option(
    "--jobs/--no-jobs",
    "run_jobs",
    default=None,
    help="Run background jobs in-process (default: yes unless CRM_REDIS_URL is set, "
    "when `crm worker` processes run them).",
)
def serve(
    host: str,
    port: int,
    config_file: str | None,
    print_config: bool,
    run_jobs: bool | None,
    **server_options: Any,
) -> None:
    """Serve the CRM with a production server (gunicorn; waitress on Windows).

    gunicorn's own configuration applies (a config file, GUNICORN_CMD_ARGS); the options here
    win over it. In the embedded set-up (no Redis) one gunicorn worker also runs the job
    consumer; see ``crmcore.jobs.embedded`` for why it is a worker and not the master.
    """
    from ..app import create_app

    options = {k: v for k, v in server_options.items() if v is not None}
    bind = f"{host}:{port}"
    ctx = click.get_current_context()
    if any(ctx.get_parameter_source(p) != ParameterSource.DEFAULT for p in ("host", "port")):
        options["bind"] = bind  # given here: stronger than a configuration file's bind
    app = create_app()
    with app.app_context():
        from .. import migrate

        crm = app.extensions["crm"]
        if migrate.current(crm, "core") is None:
            raise click.ClickException("this instance is not initialised: run `crm init` first")
        crm.api.complete()
    from ..settings import listen_url_of, note_listen_url

    # links in mail fall back to this address when neither CRM_BASE_URL nor the setting is set
    note_listen_url(app.extensions["crm"], listen_url_of(host, port))
    # forked workers must not share the master's pooled connections (PostgreSQL sockets)
    app.extensions["crm"].engine.dispose()
    if run_jobs is None:
        run_jobs = not app.extensions["crm"].settings.redis_url
    if platform.system() == "Windows":
        import waitress

        from ..jobs.embedded import start_embedded

        click.echo(f"serving on http://{host}:{port}")
        consumer = start_embedded(app) if run_jobs else None
        waitress.serve(app, host=host, port=port, threads=options.get("threads", 4))
        if consumer is not None:
            consumer.stop(graceful=True)
        return
    from ..jobs.embedded import gunicorn_hooks
    from ..server import CRMServer, effective_settings

    hooks = gunicorn_hooks(app) if run_jobs else {}
    server = CRMServer(app, bind, options, config_file, hooks)
    if print_config:
        for name, value in effective_settings(server).items():
            click.echo(f"{name} = {value!r}")
        return
    click.echo(f"serving on http://{host}:{port}")
    server.run()


@click.group()
def db() -> None:
    """Database migrations (one lineage per plugin)."""


@db.command()
@click.option(
    "--all", "everything", is_flag=True, help="Also migrate installed plugins that are not enabled."
)
@with_appcontext
def upgrade(everything: bool) -> None:
    """Migrate the core and every enabled plugin to their newest revision."""
    from ..instance import upgrade_all

    for lineage in upgrade_all(_crm(), only_enabled=not everything):
        click.echo(f"{lineage}: up to date")


@db.command()
@with_appcontext
def current() -> None:
    """Show the revision of each lineage, and whether it is behind."""
    from .. import migrate

    crm = _crm()
    for lineage in migrate.lineages(crm):
        now, newest = migrate.current(crm, lineage), migrate.head(crm, lineage)
        state = (
            "no migrations"
            if newest is None
            else ("up to date" if now == newest else f"behind (head {newest})")
        )
        click.echo(f"{lineage}: {now or '-'} {state}")


@db.command()
@click.argument("plugin")
@click.option("-m", "--message", required=True, help="What the revision changes.")
@with_appcontext
def revision(plugin: str, message: str) -> None:
    """Autogenerate a migration for PLUGIN (``core`` for crmcore itself; for developers)."""
    from .. import migrate

    migrate.revision(_crm(), plugin, message)
