"""``crm people export EMAIL`` and ``crm people erase EMAIL``: a person's rights (GDPR)."""

from __future__ import annotations

import datetime as dt
import sys
from pathlib import Path

import click
from flask import current_app
from flask.cli import with_appcontext


@click.group()
def people() -> None:
    """Export or erase everything held about one person (by e-mail address)."""


@people.command("export")
@click.argument("email")
@click.option(
    "-o",
    "--output",
    "output",
    default=None,
    help="The ZIP file to write ('-' for standard output; default person-<date>.zip).",
)
@with_appcontext
def export(email: str, output: str | None) -> None:
    """Write a ZIP of everything held about EMAIL: JSON of every module's rows, and files."""
    from ..privacy import clean_email, export_person

    crm = current_app.extensions["crm"]
    email = clean_email(email)
    if output == "-":
        export_person(crm, crm.session, email, sys.stdout.buffer)
        return
    target = Path(output or f"person-{dt.date.today():%Y%m%d}.zip")
    partial = target.with_name(target.name + ".part")
    try:
        with partial.open("wb") as fh:
            found = export_person(crm, crm.session, email, fh)
        partial.replace(target)
    finally:
        partial.unlink(missing_ok=True)
    rows = sum(found.counts().values())
    click.echo(f"wrote {target} ({rows} rows from {len(found.counts())} sections)")


@people.command("erase")
@click.argument("email")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@with_appcontext
def erase(email: str, yes: bool) -> None:
    """Erase everything held about EMAIL for good; aggregates keep pseudonymised rows."""
    from ..errors import NotFound
    from ..privacy import clean_email, erase_person, gather

    crm = current_app.extensions["crm"]
    email = clean_email(email)
    found = gather(crm, crm.session, email)
    if not found.found:
        raise NotFound("Nothing is held about %(email)s.", params={"email": email})
    for name, count in found.counts().items():
        click.echo(f"  {name}: {count}")
    if not yes:
        click.confirm(
            f"Erase everything held about {email} for good? This cannot be undone", abort=True
        )
    crm.session.rollback()  # start the erasure afresh from what is in the database now
    done = erase_person(crm, crm.session, email)
    click.echo(f"erased {email}: {sum(done.counts().values())} rows")
