"""call answer rates per local hour

Revision ID: insights_analysis_0003
Revises: insights_analysis_0002
Create Date: 2026-12-05 07:55:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "insights_analysis_0003"
down_revision: str | None = "insights_analysis_0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "insights_call_hour",
        sa.Column("kind", sa.String(length=10), nullable=False),
        sa.Column("key", sa.String(length=20), nullable=False),
        sa.Column("hour", sa.SmallInteger(), nullable=False),
        sa.Column("calls", sa.Integer(), nullable=False),
        sa.Column("answered", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("kind", "key", "hour", name=op.f("pk_insights_call_hour")),
    )


def downgrade() -> None:
    op.drop_table("insights_call_hour")
