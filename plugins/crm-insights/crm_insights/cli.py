"""``crm insights``: the analytics export for a data warehouse."""

from __future__ import annotations

from pathlib import Path

import click
from flask import current_app
from flask.cli import with_appcontext


@click.group()
def insights() -> None:
    """Insights: analytics export."""


@insights.command("export")
@click.option("--since", "since", default="", help="The cursor the last run printed (none: all).")
@click.option(
    "--entities", default="", help="Comma-separated entities (default: every enabled one)."
)
@click.option(
    "--format", "fmt", type=click.Choice(["jsonl"]), default="jsonl", show_default=True,
    help="File format (JSON Lines).",
)  # fmt: skip
@click.option(
    "-o", "--output", "output", required=True, type=click.Path(file_okay=False, path_type=Path),
    help="Directory to write the files into.",
)  # fmt: skip
@with_appcontext
def export_command(since: str, entities: str, fmt: str, output: Path) -> None:
    """Write records changed since the cursor, and deletes, as JSON Lines; print the next
    cursor (also written to cursor-<run>.txt)."""
    from .warehouse import ExportError, choose_entities, export

    crm = current_app.extensions["crm"]
    if "insights" not in crm.enabled_plugins():
        raise click.ClickException(
            "the insights plugin is not enabled: crm plugins enable insights"
        )
    names = [n.strip() for n in entities.split(",") if n.strip()]
    try:
        result = export(crm, since.strip() or None, choose_entities(crm, names), output)
    except ExportError as error:
        raise click.ClickException(str(error)) from None
    for name, count in result.files.items():
        click.echo(f"{name}: {count}", err=True)
    click.echo(result.cursor)
