"""``crm import`` and ``crm export``."""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click
from flask import current_app
from flask.cli import with_appcontext

if TYPE_CHECKING:
    from ..permissions import Access


def _crm() -> Any:
    return current_app.extensions["crm"]


def _access(crm: Any, email: str | None) -> Access:
    """The system, or the user ``--as EMAIL`` (whose permission scope then applies)."""
    from ..permissions import Access

    if not email:
        return Access.system()
    from sqlalchemy import select

    from ..users.models import User

    user = crm.session.scalar(select(User).where(User.email == email.strip().lower()))
    if user is None or not user.active or user.deleted_at is not None:
        raise click.ClickException(f"no active user with e-mail {email}")
    return Access.for_user(user)


class _Rate:
    """The rows/s shown next to the progress bar."""

    def __init__(self) -> None:
        self.started = time.perf_counter()
        self.rows = 0

    def add(self, rows: int) -> str:
        self.rows += rows
        elapsed = time.perf_counter() - self.started
        return f"{self.rows / elapsed:,.0f} rows/s" if elapsed > 0 else ""


@click.command("import")
@click.argument("entity")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--mapping",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help='JSON {"Column": "field"} or a CSV of column,field (null/empty ignores).',
)
@click.option("--dry-run", is_flag=True, help="Validate and report; write nothing.")
@click.option(
    "--on-duplicate",
    type=click.Choice(["skip", "update"]),
    default="skip",
    show_default=True,
    help="Contacts whose e-mail exists already.",
)
@click.option(
    "--batch-size",
    type=click.IntRange(1, 100_000),
    default=5000,  # crmcore.importing.engine.DEFAULT_BATCH, not imported to print the help
    show_default=True,
    help="Rows per transaction.",
)
@click.option(
    "--as",
    "as_email",
    metavar="EMAIL",
    help="Import as this user (their permissions apply); default: the system.",
)
@with_appcontext
def import_(
    entity: str,
    file: Path,
    mapping: Path | None,
    dry_run: bool,
    on_duplicate: str,
    batch_size: int,
    as_email: str | None,
) -> None:
    """Import the CSV FILE into ENTITY (singular or plural name, e.g. contacts).

    Encoding (UTF-8, cp1252/Latin-1) and delimiter (, ; tab) are detected and headers are
    matched to fields (English and Spanish names). Rejected rows are written, with their line
    number and the reason, to a report CSV whose path is printed. Running the same file again
    creates nothing new; an interrupted run can simply be started again.
    """
    from ..importing import ImportJob, ImportOptions, import_file, load_mapping
    from ..importing.engine import Importer, import_limit

    crm = _crm()
    access = _access(crm, as_email)
    options = ImportOptions(
        entity=entity,
        on_duplicate=on_duplicate,
        dry_run=dry_run,
        batch_size=batch_size,
        max_bytes=import_limit(crm),
        mapping=load_mapping(mapping) if mapping else None,
    )
    preview = Importer(crm.records(access), file, options)  # checks everything, writes nothing
    fmt = preview.format
    click.echo(
        f"{file.name}: {fmt.rows:,} rows, {fmt.encoding}, {fmt.delimiter_name}-separated", err=True
    )
    for header, target in preview.columns.describe(fmt.header).items():
        click.echo(f"  {header} -> {target}", err=True)
    if preview.columns.ignored:
        click.echo(f"  ignored columns: {', '.join(preview.columns.ignored)}", err=True)
    job = None
    if not dry_run:
        job = ImportJob(
            entity=preview.entity.name,
            filename=file.name,
            path=str(file.resolve()),
            user_id=access.user_id,
            options={
                "mapping": options.mapping,
                "on_duplicate": on_duplicate,
                "dry_run": False,
                "batch_size": batch_size,
                "source": "cli",
            },
        )
        crm.session.add(job)
        crm.session.commit()
    rate = _Rate()
    with click.progressbar(
        length=fmt.rows,
        label="importing",
        file=sys.stderr,
        show_pos=True,
        item_show_func=lambda text: text,
    ) as bar:
        result = import_file(
            crm, access, file, options, job=job, progress=lambda n: bar.update(n, rate.add(n))
        )
    verb = "would be " if dry_run else ""
    click.echo(
        f"{'dry run: ' if dry_run else ''}{result.total:,} rows in {result.seconds:.1f}s "
        f"({result.rows_per_second:,.0f} rows/s): {verb}created {result.created:,}, "
        f"{verb}updated {result.updated:,}, skipped {result.skipped:,}, "
        f"rejected {result.rejected:,}"
        + (
            f"; companies {verb}created {result.companies_created:,}"
            if result.companies_created
            else ""
        )
    )
    if result.report_path:
        click.echo(f"rejected rows: {result.report_path}")
    if result.possible_duplicates:
        click.echo(f"possible duplicates: {result.possible_duplicates:,}")
        for item in result.duplicates:
            others = ", ".join(
                f"#{d['id']} {d['title']} ({'+'.join(d['reasons'])}, {d['score']})"
                for d in item["duplicates"]
            )
            if others:
                click.echo(f"  line {item['line']}: #{item['record_id']} may duplicate {others}")
            if item.get("erased"):
                click.echo(
                    f"  line {item['line']}: #{item['record_id']} has the address of a person "
                    "whose data was erased: keep it only with a new reason (consent or contract)"
                )


@click.command("export")
@click.argument("entity")
@click.argument("file", required=False, type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--format", "fmt", type=click.Choice(["csv", "json"]), default="csv", show_default=True
)
@click.option(
    "--as",
    "as_email",
    metavar="EMAIL",
    help="Export as this user (only what they may read); default: the system.",
)
@with_appcontext
def export(entity: str, file: Path | None, fmt: str, as_email: str | None) -> None:
    """Export ENTITY to FILE (default: standard output), streaming at constant memory."""
    from ..exporting import export_chunks

    crm = _crm()
    service = crm.records(_access(crm, as_email))
    chunks = export_chunks(service, service.entity(entity), fmt)
    if file is None:
        out = sys.stdout.buffer
        for chunk in chunks:
            out.write(chunk)
        out.flush()
        return
    partial = file.with_name(file.name + ".part")
    with open(partial, "wb") as fh:
        for chunk in chunks:
            fh.write(chunk)
    partial.replace(file)
    click.echo(f"exported to {file}", err=True)
