"""one quota per owner and period; orders partially shipped

A second live quota for the same owner and period is refused by a unique index (a trashed quota
does not count). Duplicates made before this revision are trashed, the newest kept. The order
status ``partially_shipped`` needs no schema change (statuses are free text checked by the
schema).

Revision ID: sales_0004
Revises: 5a7c2e9d41b3
Create Date: 2026-12-05 07:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "sales_0004"
down_revision: str | None = "5a7c2e9d41b3"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute(
        sa.text(
            "UPDATE sales_quota SET deleted_at = updated_at WHERE deleted_at IS NULL AND id NOT IN"
            " (SELECT max(id) FROM sales_quota WHERE deleted_at IS NULL"
            " GROUP BY owner_id, period)"
        )
    )
    op.create_index(
        "uq_sales_quota_owner_period",
        "sales_quota",
        ["owner_id", "period"],
        unique=True,
        sqlite_where=sa.text("deleted_at IS NULL"),
        postgresql_where=sa.text("deleted_at IS NULL"),
    )


def downgrade() -> None:
    op.drop_index("uq_sales_quota_owner_period", table_name="sales_quota")
