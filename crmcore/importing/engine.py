"""The import run: rows in batches through the record service, one transaction per batch.

Each batch commits its records, their audit and search rows, the fingerprints of the file rows
it imported (``core_import_row``) and the progress of the import together. A run killed at any
point and started again skips the rows whose batch committed and redoes the rest, so the data
ends with exactly the rows of the file. Re-running a finished import creates nothing.
"""

from __future__ import annotations

import csv
import datetime as dt
import gc
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import marshmallow
from sqlalchemy import func, select
from sqlalchemy.exc import DBAPIError

from ..bulk_insert import insert_many
from ..db import bulk_load, json_integers, json_list, json_values, refresh_statistics, utcnow
from ..duplicates import check_records
from ..errors import Conflict, CRMError, NotFound, PermissionDenied, ValidationError
from ..exporting import csv_cell
from ..instances import loaded_ids
from ..records import RecordService
from ..registry import Entity
from .converting import Row, RowConverter
from .mapping import FieldSet, map_columns
from .models import ImportedRow, ImportJob, fingerprint_of
from .reading import CsvFormat, inspect_file, iter_rows

#: Entities deduplicated by a field, compared case-insensitively.
DEDUPE_FIELDS = {"contact": "email"}
ON_DUPLICATE = ("skip", "update")
#: rows per transaction: the pages of the indexes that several rows of a transaction share are
#: written once, so a bigger batch writes less per row (at a million rows, 2,000 wrote a third
#: less than 500, and 5,000 with SQLite's bulk page cache of 256 MB used ~10 % less CPU time
#: than 2,000), measured in docs/performance.md ("Import, session 9" and "session 15")
DEFAULT_BATCH = 5000
DEFAULT_MAX_MB = 200.0
#: likely duplicates an import keeps the details of (all are counted)
MAX_DUPLICATES_LISTED = 200


@dataclass
class ImportOptions:
    """How to import. ``mapping`` maps headers to fields (``None`` ignores a column)."""

    entity: str
    mapping: dict[str, str | None] | None = None
    on_duplicate: str = "skip"
    dry_run: bool = False
    batch_size: int = DEFAULT_BATCH
    max_bytes: int | None = None
    report_path: Path | None = None


@dataclass
class ImportResult:
    """What an import did (or, with ``dry_run``, would do)."""

    entity: str
    format: CsvFormat
    columns: dict[str, str]
    ignored: list[str]
    dry_run: bool
    total: int = 0
    created: int = 0
    updated: int = 0
    skipped: int = 0
    rejected: int = 0
    companies_created: int = 0
    report_path: Path | None = None
    seconds: float = 0.0
    #: rows created that may duplicate a record, and the first ``MAX_DUPLICATES_LISTED`` of
    #: them: ``{"line", "record_id", "duplicates": [{"id", "title", "score", "reasons"}]}``
    possible_duplicates: int = 0
    duplicates: list[dict[str, Any]] = field(default_factory=list)

    @property
    def rows_per_second(self) -> float:
        return self.total / self.seconds if self.seconds else 0.0


#: In a batch's table of e-mail keys: a row queued for creation, not created yet.
_PENDING = -1


class _RowByRow(Exception):
    """The batch's multi-row insert failed; it is redone row by row to find the row."""


class _InFileOrder(Exception):
    """A row skipped as the duplicate of a row of its batch not created yet lost that row (it
    was refused when the batch's rows were created): the batch is redone creating the rows
    before each such duplicate first, as rows imported one by one would be."""


class _BrokenBatch(Exception):
    """A row made the database refuse the batch; it is redone without that row."""

    def __init__(self, index: int, reason: str) -> None:
        super().__init__(reason)
        self.index, self.reason = index, reason


@dataclass
class _Counts:
    created: int = 0
    updated: int = 0
    skipped: int = 0
    companies: int = 0
    done: list[tuple[int, int]] = field(default_factory=list)  # fingerprint, record id
    rejected: list[Row] = field(default_factory=list)
    duplicates: list[dict[str, Any]] = field(default_factory=list)


