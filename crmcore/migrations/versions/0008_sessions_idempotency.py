"""Server-side sign-out (core_user.session_epoch) and Idempotency-Key answers
(core_idempotency_key)

Revision ID: 0008_sessions_idempotency
Revises: 0007_totp_recovery
Create Date: 2026-12-05 05:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0008_sessions_idempotency"
down_revision: str | None = "0007_totp_recovery"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "core_user",
        sa.Column("session_epoch", sa.Integer(), nullable=False, server_default=sa.text("0")),
    )
    op.create_table(
        "core_idempotency_key",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(length=255), nullable=False),
        sa.Column("request_hash", sa.String(length=64), nullable=False),
        sa.Column("status", sa.Integer(), nullable=True),
        sa.Column(
            "headers", sa.JSON().with_variant(postgresql.JSONB(), "postgresql"), nullable=False
        ),
        sa.Column("body", sa.LargeBinary(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["core_user.id"],
            name=op.f("fk_core_idempotency_key_user_id_core_user"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_core_idempotency_key")),
        sa.UniqueConstraint("user_id", "key", name=op.f("uq_core_idempotency_key_user_id_key")),
    )
    op.create_index(
        op.f("ix_core_idempotency_key_created_at"),
        "core_idempotency_key",
        ["created_at"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_core_idempotency_key_created_at"), table_name="core_idempotency_key")
    op.drop_table("core_idempotency_key")
    op.drop_column("core_user", "session_epoch")
