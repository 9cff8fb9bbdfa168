"""Inserting a batch of new records through the driver: what ``create_many`` writes with.

One multi-row ``INSERT ... RETURNING id`` per batch (a page of rows when the batch has more
parameters than the database takes in one statement), its text made per column set and its
values bound with each column's own bind processor (the same stored form as an ORM or Core
insert), handed to the driver with ``exec_driver_sql``: none of SQLAlchemy's per-row
statement compilation, parameter dictionaries or result processing.

The ids come back sorted: each is matched to its row by order. SQLite gives the rows of one
statement consecutive rowids in the order of ``VALUES`` (checked: when they are not, the rows
are deleted again and inserted one at a time). PostgreSQL takes a batch's ids from the table's
sequence first and copies the rows with them (``COPY ... FROM STDIN``); a table whose ids the
client may not give (an identity ``GENERATED ALWAYS``) inserts them from a ``SELECT`` ordered
by the row's position, so the sequence hands out increasing ids in that order (SQLAlchemy's own
"insertmanyvalues" relies on the same).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, cast

from sqlalchemy import JSON, Connection, Table, delete, insert
from sqlalchemy import inspect as sa_inspect

if TYPE_CHECKING:
    from .registry import Entity

#: parameters per statement at most (SQLite's limit is 32,766, PostgreSQL's 65,535)
MAX_PARAMETERS = 32000


@dataclass(frozen=True)
class InsertPlan:
    """How an entity's new records are inserted without the unit of work.

    :ivar table: the entity's table.
    :ivar mapper: its mapper (identity keys of the inserted records).
    :ivar id_key: the attribute of the integer primary key.
    :ivar columns: per column ``(attribute, column name, default, whether the default is
        called)``, the primary key left out.
    :ivar statement: a Core ``INSERT ... RETURNING id`` of the table (the row-at-a-time path).
    """

    table: Table
    mapper: Any
    id_key: str
    columns: tuple[tuple[str, str, Any, bool], ...]
    statement: Any
    _binds: dict[str, tuple[Callable[[Any], Any] | None, ...]] = field(
        default_factory=dict, compare=False, repr=False
    )
    _casts: dict[str, tuple[str, ...]] = field(default_factory=dict, compare=False, repr=False)
    _sequence: dict[str, str | None] = field(default_factory=dict, compare=False, repr=False)

    def binds(self, dialect: Any, copy: bool = False) -> tuple[Callable[[Any], Any] | None, ...]:
        """Each column's bind processor on ``dialect`` (``None``: the value goes as it is).
        ``copy``: for PostgreSQL's ``COPY``, JSON columns' values as their JSON text."""
        key = f"{dialect.name}+{dialect.driver}{'+copy' if copy else ''}"
        found = self._binds.get(key)
        if found is None:
            table = self.table
            found = tuple(
                _empty_once(table.c[name].type, _processor(table.c[name].type, dialect, copy))
                for _key, name, _default, _call in self.columns
            )
            self._binds[key] = found
        return found

    def sequence(self, conn: Connection) -> str | None:
        """PostgreSQL: the sequence that numbers the table's rows, when a statement may give
        the ids itself (``None``: an identity column ``GENERATED ALWAYS``, or none)."""
        key = f"{conn.dialect.name}+{conn.dialect.driver}"
        if key not in self._sequence:
            preparer = conn.dialect.identifier_preparer
            pk = self.mapper.get_property(self.id_key).columns[0].name
            found = conn.exec_driver_sql(
                "SELECT pg_get_serial_sequence(%s, %s), (SELECT attidentity FROM pg_attribute "
                "WHERE attrelid = %s::regclass AND attname = %s)",
                (preparer.format_table(self.table), pk, preparer.format_table(self.table), pk),
            ).one()
            self._sequence[key] = found[0] if found[1] != "a" else None
        return self._sequence[key]

    def casts(self, dialect: Any) -> tuple[str, ...]:
        """Each column's SQL type on ``dialect``, for PostgreSQL's ``VALUES`` list."""
        found = self._casts.get(f"{dialect.name}+{dialect.driver}")
        if found is None:
            table = self.table
            found = tuple(
                table.c[name].type.compile(dialect=dialect)
                for _key, name, _default, _call in self.columns
            )
            self._casts[f"{dialect.name}+{dialect.driver}"] = found
        return found


#: stored forms remembered per JSON column, at most (the same few tag lists and choices recur)
MEMO_SIZE = 4096


def _processor(column_type: Any, dialect: Any, copy: bool) -> Callable[[Any], Any] | None:
    """The column's bind processor; with ``copy``, a JSON column's gives the text psycopg would
    write for the value it wraps (``Json``/``Jsonb``, serialised when the driver writes it):
    that text, made once per stored form remembered by ``_empty_once``, instead of once per
    row. ``COPY`` sends every value as text for the server to read as its column's type."""
    process = column_type._cached_bind_processor(dialect)
    if not copy or process is None or not isinstance(column_type, JSON):
        return process
    from psycopg.types.json import Json, Jsonb

    def as_text(value: Any) -> Any:
        bound = process(value)
        if not isinstance(bound, Json | Jsonb):
            return bound  # None: SQL NULL
        # the wrapper's serialiser (SQLAlchemy's json_serializer), else psycopg's default
        text = (bound.dumps or json.dumps)(bound.obj)
        return text.decode() if isinstance(text, bytes) else text

    return as_text


