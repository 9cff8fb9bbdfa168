"""rollups: pre-aggregated report figures kept current by the record service's writes

Revision ID: insights_rollups
Revises: insights_result_cache
Create Date: 2026-12-05 14:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "insights_rollups"
down_revision: str | None = "insights_result_cache"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")
SUM = sa.Numeric(precision=28, scale=6)


def upgrade() -> None:
    op.create_table(
        "insights_rollup",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("entity", sa.String(length=100), nullable=False),
        sa.Column("groups", JSON, nullable=False),
        sa.Column("measures", JSON, nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("report_id", sa.Integer(), nullable=True),
        sa.Column("built_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("checked_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["report_id"],
            ["insights_report.id"],
            name=op.f("fk_insights_rollup_report_id_insights_report"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_insights_rollup")),
    )
    op.create_index(op.f("ix_insights_rollup_entity"), "insights_rollup", ["entity"])
    op.create_index(op.f("ix_insights_rollup_report_id"), "insights_rollup", ["report_id"])
    op.create_table(
        "insights_rollup_row",
        sa.Column("rollup_id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(length=40), nullable=False),
        sa.Column("int_1", sa.BigInteger(), nullable=True),
        sa.Column("text_1", sa.String(length=255), nullable=True),
        sa.Column("day_1", sa.Date(), nullable=True),
        sa.Column("int_2", sa.BigInteger(), nullable=True),
        sa.Column("text_2", sa.String(length=255), nullable=True),
        sa.Column("day_2", sa.Date(), nullable=True),
        sa.Column("currency", sa.String(length=10), nullable=True),
        sa.Column("owner_id", sa.Integer(), nullable=True),
        sa.Column("records", sa.BigInteger(), nullable=False),
        sa.Column("sum_1", SUM, nullable=False),
        sa.Column("count_1", sa.BigInteger(), nullable=False),
        sa.Column("sum_2", SUM, nullable=False),
        sa.Column("count_2", sa.BigInteger(), nullable=False),
        sa.Column("sum_3", SUM, nullable=False),
        sa.Column("count_3", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["rollup_id"],
            ["insights_rollup.id"],
            name=op.f("fk_insights_rollup_row_rollup_id_insights_rollup"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("rollup_id", "key", name=op.f("pk_insights_rollup_row")),
    )
    op.create_index(
        "ix_insights_rollup_row_rollup_id_owner_id",
        "insights_rollup_row",
        ["rollup_id", "owner_id"],
    )


def downgrade() -> None:
    op.drop_table("insights_rollup_row")
    op.drop_table("insights_rollup")
