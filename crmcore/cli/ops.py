"""``crm worker``, ``crm backup`` and ``crm restore``."""

from __future__ import annotations

import logging
from pathlib import Path

import click
from flask import current_app
from flask.cli import with_appcontext


@click.command()
@click.option(
    "--workers",
    default=2,
    show_default=True,
    type=click.IntRange(1, 64),
    help="Worker threads running jobs.",
)
@click.option(
    "--periodic/--no-periodic",
    default=True,
    show_default=True,
    help="Also enqueue periodic jobs (run it in one worker process when you have "
    "several, or jobs are enqueued once per process; they stay idempotent).",
)
@with_appcontext
def worker(workers: int, periodic: bool) -> None:
    """Run background jobs (Huey consumer) until stopped with Ctrl-C or SIGTERM."""
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    crm = current_app.extensions["crm"]
    jobs = crm.jobs
    crm.close_session()
    click.echo(
        f"job consumer: {jobs.storage} storage, queue {jobs.queue!r}, "
        f"{workers} worker(s), periodic jobs {'on' if periodic else 'off'}"
    )
    jobs.consumer(workers, periodic=periodic, graceful_signal="TERM").run()


@click.command()
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@with_appcontext
def backup(file: Path) -> None:
    """Write the database and attachments into FILE (.tar.gz), while the CRM keeps running."""
    from ..backup import create_backup

    manifest = create_backup(current_app.extensions["crm"], file)
    click.echo(
        f"backup written to {file} ({manifest['database']} database, "
        f"{len(manifest['plugins_enabled'])} plugins enabled)"
    )


@click.command()
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--force", is_flag=True, help="Overwrite an instance that already has users or contacts."
)
@with_appcontext
def restore(file: Path, force: bool) -> None:
    """Restore the database and attachments from a backup FILE made by `crm backup`.

    Stop `crm serve` and `crm worker` first when restoring over a running instance.
    """
    from ..backup import restore_backup
    from ..version import __version__

    crm = current_app.extensions["crm"]
    manifest = restore_backup(crm, file, force=force)
    click.echo(
        f"restored the backup of {manifest['created_at']} (crmcore {manifest['crmcore_version']})"
    )
    missing = [p for p in manifest.get("plugins_enabled", []) if p not in crm.plugins.plugins]
    if missing:
        click.echo(
            f"warning: plugins enabled in the backup are not installed: {', '.join(missing)}",
            err=True,
        )
    if manifest.get("crmcore_version") != __version__:
        click.echo("run `crm db upgrade` to bring the restored database to this version")