def _empty_once(
    column_type: Any, process: Callable[[Any], Any] | None
) -> Callable[[Any], Any] | None:
    """A JSON column's processor that serialises an empty list or object once, not per row
    (most records leave most of their JSON columns at their default), and remembers the stored
    form of small lists and objects of plain strings (tags, a choice custom field), which the
    rows of an import repeat: only values whose every item is a ``str`` are remembered, so
    equal values of other types (``True == 1``) never share a stored form."""
    if process is None or not isinstance(column_type, JSON):
        return process
    empty_list, empty_dict = process([]), process({})
    lists: dict[tuple[str, ...], Any] = {}
    objects: dict[tuple[tuple[str, str], ...], Any] = {}

    def remembered(memo: dict[Any, Any], key: Any, value: Any) -> Any:
        found = memo.get(key)
        if found is None:
            found = process(value)
            if len(memo) < MEMO_SIZE:
                memo[key] = found
        return found

    def processed(value: Any) -> Any:
        kind = type(value)
        if kind is list:
            if not value:
                return empty_list
            if len(value) <= 8 and all(type(item) is str for item in value):
                return remembered(lists, tuple(value), value)
        elif kind is dict:
            if not value:
                return empty_dict
            if len(value) <= 8 and all(type(k) is str and type(v) is str for k, v in value.items()):
                return remembered(objects, tuple(value.items()), value)
        return process(value)

    return processed


def insert_plan(entity: Entity) -> InsertPlan | None:
    """The entity's insert plan, made once; ``None`` when its mapping needs the ORM."""
    cached = entity.__dict__.get("_crm_insert_plan", ...)
    if cached is not ...:
        return cast("InsertPlan | None", cached)
    plan = _make_plan(entity)
    entity.__dict__["_crm_insert_plan"] = plan
    return plan


def _make_plan(entity: Entity) -> InsertPlan | None:
    mapper = sa_inspect(entity.model)
    table = mapper.local_table
    if mapper.inherits is not None or not isinstance(table, Table):
        return None
    id_key = None
    planned: list[tuple[str, str, Any, bool]] = []
    mapped: set[str] = set()
    for prop in mapper.column_attrs:
        if len(prop.columns) != 1 or prop.columns[0].table is not table:
            return None
        column = prop.columns[0]
        mapped.add(column.name)
        if column.primary_key:
            if id_key is not None or not column.autoincrement:
                return None
            id_key = prop.key
            continue
        if column.server_default is not None:
            return None
        default = column.default
        if default is None:
            planned.append((prop.key, column.name, None, False))
        elif getattr(default, "is_scalar", False):
            planned.append((prop.key, column.name, default.arg, False))
        elif getattr(default, "is_callable", False) and hasattr(default.arg, "__wrapped__"):
            planned.append((prop.key, column.name, default.arg, True))  # a zero-argument one
        else:
            return None  # a SQL expression, a sequence, a default reading the context
    if id_key is None or mapped != set(table.c.keys()):
        return None
    pk = mapper.get_property(id_key).columns[0]
    statement = insert(table).returning(pk, sort_by_parameter_order=True)
    return InsertPlan(table, mapper, id_key, tuple(planned), statement)


