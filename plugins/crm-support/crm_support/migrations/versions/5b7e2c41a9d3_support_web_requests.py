"""support web requests waiting for an e-mail confirmation

Revision ID: 5b7e2c41a9d3
Revises: def688846b02
Create Date: 2026-12-05 05:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "5b7e2c41a9d3"
down_revision: str | None = "def688846b02"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "support_web_request",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("email", sa.String(length=254), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("subject", sa.String(length=250), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("locale", sa.String(length=10), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_support_web_request")),
    )
    with op.batch_alter_table("support_web_request", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_support_web_request_created_at"), ["created_at"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("support_web_request", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_support_web_request_created_at"))
    op.drop_table("support_web_request")
