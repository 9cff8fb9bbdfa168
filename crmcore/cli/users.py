"""``crm users ...`` and ``crm tokens create``."""

from __future__ import annotations

import sys

import click
from flask import current_app
from flask.cli import with_appcontext


def _crm():  # type: ignore[no-untyped-def]
    return current_app.extensions["crm"]


def _user(crm, email: str):  # type: ignore[no-untyped-def]
    from sqlalchemy import select

    from ..users.models import User

    user = crm.session.scalar(select(User).where(User.email == email.strip().lower()))
    if user is None:
        raise click.ClickException(f"no user with e-mail {email}")
    return user


def _read_password(password: str | None, from_stdin: bool) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    if password is None:
        raise click.UsageError("give --password or --password-stdin")
    return password


@click.group()
def users() -> None:
    """Create and list users, change roles."""


@users.command()
@click.argument("email")
@click.option("--password", help="The password (visible in shell history: prefer stdin).")
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input.")
@click.option("--role", default=None, help="Role name, e.g. admin, manager, sales_rep.")
@click.option("--name", default="", help="Display name.")
@with_appcontext
def create(
    email: str, password: str | None, password_stdin: bool, role: str | None, name: str
) -> None:
    """Create a user with e-mail EMAIL."""
    from ..instance import create_user

    secret = _read_password(password, password_stdin)
    user = create_user(_crm(), email, secret, role, name)
    click.echo(f"created user {user.email} (id {user.id}, role {role or '-'})")


@users.command("list")
@with_appcontext
def list_() -> None:
    """All users with their role and state."""
    from sqlalchemy import select

    from ..users.models import User

    for user in _crm().session.scalars(select(User).order_by(User.id)):
        role = user.role.name if user.role else "-"
        state = "active" if user.active and user.deleted_at is None else "inactive"
        click.echo(f"{user.id:>5}  {user.email:<40} {role:<15} {state}")


@users.command("set-role")
@click.argument("email")
@click.argument("role")
@with_appcontext
def set_role(email: str, role: str) -> None:
    """Give the user EMAIL the role ROLE."""
    from sqlalchemy import select

    from ..users.models import Role

    crm = _crm()
    user = _user(crm, email)
    role_row = crm.session.scalar(select(Role).where(Role.name == role))
    if role_row is None:
        raise click.ClickException(f"no role called {role!r}")
    crm.records().update("users", user, {"role_id": role_row.id})
    click.echo(f"{user.email} now has role {role}")


@users.command("set-password")
@click.argument("email")
@click.option("--password", help="The new password.")
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input.")
@with_appcontext
def set_password(email: str, password: str | None, password_stdin: bool) -> None:
    """Set the password of the user EMAIL."""
    crm = _crm()
    user = _user(crm, email)
    crm.records().update("users", user, {"password": _read_password(password, password_stdin)})
    click.echo(f"password of {user.email} changed")


@users.command("reset-2fa")
@click.argument("email")
@with_appcontext
def reset_2fa(email: str) -> None:
    """Turn off two-factor sign-in of the user EMAIL (who lost the app and the recovery codes).

    They sign in with their password alone and can turn it on again; the change is audited.
    """
    crm = _crm()
    user = _user(crm, email)
    if not user.totp_secret:
        click.echo(f"{user.email} has no two-factor sign-in")
        return
    crm.records().update(
        "users", user, {}, internal={"totp_secret": None, "totp_recovery": []}
    )
    click.echo(f"two-factor sign-in of {user.email} is off; they can turn it on again")


@click.group()
def tokens() -> None:
    """Personal API tokens."""


@tokens.command("create")
@click.argument("email")
@click.option("--name", default="cli", show_default=True, help="What the token is for.")
@click.option(
    "--days",
    default=90,
    show_default=True,
    type=click.IntRange(1),
    help="Days until it expires (at most the instance's token_max_days).",
)
@with_appcontext
def create_token(email: str, name: str, days: int) -> None:
    """Create a personal API token for EMAIL and print it (it is shown only once)."""
    from ..api.auth import issue_token, personal_token_hours

    crm = _crm()
    if days > crm.settings.token_max_days:
        raise click.BadParameter(
            f"at most {crm.settings.token_max_days} days (token_max_days)", param_hint="--days"
        )
    user = _user(crm, email)
    secret, _row = issue_token(
        crm.session, user, name, personal_token_hours(days, crm.settings.token_max_days)
    )
    crm.session.commit()
    click.echo(secret)
