"""One-time recovery codes of the second factor

Revision ID: 0007_totp_recovery
Revises: 0006_contact_locale
Create Date: 2026-11-23 19:10:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0007_totp_recovery"
down_revision: str | None = "0006_contact_locale"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "core_user",
        sa.Column(
            "totp_recovery",
            sa.JSON().with_variant(postgresql.JSONB(), "postgresql"),
            nullable=False,
            server_default=sa.text("'[]'"),
        ),
    )


def downgrade() -> None:
    op.drop_column("core_user", "totp_recovery")
