"""The commands of ``crm insights``, imported only when one runs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click
from flask import current_app
from flask.cli import with_appcontext


@click.command("export")
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


@click.command("schema")
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


@click.group("rollup")
def rollup() -> None:
    """Rollups: pre-aggregated figures that answer reports, kept current by every write."""


@rollup.command("list")
@with_appcontext
def rollup_list() -> None:
    """Print each rollup: id, entity, groups, summed fields, state, rows, last build."""
    from sqlalchemy import func, select

    from .rollups import Rollup, RollupRow

    crm = _enabled_crm()
    session = crm.session
    stmt = select(RollupRow.rollup_id, func.count()).group_by(RollupRow.rollup_id)
    counts = {rollup_id: rows for rollup_id, rows in session.execute(stmt)}
    for r in session.scalars(select(Rollup).order_by(Rollup.id)):
        built = r.built_at.isoformat(timespec="seconds") if r.built_at else "never"
        click.echo(
            f"{r.id}\t{r.entity}\tgroups={','.join(r.groups)}\tsums={','.join(r.measures)}"
            f"\t{r.status}\trows={counts.get(r.id, 0)}\tbuilt={built}"
        )


@rollup.command("add")
@click.argument("entity")
@click.option("--group", "groups", multiple=True, required=True, help="A field to group by.")
@click.option("--sum", "sums", multiple=True, help="A number field to sum (and average).")
@with_appcontext
def rollup_add(entity: str, groups: tuple[str, ...], sums: tuple[str, ...]) -> None:
    """Declare a rollup of ENTITY and build it (one holding these fields already: nothing)."""
    from crmcore import CRMError
    from crmcore.permissions import Access

    from .rollups.manage import check_fields, ensure

    crm = _enabled_crm()
    service = crm.records(Access.system())
    try:
        wanted = check_fields(service, service.entity(entity), list(groups), list(sums))
    except CRMError as error:
        raise click.ClickException(_problem(error)) from None
    found, new = ensure(service, wanted)
    crm.session.commit()
    click.echo(f"rollup {found.id}: " + ("built" if new else "already there"))


@rollup.command("rebuild")
@click.option("--id", "ids", type=int, multiple=True, help="Only this rollup (default: all).")
@with_appcontext
def rollup_rebuild(ids: tuple[int, ...]) -> None:
    """Make the rollups of saved reports that fit one, then build rollups again from the
    records."""
    from .rollups import for_reports, rebuild

    crm = _enabled_crm()
    if not ids:
        for made in for_reports(crm, crm.session):
            click.echo(f"rollup {made.id}: made for report {made.report_id}")
    built = rebuild(crm, crm.session, list(ids) or None)
    crm.session.commit()
    if ids and set(ids) - set(built):
        raise click.ClickException(f"no rollup {sorted(set(ids) - set(built))}")
    for rollup_id, rows in built.items():
        state = f"{rows} rows" if rows is not None else "skipped: its entity or a field is gone"
        click.echo(f"rollup {rollup_id}: {state}")


@rollup.command("check")
@click.option("--no-fix", is_flag=True, help="Only mark a rollup that differs (not read then).")
@with_appcontext
def rollup_check(no_fix: bool) -> None:
    """Compare each rollup with its records (rows written around the record service) and
    rebuild those that differ; exit 1 when one differed."""
    from .rollups import check

    crm = _enabled_crm()
    found = check(crm, crm.session, fix=not no_fix)
    for rollup_id, rows in found.items():
        verdict = (
            "current" if not rows else f"{rows} rows differed" + ("" if no_fix else ", rebuilt")
        )
        click.echo(f"rollup {rollup_id}: {verdict}")
    if any(found.values()):
        raise SystemExit(1)


@rollup.command("drop")
@click.argument("rollup_id", type=int)
@with_appcontext
def rollup_drop(rollup_id: int) -> None:
    """Delete a rollup and its rows (reports it answered use the plain query again)."""
    from .rollups.manage import drop

    crm = _enabled_crm()
    if not drop(crm.session, rollup_id):
        raise click.ClickException(f"no rollup {rollup_id}")
    crm.session.commit()
    click.echo(f"rollup {rollup_id}: dropped")


def _problem(error: Any) -> str:
    messages = getattr(error, "messages", None)
    if isinstance(messages, dict):
        return "; ".join(f"{k}: {' '.join(map(str, v))}" for k, v in messages.items())
    return str(error)


def _enabled_crm() -> Any:
    crm = current_app.extensions["crm"]
    if "insights" not in crm.enabled_plugins():
        raise click.ClickException(
            "the insights plugin is not enabled: crm plugins enable insights"
        )
    return crm
