"""sequences: a rule enrolling each record once, with exit conditions

Revision ID: automation_0002
Revises: automation_webhooks_0001
Create Date: 2026-12-05 08:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "automation_0002"
down_revision: str | None = "automation_webhooks_0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("automation_workflow", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("sequence", sa.Boolean(), nullable=False, server_default=sa.false())
        )
        batch_op.add_column(
            sa.Column("exit_conditions", sa.Text(), nullable=False, server_default="")
        )


def downgrade() -> None:
    with op.batch_alter_table("automation_workflow", schema=None) as batch_op:
        batch_op.drop_column("exit_conditions")
        batch_op.drop_column("sequence")
