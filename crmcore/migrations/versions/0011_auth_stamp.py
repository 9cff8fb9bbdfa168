"""The auth stamp (core_auth_stamp): a value the database changes with every change of a
user, a role or a token's validity, so that resolved tokens can be kept in memory

Revision ID: 0011_auth_stamp
Revises: 0010_idempotency_commit
Create Date: 2026-12-05 14:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011_auth_stamp"
down_revision: str | None = "0010_idempotency_commit"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

#: what each trigger watches: any change of a user or a role (activity, trash, role, grants,
#: password...), and of a token what decides whether it is valid (never ``last_used_at``,
#: which requests touch); an insert changes nothing a cache holds
WATCHED = (
    ("user", "core_user", "UPDATE OR DELETE"),
    ("role", "core_role", "UPDATE OR DELETE"),
    ("token", "core_api_token", "UPDATE OF user_id, token_hash, expires_at, revoked_at OR DELETE"),
)
#: what each SQLite trigger does (PostgreSQL's call ``core_auth_stamp_bump()``)
BUMP_SQLITE = "BEGIN UPDATE core_auth_stamp SET stamp = random(); END"


def upgrade() -> None:
    op.create_table(
        "core_auth_stamp",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("stamp", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_core_auth_stamp")),
    )
    op.execute("INSERT INTO core_auth_stamp (id, stamp) VALUES (1, 0)")
    if op.get_bind().dialect.name == "postgresql":
        # random, not a counter: a database restored from a backup never brings back a value
        # that a process trusted for other rows
        op.execute(
            "CREATE FUNCTION core_auth_stamp_bump() RETURNS trigger LANGUAGE plpgsql AS $$ "
            "BEGIN UPDATE core_auth_stamp SET stamp = (random() * 9007199254740991)::bigint; "
            "RETURN NULL; END $$"
        )
        for name, table, events in WATCHED:
            op.execute(
                f"CREATE TRIGGER core_auth_stamp_{name} AFTER {events} ON {table} "
                "FOR EACH STATEMENT EXECUTE FUNCTION core_auth_stamp_bump()"
            )
        return
    for name, table, events in WATCHED:
        for event in events.split(" OR "):
            kind = event.split()[0].lower()
            trigger = f"CREATE TRIGGER core_auth_stamp_{name}_{kind} AFTER {event} ON {table} "
            op.execute(trigger + BUMP_SQLITE)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for name, table, _events in WATCHED:
            op.execute(f"DROP TRIGGER core_auth_stamp_{name} ON {table}")
        op.execute("DROP FUNCTION core_auth_stamp_bump()")
    else:
        for name, _table, events in WATCHED:
            for event in events.split(" OR "):
                op.execute(f"DROP TRIGGER core_auth_stamp_{name}_{event.split()[0].lower()}")
    op.drop_table("core_auth_stamp")
