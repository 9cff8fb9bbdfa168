"""customer scores (RFM, lifetime value)

Revision ID: insights_analysis_0001
Revises: insights_0003
Create Date: 2026-12-05 07:50:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "insights_analysis_0001"
down_revision: str | None = "insights_0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "insights_customer_score",
        sa.Column("contact_id", sa.Integer(), nullable=False),
        sa.Column("first_order_on", sa.Date(), nullable=False),
        sa.Column("last_order_on", sa.Date(), nullable=False),
        sa.Column("orders", sa.Integer(), nullable=False),
        sa.Column("monetary", sa.Numeric(14, 2), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("recency_days", sa.Integer(), nullable=False),
        sa.Column("r", sa.SmallInteger(), nullable=False),
        sa.Column("f", sa.SmallInteger(), nullable=False),
        sa.Column("m", sa.SmallInteger(), nullable=False),
        sa.Column("segment", sa.String(length=20), nullable=False),
        sa.Column("computed_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["contact_id"],
            ["core_contact.id"],
            name=op.f("fk_insights_customer_score_contact_id_core_contact"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("contact_id", name=op.f("pk_insights_customer_score")),
    )
    op.create_index(
        op.f("ix_insights_customer_score_first_order_on"),
        "insights_customer_score",
        ["first_order_on"],
    )
    op.create_index(
        op.f("ix_insights_customer_score_segment"), "insights_customer_score", ["segment"]
    )


def downgrade() -> None:
    op.drop_table("insights_customer_score")
