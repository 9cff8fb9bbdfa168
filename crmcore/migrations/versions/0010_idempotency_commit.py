"""Idempotency keys record the commit of their request's writes (committed_at, record)

Revision ID: 0010_idempotency_commit
Revises: dups_0001
Create Date: 2026-12-05 11:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010_idempotency_commit"
down_revision: str | None = "dups_0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "core_idempotency_key", sa.Column("committed_at", sa.DateTime(timezone=True), nullable=True)
    )
    op.add_column("core_idempotency_key", sa.Column("record", sa.String(200), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("core_idempotency_key") as batch:
        batch.drop_column("record")
        batch.drop_column("committed_at")