def insert_rows(conn: Connection, plan: InsertPlan, rows: Sequence[Sequence[Any]]) -> list[int]:
    """Insert ``rows`` (one value per column of ``plan.columns``, in that order) and return
    their new ids in the same order.

    A column left NULL by every row is left out (it has no default to apply): fewer
    parameters, the same rows.
    """
    if not rows:
        return []
    dialect = conn.dialect
    sequence = plan.sequence(conn) if dialect.name == "postgresql" else None
    binds = plan.binds(dialect, copy=sequence is not None)
    columns = list(zip(*rows, strict=True))
    everyone = len(rows)
    kept = [i for i, values in enumerate(columns) if values.count(None) != everyone]
    bound = [bound_column(binds[i], columns[i]) for i in kept]
    bound_rows = list(zip(*bound, strict=True)) if bound else [()] * len(rows)
    if sequence is not None:
        return _copy_new(conn, plan, kept, bound_rows, sequence)
    ids: list[int] = []
    start = 0
    for size in page_sizes(len(rows), max(1, MAX_PARAMETERS // max(1, len(kept)))):
        ids.extend(_insert_page(conn, plan, kept, bound_rows[start : start + size]))
        start += size
    return ids


def page_sizes(count: int, most: int) -> list[int]:
    """The row counts of the statements that write ``count`` rows, each at most ``most``:
    powers of two, the largest first (1,840 rows: 1,024 + 512 + 256 + 32 + 16).

    A multi-row statement's text, and so the driver's prepared statement, then recurs from
    batch to batch (a dozen per column set) instead of one per row count: each new text costs
    SQLite a parse of thousands of parameters, and stays in the connection's statement cache.
    """
    largest = 1 << (max(1, most).bit_length() - 1)
    sizes = [largest] * (count // largest)
    rest = count % largest
    while rest:
        size = 1 << (rest.bit_length() - 1)
        sizes.append(size)
        rest -= size
    return sizes


def bound_column(process: Callable[[Any], Any] | None, values: Sequence[Any]) -> Sequence[Any]:
    """A column's values as the driver takes them, each through the column's bind processor.

    A value the whole column shares (one object: the batch's timestamp, an entity name) is
    processed once.
    """
    if process is None or not values:
        return values
    first = values[0]
    if all(v is first for v in values):
        return [process(first)] * len(values)
    return list(map(process, values))


def _copy_new(
    conn: Connection, plan: InsertPlan, kept: list[int], rows: list[tuple[Any, ...]], sequence: str
) -> list[int]:
    """PostgreSQL: the rows' ids taken from the table's sequence first, then the rows copied
    with them in one ``COPY``: no statement of thousands of values for the client to write and
    the server to parse and plan (the ids are unique, not necessarily consecutive)."""
    ids = sorted(
        conn.exec_driver_sql(
            "SELECT nextval(%s::regclass) FROM generate_series(1, %s)", (sequence, len(rows))
        )
        .scalars()
        .all()
    )
    pk = plan.mapper.get_property(plan.id_key).columns[0].name
    names = [pk, *(plan.columns[i][1] for i in kept)]
    _copy(conn, plan.table, names, [(i, *row) for i, row in zip(ids, rows, strict=True)])
    return ids


def _insert_page(
    conn: Connection, plan: InsertPlan, kept: list[int], page: list[tuple[Any, ...]]
) -> list[int]:
    dialect = conn.dialect
    table = dialect.identifier_preparer.format_table(plan.table)
    quote = dialect.identifier_preparer.quote
    names = [quote(plan.columns[i][1]) for i in kept]
    pk_column = plan.mapper.get_property(plan.id_key).columns[0]
    pk = quote(pk_column.name)
    mark = "%s" if dialect.paramstyle in ("format", "pyformat") else "?"
    if dialect.name == "postgresql":
        casts = plan.casts(dialect)
        if not any("[" in casts[i] for i in kept):  # unnest would flatten an array column
            # one array per column: ten thousand parameters parsed and planned per batch
            # cost the server three times the insert itself
            arrays = ", ".join(f"{mark}::{casts[i]}[]" for i in kept)
            aliases = ", ".join(f"p{i}" for i in range(len(kept)))
            sql = (
                f"INSERT INTO {table} ({', '.join(names)}) SELECT {aliases} "  # noqa: S608
                f"FROM unnest({arrays}) WITH ORDINALITY AS batch ({aliases}, sentinel) "
                f"ORDER BY sentinel RETURNING {pk}"
            )
            columns = tuple(list(column) for column in zip(*page, strict=True))
            return sorted(conn.exec_driver_sql(sql, columns).scalars().all())
        # typed on every row, as SQLAlchemy does: a JSON parameter may arrive as json, not jsonb
        typed = ", ".join(f"{mark}::{casts[i]}" for i in kept)
        values = ", ".join(f"({typed}, {n})" for n in range(len(page)))
        aliases = ", ".join(f"p{i}" for i in range(len(kept)))
        # the names are the table's, quoted; every value is a parameter
        sql = (
            f"INSERT INTO {table} ({', '.join(names)}) SELECT {aliases} FROM (VALUES {values}) "  # noqa: S608
            f"AS batch ({aliases}, sentinel) ORDER BY sentinel RETURNING {pk}"
        )
        flat = [value for row in page for value in row]
        return sorted(conn.exec_driver_sql(sql, tuple(flat)).scalars().all())
    flat = [value for row in page for value in row]
    one = f"({', '.join([mark] * len(kept))})"
    sql = (
        f"INSERT INTO {table} ({', '.join(names)}) VALUES {', '.join([one] * len(page))} "  # noqa: S608
        f"RETURNING {pk}"
    )
    # fetched in one call: iterating asks the driver for one row at a time
    ids = sorted(conn.exec_driver_sql(sql, tuple(flat)).scalars().all())
    if ids and ids[-1] - ids[0] == len(ids) - 1:
        return ids
    # not handed out in order (SQLite past the largest rowid picks free ones at random):
    # take the rows back and insert them one by one
    conn.execute(delete(plan.table).where(pk_column.in_(ids)))
    single = f"INSERT INTO {table} ({', '.join(names)}) VALUES {one} RETURNING {pk}"  # noqa: S608
    return [conn.exec_driver_sql(single, row).scalar_one() for row in page]


def insert_many(
    conn: Connection,
    table: Table,
    names: Sequence[str],
    rows: Sequence[Sequence[Any]],
    suffix: str = "",
) -> None:
    """``INSERT INTO table (names) VALUES (...) suffix`` as one driver ``executemany`` of
    ``rows`` (values in the order of ``names``), each value bound with its column's own bind
    processor: audit rows, search documents, fingerprints of an import batch. On PostgreSQL,
    rows without a suffix are copied (``COPY ... FROM STDIN``): the same rows, a fraction of
    the client's and the server's work per row.

    ``suffix`` is SQL written by the caller (an ``ON CONFLICT`` clause), never data. On
    PostgreSQL such rows are copied too, in a savepoint: a clause that only acts on a conflict
    changes nothing when there is none, and when the copy meets one it is undone and the rows
    take the statement with the clause.
    """
    if not rows:
        return
    dialect = conn.dialect
    processors = _processors(table, tuple(names), dialect)
    if any(p is not None for p in processors):
        # column by column: a processor is looked up once per column, not once per value
        columns = zip(*rows, strict=True)
        bound = [bound_column(p, c) for p, c in zip(processors, columns, strict=True)]
        rows = list(zip(*bound, strict=True))
    quote = dialect.identifier_preparer.quote
    if dialect.name == "postgresql":
        if not suffix:
            _copy(conn, table, names, rows)
            return
        if suffix.lstrip().upper().startswith("ON CONFLICT") and _copied_unless_conflict(
            conn, table, names, rows
        ):
            return
    mark = "%s" if dialect.paramstyle in ("format", "pyformat") else "?"
    sql = (
        f"INSERT INTO {dialect.identifier_preparer.format_table(table)} "  # noqa: S608
        f"({', '.join(quote(n) for n in names)}) VALUES ({', '.join([mark] * len(names))})"
        f"{suffix}"
    )
    conn.exec_driver_sql(sql, [row if type(row) is tuple else tuple(row) for row in rows])


def _copied_unless_conflict(
    conn: Connection, table: Table, names: Sequence[str], rows: Sequence[Any]
) -> bool:
    """PostgreSQL: copy the rows in a savepoint; ``False`` (the savepoint undone) when the
    database refuses one of them: a conflict, which the clause resolves, or another fault,
    which the statement then raises as it would have."""
    from sqlalchemy.exc import IntegrityError

    try:
        with conn.begin_nested():
            _copy(conn, table, names, rows)
    except IntegrityError:
        return False
    return True


def _copy(conn: Connection, table: Table, names: Sequence[str], rows: Sequence[Any]) -> None:
    """PostgreSQL: the rows with one ``COPY ... FROM STDIN`` in the connection's transaction
    (the server parses no statement per row); an error is raised as SQLAlchemy's, as from
    ``exec_driver_sql``."""
    from sqlalchemy.exc import DBAPIError

    dialect = conn.dialect
    quote = dialect.identifier_preparer.quote
    sql = (
        f"COPY {dialect.identifier_preparer.format_table(table)} "
        f"({', '.join(quote(n) for n in names)}) FROM STDIN"
    )
    cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
    try:
        with cursor.copy(sql) as copy:
            write = copy.write_row
            for row in rows:
                write(row)
    except dialect.loaded_dbapi.Error as error:
        raise DBAPIError.instance(sql, None, error, dialect.loaded_dbapi.Error) from None
    finally:
        cursor.close()


_PROCESSORS: dict[tuple[Table, tuple[str, ...], str], tuple[Callable[[Any], Any] | None, ...]] = {}


def _processors(
    table: Table, names: tuple[str, ...], dialect: Any
) -> tuple[Callable[[Any], Any] | None, ...]:
    key = (table, names, f"{dialect.name}+{dialect.driver}")
    found = _PROCESSORS.get(key)
    if found is None:
        found = tuple(table.c[n].type._cached_bind_processor(dialect) for n in names)
        _PROCESSORS[key] = found
    return found
