"""The commands of ``crm support``, imported only when one runs."""

from __future__ import annotations

import sys

import click
from flask import current_app
from flask.cli import with_appcontext

#: sysexits: the MTA bounces a message refused with EX_DATAERR, retries on EX_TEMPFAIL.
EX_DATAERR = 65
EX_TEMPFAIL = 75


def _enabled(crm: object) -> None:
    if "support" not in crm.enabled_plugins():  # type: ignore[attr-defined]
        raise click.ClickException("the support plugin is not enabled: crm plugins enable support")


@click.command("ingest")
@click.argument("file", type=click.File("rb"))
@with_appcontext
def ingest(file: click.utils.LazyFile) -> None:
    """Take in one e-mail (FILE.eml, or - for standard input from an MTA pipe)."""
    from crmcore import CRMError

    from .incoming import ingest as ingest_mail
    from .incoming import max_bytes

    crm = current_app.extensions["crm"]
    _enabled(crm)
    raw = file.read(max_bytes(crm) + 1)
    try:
        result = ingest_mail(crm, raw)
    except CRMError as exc:  # MailRejected, or data the records refuse
        click.echo(f"rejected: {exc}", err=True)
        sys.exit(EX_DATAERR)
    except Exception as exc:  # the database is away: let the MTA try again later
        click.echo(f"temporary failure: {exc}", err=True)
        sys.exit(EX_TEMPFAIL)
    number = ""
    if result.ticket_id is not None:
        from .models import Ticket

        ticket = crm.session.get(Ticket, result.ticket_id)
        number = f" {ticket.number}" if ticket else ""
    click.echo(f"{result.action}{number} {result.message_id}".strip())


@click.command("fetch-mail")
@click.option("--queue", "queue_name", help="Only this queue (by name).")
@with_appcontext
def fetch_mail(queue_name: str | None) -> None:
    """Poll the IMAP mailbox of each queue that has one; unread mail becomes tickets.

    Exits with status 1 when a mailbox could not be polled (the others still are).
    """
    from .imap import FetchError, fetch_all

    crm = current_app.extensions["crm"]
    _enabled(crm)
    results = fetch_all(crm, queue_name)
    if queue_name and not results:
        raise click.ClickException(f"no queue called {queue_name!r} has a mailbox (imap_host)")
    failed = False
    for name, counts in results.items():
        if isinstance(counts, FetchError):
            click.echo(f"{name}: failed: {counts}", err=True)
            failed = True
            continue
        summary = ", ".join(f"{k} {v}" for k, v in counts.items())
        click.echo(f"{name}: {summary or 'nothing new'}")
    if failed:
        sys.exit(1)


@click.command("check-sla")
@with_appcontext
def check_sla() -> None:
    """Run the SLA check now (the job consumer runs it every five minutes)."""
    from .jobs import check_slas

    crm = current_app.extensions["crm"]
    _enabled(crm)
    counts = check_slas(current_app)
    click.echo(", ".join(f"{k} {v}" for k, v in counts.items()))
