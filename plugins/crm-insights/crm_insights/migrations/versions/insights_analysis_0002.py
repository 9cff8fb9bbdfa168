"""product association rules

Revision ID: insights_analysis_0002
Revises: insights_analysis_0001
Create Date: 2026-12-05 07:45:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "insights_analysis_0002"
down_revision: str | None = "insights_analysis_0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "insights_product_rule",
        sa.Column("product_id", sa.Integer(), nullable=False),
        sa.Column("other_id", sa.Integer(), nullable=False),
        sa.Column("customers", sa.Integer(), nullable=False),
        sa.Column("support", sa.Float(), nullable=False),
        sa.Column("confidence", sa.Float(), nullable=False),
        sa.Column("lift", sa.Float(), nullable=False),
        sa.Column("computed_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("product_id", "other_id", name=op.f("pk_insights_product_rule")),
    )
    op.create_index(
        op.f("ix_insights_product_rule_other_id"), "insights_product_rule", ["other_id"]
    )


def downgrade() -> None:
    op.drop_table("insights_product_rule")
