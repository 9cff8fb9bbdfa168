"""incoming-webhook trigger and call-webhook action

Revision ID: automation_0003
Revises: automation_0002
Create Date: 2026-12-05 11:10:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "automation_0003"
down_revision: str | None = "automation_0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    with op.batch_alter_table("automation_workflow", schema=None) as batch_op:
        batch_op.add_column(sa.Column("token_hash", sa.String(length=64), nullable=True))
        batch_op.add_column(
            sa.Column("secret", sa.String(length=100), nullable=False, server_default="")
        )
        batch_op.create_unique_constraint(
            batch_op.f("uq_automation_workflow_token_hash"), ["token_hash"]
        )
    with op.batch_alter_table("automation_run", schema=None) as batch_op:
        batch_op.add_column(sa.Column("payload", JSON, nullable=True))
    with op.batch_alter_table("automation_webhook_delivery", schema=None) as batch_op:
        batch_op.alter_column("webhook_id", existing_type=sa.Integer(), nullable=True)
        batch_op.add_column(sa.Column("workflow_id", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("url", sa.String(length=2000), nullable=True))
        batch_op.create_index(
            batch_op.f("ix_automation_webhook_delivery_workflow_id"), ["workflow_id"]
        )
        batch_op.create_foreign_key(
            batch_op.f("fk_automation_webhook_delivery_workflow_id_automation_workflow"),
            "automation_workflow",
            ["workflow_id"],
            ["id"],
            ondelete="CASCADE",
        )


def downgrade() -> None:
    with op.batch_alter_table("automation_webhook_delivery", schema=None) as batch_op:
        batch_op.drop_constraint(
            batch_op.f("fk_automation_webhook_delivery_workflow_id_automation_workflow"),
            type_="foreignkey",
        )
        batch_op.drop_index(batch_op.f("ix_automation_webhook_delivery_workflow_id"))
        batch_op.drop_column("url")
        batch_op.drop_column("workflow_id")
        batch_op.alter_column("webhook_id", existing_type=sa.Integer(), nullable=False)
    with op.batch_alter_table("automation_run", schema=None) as batch_op:
        batch_op.drop_column("payload")
    with op.batch_alter_table("automation_workflow", schema=None) as batch_op:
        batch_op.drop_constraint(
            batch_op.f("uq_automation_workflow_token_hash"), type_="unique"
        )
        batch_op.drop_column("secret")
        batch_op.drop_column("token_hash")
