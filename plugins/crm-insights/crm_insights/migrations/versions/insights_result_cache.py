"""computed cohort tables and pinned report results, shared by every process

Revision ID: insights_result_cache
Revises: insights_analysis_0004
Create Date: 2026-12-05 12:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "insights_result_cache"
down_revision: str | None = "insights_analysis_0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "insights_result_cache",
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("fingerprint", sa.String(length=500), nullable=False),
        sa.Column(
            "rows",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("computed_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_insights_result_cache")),
    )
    op.create_index(
        op.f("ix_insights_result_cache_computed_at"), "insights_result_cache", ["computed_at"]
    )


def downgrade() -> None:
    op.drop_table("insights_result_cache")
