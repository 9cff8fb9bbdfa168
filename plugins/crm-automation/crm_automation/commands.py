"""The commands of ``crm automation``, imported only when one runs."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import click
from flask.cli import with_appcontext

if TYPE_CHECKING:
    from .models import AutomationWorkflow


def _rule(crm: Any, ident: str) -> AutomationWorkflow:
    """A rule by id or by exact name; a click error otherwise."""
    from sqlalchemy import select

    from .models import AutomationWorkflow

    session = crm.session
    rule: AutomationWorkflow | None = None
    if ident.isdigit():
        rule = session.get(AutomationWorkflow, int(ident))
    if rule is None:
        rule = session.scalar(
            select(AutomationWorkflow).where(
                AutomationWorkflow.name == ident, AutomationWorkflow.deleted_at.is_(None)
            )
        )
    if rule is None or rule.deleted_at is not None:
        raise click.ClickException(f"no workflow rule {ident!r}")
    return rule


@click.command("list")
@with_appcontext
def list_command() -> None:
    """Every rule: id, state, entity, trigger and name."""
    from crmcore import current_crm
    from sqlalchemy import select

    from .models import AutomationWorkflow

    crm = current_crm()
    rules = crm.session.scalars(
        select(AutomationWorkflow)
        .where(AutomationWorkflow.deleted_at.is_(None))
        .order_by(AutomationWorkflow.id)
    )
    for rule in rules:
        state = "active" if rule.active else "inactive"
        kind = (rule.trigger or {}).get("type", "?")
        system = " system" if rule.system else ""
        click.echo(f"{rule.id}\t{state}{system}\t{rule.entity}\t{kind}\t{rule.name}")


@click.command("run")
@click.argument("rule")
@click.option("--dry-run", is_flag=True, help="Show the records and actions; change nothing.")
@with_appcontext
def run_command(rule: str, dry_run: bool) -> None:
    """Run RULE (id or name) now on every record meeting its conditions."""
    from crmcore import CRMError, current_crm

    from .engine import dry_run as plan
    from .engine import run_now

    crm = current_crm()
    found = _rule(crm, rule)
    try:
        if dry_run:
            click.echo(json.dumps(plan(crm, found), indent=2, default=str))
            return
        runs = run_now(crm, found)
    except CRMError as exc:
        raise click.ClickException(exc.detail) from None
    click.echo(f"{len(runs)} run(s) queued")


@click.command("history")
@click.argument("rule")
@click.option("--limit", default=20, show_default=True, type=click.IntRange(1, 1000))
@with_appcontext
def history_command(rule: str, limit: int) -> None:
    """The latest runs of RULE (id or name), newest first."""
    from crmcore import current_crm

    from .history import runs_of_rule, summary

    crm = current_crm()
    found = _rule(crm, rule)
    for run in runs_of_rule(crm.session, found.id, limit):
        when = run.created_at.isoformat(timespec="seconds")
        click.echo(f"{run.id}\t{when}\t{run.status}\t{run.entity} #{run.record_id}\t{run.trigger}")
        for line in summary(run).splitlines():
            click.echo(f"\t{line}")
