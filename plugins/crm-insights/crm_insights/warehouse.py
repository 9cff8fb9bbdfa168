"""The analytics export: records changed since a cursor, as JSON Lines or Parquet, and what was
deleted.

Records are read as the system (an administrator's export) and dumped with each entity's API
dump schema. Changes are paged by ``(updated_at, id)`` so records sharing a timestamp are never
lost or repeated; deletes come from the audit trail (``delete`` rows per record, the trash's
``purge`` rows and the erasures of people), paged by the audit row id. The cursor carries both
positions, signed with the instance's secret key.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from crmcore import CRMError
from itsdangerous import BadSignature, URLSafeSerializer
from sqlalchemy import and_, func, or_, select

if TYPE_CHECKING:
    from crmcore import Entity
    from crmcore.app import CRM

#: records fetched per query while paging
BATCH = 500
#: the audit trail's entities of whole-instance deletions (see ``crmcore.privacy``)
TRASH, PERSON = "trash", "person"
_SALT = "insights-export"
_VERSION = 1


class ExportError(CRMError):
    """A cursor or entity list the export refuses."""


@dataclass
class Cursor:
    """Where the last run stopped: ``(updated_at, id)`` per entity plural, the last audit id."""

    records: dict[str, tuple[dt.datetime, int]] = field(default_factory=dict)
    audit_id: int = 0


def encode(crm: CRM, cursor: Cursor) -> str:
    """The signed, opaque token of ``cursor``."""
    payload = {
        "v": _VERSION,
        "r": {k: [at.isoformat(), rid] for k, (at, rid) in sorted(cursor.records.items())},
        "a": cursor.audit_id,
    }
    return URLSafeSerializer(crm.settings.secret_key, salt=_SALT).dumps(payload)


def decode(crm: CRM, token: str | None) -> Cursor:
    """The cursor in ``token`` (the beginning when empty); :class:`ExportError` when it was
    not made by this instance's export or is damaged."""
    if not token:
        return Cursor()
    try:
        payload = URLSafeSerializer(crm.settings.secret_key, salt=_SALT).loads(token[:100_000])
        if not isinstance(payload, dict) or payload.get("v") != _VERSION:
            raise ValueError("version")
        records = {
            str(name): (_aware(dt.datetime.fromisoformat(at)), int(rid))
            for name, (at, rid) in payload["r"].items()
        }
        audit_id = payload["a"]
        if not isinstance(audit_id, int) or audit_id < 0:
            raise ValueError("audit id")
    except (BadSignature, ValueError, TypeError, KeyError, AttributeError):
        raise ExportError(
            "Invalid export cursor: use the one printed by the last run, or none to start over."
        ) from None
    return Cursor(records, audit_id)


def _aware(value: dt.datetime) -> dt.datetime:
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)


def choose_entities(crm: CRM, names: Sequence[str] | None) -> list[Entity]:
    """The entities to export (default: every enabled one); :class:`ExportError` naming those
    that do not exist or whose plugin is disabled."""
    enabled = [e for e in crm.entities() if hasattr(e.model, "updated_at")]
    if not names:
        return enabled
    by_name = {n: e for e in enabled for n in (e.name, e.plural)}
    unknown = [n for n in names if n not in by_name]
    if unknown:
        raise ExportError(
            "Unknown or disabled entities: %(names)s.", params={"names": ", ".join(unknown)}
        )
    chosen: list[Entity] = []
    for name in names:
        if by_name[name] not in chosen:
            chosen.append(by_name[name])
    return chosen


@dataclass
class Result:
    """What a run wrote: the next cursor, the files and the line count of each."""

    cursor: str
    run: str
    files: dict[str, int]


#: the file formats and their file name extensions
FORMATS = {"jsonl": "jsonl", "parquet": "parquet"}


def run_id(since: str | None, entities: Sequence[Entity]) -> str:
    """The name of a run's files: the same cursor and entities give the same name."""
    key = json.dumps([since or "", sorted(e.plural for e in entities)])
    return hashlib.sha256(key.encode()).hexdigest()[:16]


def export(
    crm: CRM, since: str | None, entities: Sequence[Entity], out: Path, fmt: str = "jsonl"
) -> Result:
    """Write ``<plural>-<run>.<ext>`` per entity, ``deletes-<run>.<ext>`` (``ext``: ``jsonl``
    or ``parquet`` after ``fmt``) and ``cursor-<run>.txt`` into ``out``; returns the next
    cursor. Parquet without pyarrow raises :class:`.parquet.ParquetMissing` before anything
    is written."""
    if fmt not in FORMATS:
        raise ExportError("Unknown format: %(fmt)s.", params={"fmt": fmt})
    pa = None
    if fmt == "parquet":
        from . import parquet

        pa = parquet.require()
    cursor = decode(crm, since)
    run = run_id(since, entities)
    ext = FORMATS[fmt]
    out.mkdir(parents=True, exist_ok=True)
    files: dict[str, int] = {}
    nxt = Cursor(dict(cursor.records), cursor.audit_id)
    for entity in entities:
        path = out / f"{entity.plural}-{run}.{ext}"
        count = 0
        with _sink(crm, pa, path, entity) as sink:
            for record in _changed(crm, entity, cursor.records.get(entity.plural)):
                sink.write(_dump(entity, record))
                nxt.records[entity.plural] = (_aware(record.updated_at), record.id)
                count += 1
        files[path.name] = count
    path = out / f"deletes-{run}.{ext}"
    count = 0
    with _sink(crm, pa, path, None) as sink:
        for row, audit_id in _deletes(crm, entities, cursor.audit_id):
            sink.write(row)
            nxt.audit_id = max(nxt.audit_id, audit_id)
            count += 1
    nxt.audit_id = max(nxt.audit_id, _last_audit_id(crm))
    files[path.name] = count
    token = encode(crm, nxt)
    (out / f"cursor-{run}.txt").write_text(token + "\n")
    return Result(token, run, files)


