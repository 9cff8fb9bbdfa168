"""create webhook tables

Revision ID: automation_webhooks_0001
Revises: automation_0001
Create Date: 2026-12-05 07:45:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "automation_webhooks_0001"
down_revision: str | None = "automation_0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "automation_webhook",
        sa.Column("name", sa.String(length=150), nullable=False),
        sa.Column("url", sa.String(length=2000), nullable=False),
        sa.Column("entities", sa.String(length=500), nullable=False),
        sa.Column("events", sa.String(length=100), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("secret", sa.String(length=100), nullable=False),
        sa.Column("secret_shown", sa.Boolean(), nullable=False),
        sa.Column("disabled_reason", sa.String(length=300), nullable=False),
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("deleted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("owner_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["owner_id"],
            ["core_user.id"],
            name=op.f("fk_automation_webhook_owner_id_core_user"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_automation_webhook")),
    )
    op.create_index(op.f("ix_automation_webhook_deleted_at"), "automation_webhook", ["deleted_at"])
    op.create_index(op.f("ix_automation_webhook_owner_id"), "automation_webhook", ["owner_id"])
    op.create_index(op.f("ix_automation_webhook_updated_at"), "automation_webhook", ["updated_at"])
    op.create_table(
        "automation_webhook_delivery",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("delivery_id", sa.String(length=36), nullable=False),
        sa.Column("webhook_id", sa.Integer(), nullable=False),
        sa.Column("event_id", sa.String(length=36), nullable=False),
        sa.Column("event_type", sa.String(length=80), nullable=False),
        sa.Column("entity", sa.String(length=64), nullable=False),
        sa.Column("record_id", sa.Integer(), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("state", sa.String(length=20), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("lease", sa.String(length=32), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("replay_of_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["replay_of_id"],
            ["automation_webhook_delivery.id"],
            name=op.f("fk_automation_webhook_delivery_replay_of_id_automation_webhook_delivery"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["webhook_id"],
            ["automation_webhook.id"],
            name=op.f("fk_automation_webhook_delivery_webhook_id_automation_webhook"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_automation_webhook_delivery")),
        sa.UniqueConstraint("delivery_id", name=op.f("uq_automation_webhook_delivery_delivery_id")),
    )
    op.create_index(
        "ix_automation_webhook_delivery_due",
        "automation_webhook_delivery",
        ["state", "next_attempt_at"],
    )
    op.create_index(
        op.f("ix_automation_webhook_delivery_event_id"), "automation_webhook_delivery", ["event_id"]
    )
    op.create_index(
        op.f("ix_automation_webhook_delivery_lease"), "automation_webhook_delivery", ["lease"]
    )
    op.create_index(
        op.f("ix_automation_webhook_delivery_webhook_id"),
        "automation_webhook_delivery",
        ["webhook_id"],
    )
    op.create_table(
        "automation_webhook_attempt",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("delivery_id", sa.Integer(), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("duration_ms", sa.Integer(), nullable=False),
        sa.Column("status_code", sa.Integer(), nullable=True),
        sa.Column("response_excerpt", sa.Text(), nullable=False),
        sa.Column("error", sa.String(length=500), nullable=False),
        sa.ForeignKeyConstraint(
            ["delivery_id"],
            ["automation_webhook_delivery.id"],
            name=op.f("fk_automation_webhook_attempt_delivery_id_automation_webhook_delivery"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_automation_webhook_attempt")),
    )
    op.create_index(
        op.f("ix_automation_webhook_attempt_delivery_id"),
        "automation_webhook_attempt",
        ["delivery_id"],
    )


def downgrade() -> None:
    op.drop_table("automation_webhook_attempt")
    op.drop_table("automation_webhook_delivery")
    op.drop_table("automation_webhook")