def import_limit(crm: Any) -> int:
    """The largest file an import takes, in bytes: ``CRM_IMPORT_MAX_MB`` or
    ``import_max_mb`` in crm.toml (default 200 MB)."""
    raw = os.environ.get("CRM_IMPORT_MAX_MB") or crm.settings.extra.get("import_max_mb")
    try:
        megabytes = float(raw) if raw not in (None, "") else DEFAULT_MAX_MB
    except (TypeError, ValueError):
        megabytes = DEFAULT_MAX_MB
    return int(megabytes * 1024 * 1024)


def check_allowed(service: RecordService, entity: Entity, on_duplicate: str) -> None:
    """Importing needs ``data.import`` and create (and update to update duplicates)."""
    access = service.access
    if not access.has("data.import"):
        raise PermissionDenied("You may not import data (the data.import permission).")
    if not access.can(entity, "create"):
        raise PermissionDenied(f"You may not create {entity.title_plural.lower()}.")
    if on_duplicate == "update" and not access.can(entity, "update"):
        raise PermissionDenied(f"You may not update {entity.title_plural.lower()}.")


class Importer:
    """Imports one file into one entity as the user of ``service``."""

    def __init__(
        self,
        service: RecordService,
        path: Path,
        options: ImportOptions,
        job: ImportJob | None = None,
        progress: Callable[[int], None] | None = None,
    ) -> None:
        if options.on_duplicate not in ON_DUPLICATE:
            raise CRMError(f"on_duplicate must be skip or update, not {options.on_duplicate!r}")
        self.service = service
        self.session = service.session
        self.path = Path(path)
        self._erased: set[str] | None = None  # hashes of erased addresses, read once
        self.options = options
        self.job = job
        self.progress = progress
        self.entity = service.entity(options.entity)
        check_allowed(service, self.entity, options.on_duplicate)
        self.format = inspect_file(self.path, options.max_bytes)
        crm = service.crm
        has_companies = "companies" in {e.plural for e in crm.entities()}
        defs = crm.custom_field_defs(self.session, self.entity)
        self.fields = FieldSet.of(self.entity, defs, has_companies)
        self.columns = map_columns(self.format.header, self.fields, options.mapping)
        self.converter = RowConverter(self.fields, self.columns.targets)
        dedupe = DEDUPE_FIELDS.get(self.entity.name)
        self.dedupe = dedupe if dedupe in self.columns.targets else None
        self._occurrences: dict[bytes, int] = {}
        self._dialect = crm.engine.dialect.name
        self._companies: dict[str, int] = {}
        self._dry_keys: set[str] = set()
        self._analyze_at = 1  # rows created: after the first batch, then at each doubling
        self._report: Any = None
        self._report_file: Any = None

    # the run ----------------------------------------------------------------------------------

    def run(self) -> ImportResult:
        result = ImportResult(
            self.entity.plural,
            self.format,
            self.columns.describe(self.format.header),
            self.columns.ignored,
            self.options.dry_run,
            report_path=None,
        )
        started = time.perf_counter()
        self._start_job()
        # the process's long-lived objects (the app, its models and schemas) are left out of
        # the garbage collector's full passes during the run: they only grow more numerous
        # with each batch's short-lived ones (~5 % of an import's CPU time)
        gc.freeze()
        # and the young ones are collected once per batch, not every 700 allocations: a
        # batch's objects are freed by reference counting (no cycle holds them), so the
        # frequent passes found little but walked every object alive (~3 % of the CPU time)
        enabled = gc.isenabled()
        gc.disable()
        try:
            # SQLite: the batches' transactions with a bigger page cache and fewer checkpoints
            with bulk_load(self.service.crm.engine):
                session = self.session
                if not (session.new or session.dirty or session.deleted):
                    # end the reads begun before (the custom fields): the first batch's
                    # transaction then begins with the bulk settings too
                    session.commit()
                for batch in self._batches():
                    counts = self._import_batch(batch)
                    result.total += len(batch)
                    result.created += counts.created
                    result.updated += counts.updated
                    result.skipped += counts.skipped
                    result.rejected += len(counts.rejected)
                    result.companies_created += counts.companies
                    result.possible_duplicates += len(counts.duplicates)
                    room = MAX_DUPLICATES_LISTED - len(result.duplicates)
                    result.duplicates.extend(counts.duplicates[: max(room, 0)])
                    self._write_rejected(counts.rejected)
                    self._refresh_statistics(result.created)
                    if self.progress:
                        self.progress(len(batch))
                    del batch, counts  # freed before the next batch (see ``_batches``)
        finally:
            if enabled:
                gc.enable()
            gc.unfreeze()
            if self._report_file is not None:
                self._report_file.close()
        result.report_path = self._report_path() if result.rejected else None
        result.seconds = time.perf_counter() - started
        self._finish_job(result)
        return result

    def _refresh_statistics(self, created: int) -> None:
        """Refresh the table's statistics each time the import has doubled the rows it
        created (``crmcore.db.refresh_statistics``; PostgreSQL only)."""
        if created < self._analyze_at or self.options.dry_run:
            return
        self._analyze_at = created * 2
        refresh_statistics(self.session, self.entity.model.__table__)
        self.session.commit()

    def _batches(self) -> Iterator[list[Row]]:
        batch: list[Row] = []
        size = max(1, self.options.batch_size)
        for line, cells in iter_rows(self.path, self.format):
            batch.append(self._row(line, cells))
            if len(batch) >= size:
                yield batch
                batch = []
                # the young objects' pass, once per batch, when the batch imported is freed
                # (``run`` has let go of it too): walking its rows would find nothing to free
                gc.collect(1)
        if batch:
            yield batch

    def _row(self, line: int, cells: list[str]) -> Row:
        row = self.converter.convert(line, cells)
        row.fingerprint = self._numbered(row.digest)
        row.key = self._key_of(row)
        return row

    def _numbered(self, digest: str) -> int:
        """The row's fingerprint (:class:`ImportedRow`): identical rows of one file are told
        apart by their occurrence number."""
        key = bytes.fromhex(digest[:32])
        seen = self._occurrences.get(key, 0) + 1
        self._occurrences[key] = seen
        return fingerprint_of(f"{digest}:{seen}")

    # one batch --------------------------------------------------------------------------------

    def _import_batch(self, batch: list[Row]) -> _Counts:
        excluded: dict[int, str] = {}
        row_by_row = in_file_order = False
        while True:
            try:
                counts = self._attempt(batch, excluded, row_by_row, in_file_order)
            except _InFileOrder:
                self._roll_back()
                in_file_order = True
                continue
            except _BrokenBatch as broken:
                self._roll_back()
                excluded[broken.index] = broken.reason
                continue
            except _RowByRow:
                # the database refused the batch's multi-row insert: redo it one row at a
                # time to learn which row it was
                self._roll_back()
                row_by_row = True
                continue
            self._save(counts, len(batch))
            return counts

    def _roll_back(self) -> None:
        """Undo an attempt at a batch: its writes, and the companies it created (cached)."""
        self.service.rollback()
        self._companies.clear()

    def _attempt(
        self, batch: list[Row], excluded: dict[int, str], row_by_row: bool, in_file_order: bool
    ) -> _Counts:
        counts = _Counts()
        known = self._known_fingerprints([r.fingerprint for r in batch])
        existing = self._existing_keys(batch)
        batch_keys: dict[str, int | None] = {}
        pending: list[tuple[int, Row, dict[str, Any]]] = []
        # skipping a duplicate needs only to know that its earlier row will be created: such a
        # row is skipped at once, and the batch redone in file order if that row is refused
        # (creating the rows before each such duplicate first cut a 100,000-row import's 50
        # batches into 113 create_many calls)
        skip_ahead = self.options.on_duplicate == "skip" and not in_file_order
        skipped_ahead: set[str] = set()
        self._prefetch_companies(
            [r for i, r in enumerate(batch) if r.fingerprint not in known and i not in excluded],
            counts,
        )
        for index, row in enumerate(batch):
            if row.fingerprint in known:
                counts.skipped += 1
                continue
            if index in excluded:
                row.errors = {"_schema": [excluded[index]]}
            if row.errors:
                counts.rejected.append(row)
                continue
            try:
                key = row.key
                if key is not None and batch_keys.get(key, 0) == _PENDING:
                    if skip_ahead:
                        skipped_ahead.add(key)
                    else:
                        # a duplicate of a row not created yet: create those first, so the
                        # row sees the same records as when rows are imported one by one
                        self._create_pending(pending, batch_keys, counts)
                self._import_row(index, row, existing, batch_keys, counts, pending)
                if row_by_row:
                    self._create_pending(pending, batch_keys, counts)
            except (Conflict, DBAPIError) as exc:
                raise _BrokenBatch(index, _db_reason(exc)) from None
            except CRMError as exc:
                row.errors = _errors_of(exc)
                counts.rejected.append(row)
        try:
            self._create_pending(pending, batch_keys, counts)
        except (Conflict, DBAPIError):
            raise _RowByRow from None
        if not skipped_ahead.issubset(batch_keys):  # a refused row's key leaves batch_keys
            raise _InFileOrder
        counts.rejected.sort(key=lambda r: r.line)
        return counts

    def _create_pending(
        self,
        pending: list[tuple[int, Row, dict[str, Any]]],
        batch_keys: dict[str, int | None],
        counts: _Counts,
    ) -> None:
        """Create the queued rows with one ``RecordService.create_many``."""
        if not pending:
            return
        queued = list(pending)
        pending.clear()
        if len(queued) == 1:
            index, row, data = queued[0]
            try:
                results: list[Any] = [self.service.create(self.entity, data, commit=False)]
            except (Conflict, DBAPIError) as exc:
                raise _BrokenBatch(index, _db_reason(exc)) from None
            except CRMError as exc:
                results = [exc]
        else:
            results = self.service.create_many(
                self.entity, [data for _, _, data in queued], commit=False
            )
        created = [r for r in results if not isinstance(r, CRMError)]
        # one look-up for the whole batch; a pair within it is reported on its later row
        hints = iter(check_records(self.service, self.entity, created))
        ids = iter(loaded_ids(created))
        for (_index, row, _data), result in zip(queued, results, strict=True):
            key = row.key
            if isinstance(result, CRMError):
                if key is not None and batch_keys.get(key) == _PENDING:
                    del batch_keys[key]
                row.errors = _errors_of(result)
                counts.rejected.append(row)
                continue
            found = next(hints)
            record_id = next(ids)
            erased = self._was_erased(result)
            if found or erased:
                counts.duplicates.append(
                    {
                        "line": row.line,
                        "record_id": record_id,
                        "duplicates": [c.as_json() for c in found],
                        **({"erased": True} if erased else {}),
                    }
                )
            counts.created += 1
            counts.done.append((row.fingerprint, record_id))
            if key is not None:
                batch_keys[key] = record_id
                if self.options.dry_run:
                    self._dry_keys.add(key)

    def _was_erased(self, record: Any) -> bool:
        """Whether a contact has the address of a person erased before (GDPR article 17): the
        import flags it, so that someone checks there is a new reason to keep it."""
        if self.entity.name != "contact":
            return False
        if self._erased is None:
            from ..privacy.service import erased_digests

            self._erased = erased_digests(self.session)
        email = record.email if self._erased else None
        if not email:
            return False
        from ..privacy import email_hash

        return email_hash(self.service.crm, email) in self._erased

    def _import_row(
        self,
        index: int,
        row: Row,
        existing: dict[str, int],
        batch_keys: dict[str, int | None],
        counts: _Counts,
        pending: list[tuple[int, Row, dict[str, Any]]],
    ) -> None:
        data = dict(row.data)
        if row.company is not None:
            try:
                data["company_id"] = self._company_id(row.company, data, counts)
            except marshmallow.ValidationError as exc:
                raise ValidationError(
                    dict(exc.messages)  # type: ignore[arg-type]
                    if isinstance(exc.messages, dict)
                    else str(exc)
                ) from None
        key = row.key
        duplicate = None
        if key is not None:
            if key in batch_keys or key in self._dry_keys:
                duplicate = batch_keys.get(key, 0) or 0
            elif key in existing:
                duplicate = existing[key]
        if duplicate is not None:
            if self.options.on_duplicate == "skip" or not duplicate:
                counts.skipped += 1
                return
            record = self._updatable(duplicate)
            version = record.version
            try:
                self.service.update(self.entity, record, data, commit=False)
            except CRMError:
                self.session.expire(record)  # drop values set before a veto
                raise
            if record.version != version:
                counts.updated += 1
            else:
                counts.skipped += 1
            counts.done.append((row.fingerprint, record.id))
            return
        pending.append((index, row, data))
        if key is not None:
            batch_keys[key] = _PENDING

    def _updatable(self, record_id: int) -> Any:
        try:
            return self.service.get(self.entity, record_id, "update")
        except (NotFound, PermissionDenied):
            raise PermissionDenied(
                f"A {self.entity.title.lower()} with this "
                f"{self.dedupe} exists and you may not update it."
            ) from None

    def _key_of(self, row: Row) -> str | None:
        """The row's value of the field it is matched on (``dedupe``), as compared."""
        if self.dedupe is None:
            return None
        value = row.data.get(self.dedupe)
        return value.strip().lower() if isinstance(value, str) and value.strip() else None

    def _prefetch_companies(self, rows: list[Row], counts: _Counts) -> None:
        """The companies a batch names, found with one query and the missing ones created with
        one ``create_many``; ``_company_id`` then answers from the cache. A company is only
        created for a row that would be valid with it (as ``_company_id`` does)."""
        wanted: dict[str, tuple[str, Row]] = {}
        for row in rows:
            if row.company is not None and not row.errors:
                key = row.company.casefold()
                if key not in self._companies:
                    wanted.setdefault(key, (row.company, row))
        if not wanted:
            return
        from ..contacts.models import Company

        try:
            query = self.service.query("companies").with_only_columns(
                func.lower(Company.name), Company.id
            )
        except CRMError:
            return  # each row gets the refusal from _company_id
        found: dict[str, int] = {}
        lowered = sorted({name.lower() for name, _row in wanted.values()})
        for start in range(0, len(lowered), 500):
            chunk = lowered[start : start + 500]
            for value, company_id in self.session.execute(
                query.where(func.lower(Company.name).in_(chunk)).order_by(Company.id)
            ):
                found.setdefault(value, company_id)
        missing: list[tuple[str, str]] = []
        for key, (name, row) in wanted.items():
            if name.lower() in found:
                self._companies[key] = found[name.lower()]
                continue
            try:  # never leave a new company behind for a row that will be rejected anyway
                data = {**row.data, "company_id": None}
                self.entity.load(self.entity.create_schema, data)
            except marshmallow.ValidationError:
                continue
            missing.append((key, name))
        if not missing or not self.service.access.can("companies", "create"):
            return
        try:
            created = self.service.create_many(
                "companies", [{"name": name} for _key, name in missing], commit=False
            )
        except (Conflict, DBAPIError):
            self._roll_back()  # nothing of the batch was written yet
            return  # _company_id creates them one by one and names the row
        for (key, _name), result in zip(missing, created, strict=True):
            if not isinstance(result, CRMError):
                self._companies[key] = result.id
                counts.companies += 1

    def _company_id(self, name: str, row_data: dict[str, Any], counts: _Counts) -> int:
        key = name.casefold()
        if key in self._companies:
            return self._companies[key]
        from ..contacts.models import Company

        found = self.session.scalar(
            self.service.query("companies")
            .with_only_columns(Company.id)
            .where(func.lower(Company.name) == name.lower())
            .order_by(Company.id)
            .limit(1)
        )
        if found is None:
            if not self.service.access.can("companies", "create"):
                raise NotFound(f"No company named {name!r}.")
            # never leave a new company behind for a row that will be rejected anyway
            self.entity.load(self.entity.create_schema, {**row_data, "company_id": None})
            found = self.service.create("companies", {"name": name}, commit=False).id
            counts.companies += 1
        self._companies[key] = found
        return found

    def _known_fingerprints(self, fingerprints: list[int]) -> set[int]:
        listed = json_values("fingerprints", self._dialect)
        value = json_integers(listed, self._dialect)
        return set(
            self.session.scalars(
                select(ImportedRow.fingerprint)
                .select_from(listed)
                .join(ImportedRow, ImportedRow.fingerprint == value),
                {"fingerprints": json_list(fingerprints)},
            )
        )

    def _existing_keys(self, batch: list[Row]) -> dict[str, int]:
        if self.dedupe is None:
            return {}
        keys = {r.key for r in batch if r.key and not r.errors}
        if not keys:
            return {}
        column = self.entity.attribute(self.dedupe)
        model = self.entity.model
        found: dict[str, int] = {}
        # trashed records are left out here rather than in SQL: with ``deleted_at IS NULL``
        # in the WHERE clause SQLite walks every live record by that column's index instead
        # of looking the keys up by theirs (the cost of each batch grew with the table)
        listed = json_values("keys", self._dialect)
        for value, record_id, deleted_at in self.session.execute(
            select(func.lower(column), model.id, model.deleted_at)
            .select_from(listed)
            .join(model, func.lower(column) == listed.c.value)
            .order_by(model.id),
            {"keys": json_list(sorted(keys))},
        ):
            if deleted_at is None:
                found.setdefault(value, record_id)
        return found

    def _save(self, counts: _Counts, rows: int) -> None:
        job = self.job
        if self.options.dry_run:
            self.service.rollback()
        else:
            if counts.done:
                now, name, job_id = utcnow(), self.entity.name, job.id if job else None
                insert_many(
                    self.session.connection(),
                    ImportedRow.__table__,  # type: ignore[arg-type]
                    ("fingerprint", "entity", "record_id", "import_id", "created_at"),
                    [(fp, name, rid, job_id, now) for fp, rid in counts.done],
                )
        if job is not None:
            job.processed_rows += rows
            job.created += counts.created
            job.updated += counts.updated
            job.skipped += counts.skipped
            job.rejected += len(counts.rejected)
            if counts.duplicates:
                job.possible_duplicates = (job.possible_duplicates or 0) + len(counts.duplicates)
                listed = list(job.duplicates or [])
                room = max(MAX_DUPLICATES_LISTED - len(listed), 0)
                job.duplicates = listed + counts.duplicates[:room]
        if self.options.dry_run:
            self.session.commit()
        else:
            self.service.commit()

    # the job row and the report ---------------------------------------------------------------

    def _start_job(self) -> None:
        if self.job is None:
            return
        self.job.status = "running"
        self.job.started_at = utcnow()
        self.job.total_rows = self.format.rows
        self.job.processed_rows = self.job.created = self.job.updated = 0
        self.job.skipped = self.job.rejected = self.job.possible_duplicates = 0
        self.job.duplicates = None
        self.session.commit()

    def _finish_job(self, result: ImportResult) -> None:
        if self.job is None:
            return
        self.job.status = "done"
        self.job.finished_at = utcnow()
        self.job.report_path = str(result.report_path) if result.report_path else None
        self.session.commit()

    def _report_path(self) -> Path:
        if self.options.report_path is not None:
            return self.options.report_path
        stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
        beside = self.path.with_name(f"{self.path.stem}.rejected-{stamp}.csv")
        if os.access(self.path.parent, os.W_OK):
            return beside
        folder = self.service.crm.settings.instance_path / "imports" / "reports"
        folder.mkdir(parents=True, exist_ok=True)
        return folder / beside.name

    def _write_rejected(self, rows: list[Row]) -> None:
        if not rows:
            return
        if self._report is None:
            path = self._report_path()
            self.options.report_path = path
            path.parent.mkdir(parents=True, exist_ok=True)
            self._report_file = open(path, "w", encoding="utf-8-sig", newline="")
            self._report = csv.writer(self._report_file)
            self._report.writerow([csv_cell(c) for c in ["line", "reason", *self.format.header]])
        for row in rows:
            # the file's own cells go back to a spreadsheet: formulas neutralised as on export
            self._report.writerow([csv_cell(c) for c in [row.line, row.reason(), *row.cells]])
        self._report_file.flush()


def _errors_of(exc: CRMError) -> dict[str, list[str]]:
    messages = getattr(exc, "messages", None)
    if not messages:
        return {"_schema": [exc.detail]}
    out: dict[str, list[str]] = {}
    for name, value in messages.items():
        if isinstance(value, dict):  # custom_fields: {name: [messages]}
            for sub, msgs in value.items():
                out[f"custom.{sub}" if name == "custom_fields" else f"{name}.{sub}"] = _flat(msgs)
        else:
            out[name] = _flat(value)
    return out


def _flat(value: Any) -> list[str]:
    if isinstance(value, list):
        return [str(v) for v in value]
    if isinstance(value, dict):
        return [f"{k}: {' '.join(_flat(v))}" for k, v in value.items()]
    return [str(value)]


def _db_reason(exc: Exception) -> str:
    if isinstance(exc, CRMError):
        return exc.detail
    first = str(getattr(exc, "orig", exc)).strip().splitlines()
    return f"The database refused the row: {first[0] if first else 'error'}"
