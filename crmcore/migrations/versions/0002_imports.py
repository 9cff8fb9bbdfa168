"""Imports: core_import (one row per import run) and core_import_row (fingerprints of rows)

Revision ID: 0002_imports
Revises: 0001_core
Create Date: 2026-11-24 09:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0002_imports"
down_revision: str | None = "0001_core"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "core_import",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("entity", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("filename", sa.String(length=255), nullable=False),
        sa.Column("path", sa.Text(), nullable=False),
        sa.Column(
            "options", sa.JSON().with_variant(postgresql.JSONB(), "postgresql"), nullable=False
        ),
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.Column("total_rows", sa.Integer(), nullable=False),
        sa.Column("processed_rows", sa.Integer(), nullable=False),
        sa.Column("created", sa.Integer(), nullable=False),
        sa.Column("updated", sa.Integer(), nullable=False),
        sa.Column("skipped", sa.Integer(), nullable=False),
        sa.Column("rejected", sa.Integer(), nullable=False),
        sa.Column("report_path", sa.Text(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["core_user.id"],
            name=op.f("fk_core_import_user_id_core_user"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_core_import")),
    )
    with op.batch_alter_table("core_import", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_core_import_status"), ["status"], unique=False)
        batch_op.create_index(batch_op.f("ix_core_import_user_id"), ["user_id"], unique=False)

    op.create_table(
        "core_import_row",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("fingerprint", sa.String(length=64), nullable=False),
        sa.Column("entity", sa.String(length=64), nullable=False),
        sa.Column("record_id", sa.Integer(), nullable=False),
        sa.Column("import_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["import_id"],
            ["core_import.id"],
            name=op.f("fk_core_import_row_import_id_core_import"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_core_import_row")),
        sa.UniqueConstraint("fingerprint", name=op.f("uq_core_import_row_fingerprint")),
    )
    with op.batch_alter_table("core_import_row", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_core_import_row_import_id"), ["import_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("core_import_row", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_core_import_row_import_id"))

    op.drop_table("core_import_row")
    with op.batch_alter_table("core_import", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_core_import_user_id"))
        batch_op.drop_index(batch_op.f("ix_core_import_status"))

    op.drop_table("core_import")
