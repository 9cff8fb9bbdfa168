"""workflow rules, their runs and round-robin turns

Revision ID: automation_0001
Revises:
Create Date: 2026-12-05 07:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "automation_0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    op.create_table(
        "automation_workflow",
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("entity", sa.String(length=64), nullable=False),
        sa.Column("trigger", JSON, nullable=False),
        sa.Column("conditions", sa.Text(), nullable=False),
        sa.Column("actions", JSON, nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("system", sa.Boolean(), nullable=False),
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("deleted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("owner_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["owner_id"],
            ["core_user.id"],
            name=op.f("fk_automation_workflow_owner_id_core_user"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_automation_workflow")),
    )
    with op.batch_alter_table("automation_workflow", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_automation_workflow_deleted_at"), ["deleted_at"])
        batch_op.create_index(batch_op.f("ix_automation_workflow_entity"), ["entity"])
        batch_op.create_index(batch_op.f("ix_automation_workflow_owner_id"), ["owner_id"])
        batch_op.create_index(batch_op.f("ix_automation_workflow_updated_at"), ["updated_at"])

    op.create_table(
        "automation_run",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("workflow_id", sa.Integer(), nullable=False),
        sa.Column("entity", sa.String(length=64), nullable=False),
        sa.Column("record_id", sa.Integer(), nullable=False),
        sa.Column("occurrence", sa.String(length=100), nullable=False),
        sa.Column("trigger", sa.String(length=50), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("chain", JSON, nullable=False),
        sa.Column("results", JSON, nullable=False),
        sa.Column("note", sa.String(length=200), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["workflow_id"],
            ["automation_workflow.id"],
            name=op.f("fk_automation_run_workflow_id_automation_workflow"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_automation_run")),
        sa.UniqueConstraint(
            "workflow_id",
            "record_id",
            "occurrence",
            name=op.f("uq_automation_run_workflow_id_record_id_occurrence"),
        ),
    )
    with op.batch_alter_table("automation_run", schema=None) as batch_op:
        batch_op.create_index("ix_automation_run_record", ["entity", "record_id"])
        batch_op.create_index(batch_op.f("ix_automation_run_created_at"), ["created_at"])
        batch_op.create_index(batch_op.f("ix_automation_run_workflow_id"), ["workflow_id"])

    op.create_table(
        "automation_rotation",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("workflow_id", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("last_user_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["workflow_id"],
            ["automation_workflow.id"],
            name=op.f("fk_automation_rotation_workflow_id_automation_workflow"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_automation_rotation")),
        sa.UniqueConstraint(
            "workflow_id", "position", name=op.f("uq_automation_rotation_workflow_id_position")
        ),
    )


def downgrade() -> None:
    op.drop_table("automation_rotation")
    with op.batch_alter_table("automation_run", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_automation_run_workflow_id"))
        batch_op.drop_index(batch_op.f("ix_automation_run_created_at"))
        batch_op.drop_index("ix_automation_run_record")
    op.drop_table("automation_run")
    with op.batch_alter_table("automation_workflow", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_automation_workflow_updated_at"))
        batch_op.drop_index(batch_op.f("ix_automation_workflow_owner_id"))
        batch_op.drop_index(batch_op.f("ix_automation_workflow_entity"))
        batch_op.drop_index(batch_op.f("ix_automation_workflow_deleted_at"))
    op.drop_table("automation_workflow")
