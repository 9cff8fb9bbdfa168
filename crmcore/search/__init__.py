"""Full-text search behind one interface: SQLite FTS5 or PostgreSQL ``tsvector``.

Each searchable record has one row in ``core_search_doc`` holding its owner and a normalised
text (lower case, accents removed) so "jose" finds "José" on both databases. The record service
keeps it current; the permission scope filters it by the denormalised owner.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from sqlalchemy import (
    ForeignKey,
    Integer,
    Select,
    String,
    Text,
    UniqueConstraint,
    delete,
    or_,
    select,
)
from sqlalchemy import text as sql_text
from sqlalchemy.orm import Mapped, Session, mapped_column

from ..bulk_insert import insert_many
from ..db import Base
from ..instances import loaded, loaded_ids
from ..permissions import Access, linked_condition

if TYPE_CHECKING:
    from ..registry import Entity

MAX_TERMS = 8


class SearchDoc(Base):
    __tablename__ = "core_search_doc"
    __table_args__ = (UniqueConstraint("entity", "record_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    entity: Mapped[str] = mapped_column(String(64))
    record_id: Mapped[int] = mapped_column(Integer)
    owner_id: Mapped[int | None] = mapped_column(
        ForeignKey("core_user.id", ondelete="SET NULL"), index=True
    )
    title: Mapped[str] = mapped_column(String(300), default="")
    body: Mapped[str] = mapped_column(Text, default="")


#: what ``insert_many`` adds to a batch's documents: one left behind by a record whose id was
#: reused is replaced
UPSERT_SUFFIX = (
    " ON CONFLICT (entity, record_id) DO UPDATE SET owner_id = excluded.owner_id,"
    " title = excluded.title, body = excluded.body"
)

#: rowids SQLite hands out as "largest + 1"; beyond, it picks free ones at random
_LARGEST_ROWID = 2**63 - 1


def normalise(value: str) -> str:
    """Lower case without accents: the form both stored text and queries are compared in."""
    if value.isascii():  # no accents to strip; ASCII casefold is lower
        return value.lower()
    return unicodedata.normalize("NFKD", value).translate(_NO_MARKS).casefold()


class _Marks(dict[int, int | None]):
    """A ``str.translate`` table that drops combining marks (accents) and keeps every other
    character, filled as characters are met."""

    def __missing__(self, code: int) -> int | None:
        kept = None if unicodedata.combining(chr(code)) else code
        if len(self) < 65536:  # text in every script of Unicode cannot grow it without end
            self[code] = kept
        return kept


_NO_MARKS = _Marks()


class _Normalised(dict[str, str]):
    """``normalise`` of the words a batch's documents repeat (names, cities, companies, tags),
    remembered up to a bound."""

    def __missing__(self, value: str) -> str:
        done = normalise(value)
        if len(self) < 65536:
            self[value] = done
        return done


_NORMALISED = _Normalised()


def terms(query: str) -> list[str]:
    """The words of a query; every search-syntax character is dropped, never interpreted."""
    return re.findall(r"\w+", normalise(query))[:MAX_TERMS]


def document_text(entity: Entity, record: Any) -> str:
    """The normalised text of ``record`` that search matches: its search fields and tags."""
    values = record.__dict__  # loaded values without the attribute machinery; else getattr
    parts: list[str] = []
    for name in entity.search_fields:
        value = values[name] if name in values else getattr(record, name, None)
        if value:
            parts.append(value if type(value) is str else str(value))
    if entity.has_tags:
        tags = values["tags"] if "tags" in values else record.tags
        parts.extend(t if type(t) is str else str(t) for t in (tags or ()))
    text = " ".join(parts)
    if text.isascii():
        return text.lower()
    # normalise part by part: decomposition, mark removal and case folding work character by
    # character and reorder no mark across the separating space, so the parts normalised and
    # joined are the text normalised. Only the parts past ASCII are remembered (names, cities):
    # the ASCII ones (addresses, numbers) are mostly unique and would fill the memo
    normalised = _NORMALISED
    return " ".join([p.lower() if p.isascii() else normalised[p] for p in parts])


def _titles(entity: Entity) -> Any:
    """``entity.display`` reading loaded values from the instance's dict, or ``None`` when the
    entity's titles are translated or its ``display`` is not ``Entity.display``."""
    from ..registry import Entity

    if (
        entity.translated_titles
        or type(entity).display is not Entity.display
        or "display" in vars(entity)
    ):
        return None
    fields = tuple(entity.title_fields)
    title = entity.title

    def display(record: Any) -> str:
        values = record.__dict__
        parts = [str((values[f] if f in values else getattr(record, f, "")) or "") for f in fields]
        text = " ".join([p for p in parts if p]).strip()
        return text or f"{title} #{record.id}"

    return display


