"""Imports: a file row's fingerprint kept as 64 bits (``BIGINT``) instead of 64 hexadecimal
characters. The entries of its unique index land at random places; at a million rows the
index of strings made an import write three times as much for it (docs/performance.md,
"Session 24").

A fingerprint is the first 64 bits of the same SHA-256 as before, so each stored one becomes
the number its first 16 hexadecimal digits spell (signed): a file imported before the upgrade
is recognised after it, row for row. A downgrade keeps those 64 bits as 16 hexadecimal
digits, which the version before no longer recognises (a file imported again then imports
its rows again).

Revision ID: 0016_import_row_fingerprint
Revises: 0015_contact_name_index
Create Date: 2026-12-07 21:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0016_import_row_fingerprint"
down_revision: str | None = "0015_contact_name_index"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _number_of(column: str, dialect: str) -> str:
    """SQL: the signed 64-bit number the first 16 (lower-case) hex digits of ``column`` spell."""
    if dialect == "postgresql":
        return f"('x' || substr({column}, 1, 16))::bit(64)::bigint"
    # SQLite before 3.41 has no unhex(): each digit shifted into place (<< wraps at 64 bits)
    return " | ".join(
        f"((instr('0123456789abcdef', substr({column}, {i}, 1)) - 1) << {4 * (16 - i)})"
        for i in range(1, 17)
    )


def _hex_of(column: str, dialect: str) -> str:
    """SQL: ``column``'s 64 bits as 16 lower-case hex digits (two's complement)."""
    if dialect == "postgresql":
        return f"lpad(to_hex({column}), 16, '0')"
    return f"printf('%016x', {column})"


def _replace(new_type: sa.types.TypeEngine, how: str) -> None:
    """Fill a new column from ``fingerprint`` by the SQL ``how`` and put it in its place."""
    op.add_column("core_import_row", sa.Column("fingerprint_new", new_type, nullable=True))
    op.execute(f"UPDATE core_import_row SET fingerprint_new = {how}")  # noqa: S608
    with op.batch_alter_table("core_import_row", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("uq_core_import_row_fingerprint"), type_="unique")
        batch_op.drop_column("fingerprint")
        batch_op.alter_column(
            "fingerprint_new",
            new_column_name="fingerprint",
            existing_type=new_type,
            nullable=False,
        )
    # a batch of its own: in the one above, SQLite's copy of the table came without it
    with op.batch_alter_table("core_import_row", schema=None) as batch_op:
        batch_op.create_unique_constraint(
            batch_op.f("uq_core_import_row_fingerprint"), ["fingerprint"]
        )


def upgrade() -> None:
    dialect = op.get_bind().dialect.name
    _replace(sa.BigInteger(), _number_of("fingerprint", dialect))


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    _replace(sa.String(length=64), _hex_of("fingerprint", dialect))
