"""Search documents of a batch indexed with one statement (SQLite): the full-text insert
trigger steps aside while ``core_search_fts_paused`` holds a row

Revision ID: 0013_search_batch
Revises: 0012_contact_company_last_name
Create Date: 2026-12-05 17:00:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0013_search_batch"
down_revision: str | None = "0012_contact_company_last_name"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

#: the insert trigger of 0001_core_tables, and the same that steps aside during a batch
ALWAYS = (
    "CREATE TRIGGER core_search_doc_ai AFTER INSERT ON core_search_doc BEGIN "
    "INSERT INTO core_search_fts(rowid, body) VALUES (new.id, new.body); END"
)
UNLESS_PAUSED = (
    "CREATE TRIGGER core_search_doc_ai AFTER INSERT ON core_search_doc "
    "WHEN NOT EXISTS (SELECT 1 FROM core_search_fts_paused) BEGIN "
    "INSERT INTO core_search_fts(rowid, body) VALUES (new.id, new.body); END"
)


def upgrade() -> None:
    if op.get_bind().dialect.name != "sqlite":
        return  # PostgreSQL's tsvector is a generated column: nothing per row to move
    # a row exists only inside the transaction of a batch (crmcore.search.SearchIndex.add_many),
    # which then indexes the batch's new documents with one INSERT ... SELECT
    op.execute("CREATE TABLE core_search_fts_paused (paused INTEGER NOT NULL)")
    op.execute("DROP TRIGGER core_search_doc_ai")
    op.execute(UNLESS_PAUSED)


def downgrade() -> None:
    if op.get_bind().dialect.name != "sqlite":
        return
    op.execute("DROP TRIGGER core_search_doc_ai")
    op.execute(ALWAYS)
    op.execute("DROP TABLE core_search_fts_paused")
