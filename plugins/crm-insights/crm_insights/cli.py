"""``crm insights``: the analytics export for a data warehouse and its Parquet schema."""

from __future__ import annotations

from pathlib import Path
from typing import Any

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
    "--format", "fmt", type=click.Choice(["jsonl", "parquet"]), default="jsonl",
    show_default=True, help="JSON Lines, or Parquet (needs the extra crm-insights[parquet]).",
)  # fmt: skip
@click.option(
    "-o", "--output", "output", required=True, type=click.Path(file_okay=False, path_type=Path),
    help="Directory to write the files into.",
)  # fmt: skip
@with_appcontext
def export_command(since: str, entities: str, fmt: str, output: Path) -> None:
    """Write records changed since the cursor, and deletes, as JSON Lines or Parquet; print the
    next cursor (also written to cursor-<run>.txt)."""
    from crmcore import CRMError

    from .warehouse import choose_entities, export

    crm = _enabled_crm()
    names = [n.strip() for n in entities.split(",") if n.strip()]
    try:
        result = export(crm, since.strip() or None, choose_entities(crm, names), output, fmt)
    except CRMError as error:  # a bad cursor or entity, pyarrow missing, a value off its type
        raise click.ClickException(str(error)) from None
    for name, count in result.files.items():
        click.echo(f"{name}: {count}", err=True)
    click.echo(result.cursor)


@insights.command("schema")
@click.option(
    "--entities", default="", help="Comma-separated entities (default: every enabled one)."
)
@with_appcontext
def schema_command(entities: str) -> None:
    """Print the columns and Parquet types of each entity's export file."""
    from crmcore import CRMError

    from .parquet import describe
    from .warehouse import choose_entities

    crm = _enabled_crm()
    names = [n.strip() for n in entities.split(",") if n.strip()]
    try:
        described = describe(choose_entities(crm, names))
    except CRMError as error:
        raise click.ClickException(str(error)) from None
    for plural, columns in described.items():
        click.echo(f"{plural}:")
        for name, kind in columns:
            click.echo(f"  {name}: {kind}")


def _enabled_crm() -> Any:
    crm = current_app.extensions["crm"]
    if "insights" not in crm.enabled_plugins():
        raise click.ClickException(
            "the insights plugin is not enabled: crm plugins enable insights"
        )
    return crm
