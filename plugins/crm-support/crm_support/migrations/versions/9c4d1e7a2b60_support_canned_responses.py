"""support canned responses

Revision ID: 9c4d1e7a2b60
Revises: 5b7e2c41a9d3
Create Date: 2026-12-05 05:40:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "9c4d1e7a2b60"
down_revision: str | None = "5b7e2c41a9d3"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "support_canned_response",
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("deleted_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_support_canned_response")),
        sa.UniqueConstraint("name", name=op.f("uq_support_canned_response_name")),
    )
    with op.batch_alter_table("support_canned_response", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_support_canned_response_deleted_at"), ["deleted_at"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_support_canned_response_updated_at"), ["updated_at"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("support_canned_response", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_support_canned_response_updated_at"))
        batch_op.drop_index(batch_op.f("ix_support_canned_response_deleted_at"))
    op.drop_table("support_canned_response")