def _sink(crm: CRM, pa: Any, path: Path, entity: Entity | None) -> Any:
    """The writer of one file: JSON Lines when ``pa`` is ``None``, else Parquet with the
    entity's schema (``None``: the deletes)."""
    if pa is None:
        return _JsonLines(path, crm.app.json.dumps)
    from . import parquet

    if entity is None:
        return parquet.ParquetSink(
            pa, path, parquet.deletes_schema(pa), parquet.DELETE_CONVERTS, "deletes"
        )
    schema, converts = parquet.entity_schema(pa, entity)
    return parquet.ParquetSink(pa, path, schema, converts, entity.plural)


class _JsonLines:
    """One JSON object per line, written beside ``path`` and moved over it when complete."""

    def __init__(self, path: Path, dumps: Any) -> None:
        self.path = path
        self.dumps = dumps
        self.tmp = path.with_name(path.name + ".part")

    def __enter__(self) -> _JsonLines:
        self.fh = self.tmp.open("w", encoding="utf-8")
        return self

    def write(self, row: dict[str, Any]) -> None:
        """Add one row."""
        self.fh.write(self.dumps(row) + "\n")

    def __exit__(self, kind: Any, *_: Any) -> None:
        self.fh.close()
        if kind is None:
            self.tmp.replace(self.path)
        else:
            self.tmp.unlink(missing_ok=True)


def _dump(entity: Entity, record: Any) -> dict[str, Any]:
    from crmcore.api.serializing import dumper

    return dumper(entity.dump_schema)(record)


def _changed(crm: CRM, entity: Entity, after: tuple[dt.datetime, int] | None) -> Iterator[Any]:
    """The live (not trashed) records changed after ``after``, by ``(updated_at, id)``."""
    records = crm.records()
    model = entity.model
    while True:
        stmt = records.query(entity).order_by(model.updated_at, model.id).limit(BATCH)
        if after is not None:
            at, rid = after
            stmt = stmt.where(
                or_(model.updated_at > at, and_(model.updated_at == at, model.id > rid))
            )
        page = list(crm.session.scalars(stmt))
        yield from page
        if len(page) < BATCH:
            return
        after = (page[-1].updated_at, page[-1].id)
        crm.session.expunge_all()  # keep memory flat over a large export


def _last_audit_id(crm: CRM) -> int:
    from crmcore.audit import AuditEntry

    return int(crm.session.scalar(select(func.max(AuditEntry.id))) or 0)


def _deletes(
    crm: CRM, entities: Sequence[Entity], after: int
) -> Iterator[tuple[dict[str, Any], int]]:
    """Rows of the ``deletes`` file from audit rows after ``after``, with their audit id."""
    from crmcore.audit import AuditEntry

    plural = {e.name: e.plural for e in entities}
    wanted = set(plural)
    stmt = (
        select(AuditEntry)
        .where(
            AuditEntry.id > after,
            or_(
                and_(AuditEntry.entity.in_(wanted), AuditEntry.action == "delete"),
                and_(AuditEntry.entity == TRASH),
                and_(AuditEntry.entity == PERSON, AuditEntry.action == "erase"),
            ),
        )
        .order_by(AuditEntry.id)
    )
    by_plural = {e.plural: e for e in entities}
    erased: set[tuple[str, int]] = set()
    for row in crm.session.scalars(stmt):
        at = _aware(row.at).isoformat()
        if row.entity in wanted:
            yield {"op": "delete", "entity": plural[row.entity], "id": row.record_id,
                   "at": at, "audit_id": row.id}, row.id  # fmt: skip
        elif row.entity == TRASH:
            counts = (row.changes or {}).get("purged", [None, {}])[1] or {}
            for name in sorted(counts):
                if name in by_plural:
                    yield {"op": "purge", "entity": name, "id": None, "count": counts[name],
                           "at": at, "audit_id": row.id}, row.id  # fmt: skip
        else:
            for name, rid in _erased(crm, entities, row.id):
                if (name, rid) in erased:
                    continue
                erased.add((name, rid))
                yield {"op": "erase", "entity": name, "id": rid, "at": at,
                       "audit_id": row.id}, row.id  # fmt: skip


def _erased(crm: CRM, entities: Sequence[Entity], before: int) -> list[tuple[str, int]]:
    """Records of ``entities`` erased with a person by audit row ``before`` or earlier: their
    audit rows were emptied to ``{"erased": ...}`` and the record is gone."""
    from crmcore.audit import AuditEntry

    out: list[tuple[str, int]] = []
    for entity in entities:
        rows = crm.session.execute(
            select(AuditEntry.record_id, AuditEntry.changes)
            .where(
                AuditEntry.entity == entity.name,
                AuditEntry.action == "create",
                AuditEntry.id < before,
            )
            .order_by(AuditEntry.record_id)
        )
        ids = sorted({rid for rid, changes in rows if (changes or {}).get("erased")})
        if not ids:
            continue
        existing = set(crm.session.scalars(select(entity.model.id).where(entity.model.id.in_(ids))))
        out.extend((entity.plural, rid) for rid in ids if rid not in existing)
    return out
