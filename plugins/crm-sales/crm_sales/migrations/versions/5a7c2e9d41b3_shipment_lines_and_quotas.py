"""shipment lines and sales quotas

A shipment lists the order lines (by position) and quantities it carries, so one order ships in
several parcels; a quota is the amount an owner should win in a month or a quarter.

Revision ID: 5a7c2e9d41b3
Revises: dbe42b9f8764
Create Date: 2026-12-05 05:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "5a7c2e9d41b3"
down_revision: str | None = "dbe42b9f8764"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    with op.batch_alter_table("sales_shipment", schema=None) as batch_op:
        batch_op.add_column(sa.Column("lines", JSON, nullable=False, server_default="[]"))
    op.create_table(
        "sales_quota",
        sa.Column("period", sa.String(length=7), nullable=False),
        sa.Column("amount", sa.Numeric(precision=14, scale=2), nullable=False),
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("deleted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("owner_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["owner_id"],
            ["core_user.id"],
            name=op.f("fk_sales_quota_owner_id_core_user"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sales_quota")),
    )
    with op.batch_alter_table("sales_quota", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_sales_quota_deleted_at"), ["deleted_at"])
        batch_op.create_index(batch_op.f("ix_sales_quota_owner_id"), ["owner_id"])
        batch_op.create_index(batch_op.f("ix_sales_quota_period"), ["period"])
        batch_op.create_index(batch_op.f("ix_sales_quota_updated_at"), ["updated_at"])


def downgrade() -> None:
    op.drop_table("sales_quota")
    with op.batch_alter_table("sales_shipment", schema=None) as batch_op:
        batch_op.drop_column("lines")