class SearchIndex:
    """Index and query records; one instance per app, chosen by the database dialect."""

    def __init__(self, dialect: str) -> None:
        self.dialect = dialect
        self._pausable = False  # the full-text trigger can pause (migration 0013_search_batch)

    @staticmethod
    def _values(entity: Entity, record: Any) -> dict[str, Any]:
        return {
            "entity": entity.name,
            "record_id": record.id,
            "owner_id": getattr(record, entity.owner_field) if entity.owner_field else None,
            "title": entity.display(record)[:300],
            "body": document_text(entity, record),
        }

    def _upsert(self, session: Session, rows: list[dict[str, Any]]) -> None:
        """Insert documents; one left behind by a record whose id was reused is replaced."""
        if self.dialect == "postgresql":
            from sqlalchemy.dialects.postgresql import insert as dialect_insert
        else:
            from sqlalchemy.dialects.sqlite import insert as dialect_insert  # type: ignore[assignment]
        stmt = dialect_insert(SearchDoc.__table__)  # Core: no ORM bulk bookkeeping
        stmt = stmt.on_conflict_do_update(
            index_elements=["entity", "record_id"],
            set_={
                "owner_id": stmt.excluded.owner_id,
                "title": stmt.excluded.title,
                "body": stmt.excluded.body,
            },
        )
        session.execute(stmt, rows)

    def add_many(self, session: Session, entity: Entity, records: list[Any]) -> None:
        """Documents of new records in one driver executemany, without looking for existing
        ones (a document left behind by a record whose id was reused is replaced)."""
        if not entity.search_fields or not records:
            return
        name, owner = entity.name, entity.owner_field
        display = entity.display
        conn = session.connection()
        before = self._pause_indexing(conn, len(records)) if self.dialect == "sqlite" else None
        try:
            self._insert_documents(conn, name, owner, display, entity, records)
        finally:
            if before is not None:
                conn.exec_driver_sql("DELETE FROM core_search_fts_paused")
                # the batch's documents are those past the largest id before it (this
                # transaction holds the write lock; a replaced document kept its id and was
                # indexed again by its update trigger)
                conn.exec_driver_sql(
                    "INSERT INTO core_search_fts(rowid, body) "
                    "SELECT id, body FROM core_search_doc WHERE id > ?",
                    (before,),
                )

    def _pause_indexing(self, conn: Any, count: int) -> int | None:
        """Stop SQLite's per-row full-text trigger for the documents this transaction inserts
        next, to index them afterwards with one ``INSERT ... SELECT`` (a fifth of the cost).

        Returns the largest document id before them (0: none yet), or ``None`` when the
        trigger must do the work: ids near the rowid limit (SQLite then picks free ones at
        random), or an instance whose trigger cannot pause (not migrated yet).
        """
        if not self._pausable:
            from sqlalchemy import inspect as sa_inspect

            if not sa_inspect(conn).has_table("core_search_fts_paused"):
                return None
            self._pausable = True
        largest = conn.exec_driver_sql("SELECT max(id) FROM core_search_doc").scalar() or 0
        if largest > _LARGEST_ROWID - count:
            return None
        conn.exec_driver_sql("INSERT INTO core_search_fts_paused (paused) VALUES (1)")
        return int(largest)

    @staticmethod
    def _insert_documents(
        conn: Any, name: str, owner: str | None, display: Any, entity: Entity, records: list[Any]
    ) -> None:
        display = _titles(entity) or display
        insert_many(
            conn,
            SearchDoc.__table__,  # type: ignore[arg-type]
            ("entity", "record_id", "owner_id", "title", "body"),
            [
                (
                    name,
                    record_id,
                    loaded(r, owner) if owner else None,
                    display(r)[:300],
                    document_text(entity, r),
                )
                for r, record_id in zip(records, loaded_ids(records), strict=True)
            ],
            UPSERT_SUFFIX,
        )

    def update(
        self, session: Session, entity: Entity, record: Any, *, created: bool = False
    ) -> None:
        """Index ``record`` (``created``: it is new; kept for callers, both are one upsert)."""
        if not entity.search_fields:
            return
        # one INSERT ... ON CONFLICT for a new or a changed record: no look-up of the document
        self._upsert(session, [self._values(entity, record)])

    def remove(self, session: Session, entity: Entity, record_id: int) -> None:
        session.execute(
            delete(SearchDoc).where(
                SearchDoc.entity == entity.name, SearchDoc.record_id == record_id
            )
        )

    def _match(self, words: list[str]) -> Any:
        if self.dialect == "postgresql":
            query = " & ".join(f"{w}:*" for w in words)
            return sql_text("core_search_doc.tsv @@ to_tsquery('simple', :fts_q)").bindparams(
                fts_q=query
            )
        query = " ".join(f'"{w}"*' for w in words)
        return SearchDoc.id.in_(
            select(sql_text("rowid"))
            .select_from(sql_text("core_search_fts"))
            .where(sql_text("core_search_fts MATCH :fts_q").bindparams(fts_q=query))
        )

    def record_ids(self, entity: Entity, query: str) -> Select[Any] | None:
        """A subquery of the ids of ``entity`` records matching ``query``; ``None`` if no words."""
        words = terms(query)
        if not words:
            return None
        return select(SearchDoc.record_id).where(
            SearchDoc.entity == entity.name, self._match(words)
        )

    def search(
        self,
        session: Session,
        access: Access,
        entities: Iterable[Entity],
        query: str,
        limit: int = 20,
        parents: Iterable[Entity] | None = None,
    ) -> list[SearchDoc]:
        """Matching documents across entities, each filtered by the user's read scope.

        ``parents`` are the entities records may be attached to (every registered entity):
        notes and attachments show only when their record is readable too.
        """
        parents = list(parents) if parents is not None else None
        words = terms(query)
        scoped = []
        for entity in entities:
            if not entity.search_fields or not access.can(entity, "read"):
                continue
            condition = access.condition(entity, "read", owner_column=SearchDoc.owner_id)
            if entity.linked_to is not None:
                linked = linked_condition(access, entity, parents or entities)
                condition &= SearchDoc.record_id.in_(select(entity.model.id).where(linked))
            scoped.append((SearchDoc.entity == entity.name) & condition)
        if not words or not scoped:
            return []
        stmt = (
            select(SearchDoc)
            .where(or_(*scoped), self._match(words))
            .order_by(SearchDoc.id.desc())
            .limit(limit)
        )
        return list(session.scalars(stmt))
