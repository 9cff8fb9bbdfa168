"""``crm backup`` and ``crm restore``: the database and the attachments in one ``.tar.gz``.

The archive holds ``manifest.json`` (format, crmcore version, enabled plugins, database kind,
creation time, size and SHA-256 of the database file), the database and ``attachments/``:

* SQLite: ``database.sqlite3``, a snapshot taken with SQLite's online backup API in one step, so
  it is consistent while the CRM keeps writing (WAL readers never block writers).
* PostgreSQL: ``database.pgdump``, from ``pg_dump --format=custom`` (one snapshot transaction).

The database is copied before the attachments, so every file the snapshot refers to is in the
archive (an attachment uploaded meanwhile may be there too, unreferenced: harmless).

Restoring refuses an instance that has users or contacts unless ``force`` is given. SQLite is
restored with the backup API into the configured file (safe with WAL and with other connections
open: they see the new content at their next transaction). PostgreSQL is restored atomically:
``pg_restore --clean --if-exists`` renders the dump as SQL, run by ``psql --single-transaction``
after dropping the tables the database has now, so it ends exactly as backed up, or unchanged
when anything fails. Attachments are unpacked beside the instance's folder and swapped in.
Passwords never appear on a command line: libpq reads them from the environment.
"""

from __future__ import annotations

import datetime as dt
import glob
import hashlib
import io
import json
import os
import secrets
import shutil
import sqlite3
import subprocess
import tarfile
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path, PurePosixPath
from typing import Any

from sqlalchemy import inspect, text
from sqlalchemy.engine import URL, make_url

from .errors import CRMError
from .parsing import is_whole
from .version import __version__

FORMAT = 1
MANIFEST = "manifest.json"
DB_FILES = {"sqlite": "database.sqlite3", "postgresql": "database.pgdump"}
ATTACHMENTS = "attachments"


class BackupError(CRMError):
    """A backup or restore cannot be done; the message says why."""

    status = 400
    title = "Backup error"


# helpers ----------------------------------------------------------------------------------------


def database_kind(url: str) -> str:
    backend = make_url(url).get_backend_name()
    if backend not in DB_FILES:
        raise BackupError(f"backups support SQLite and PostgreSQL, not {backend}")
    return backend


def sqlite_file(url: str) -> Path:
    database = make_url(url).database
    if not database or database == ":memory:":
        raise BackupError("an in-memory SQLite database cannot be backed up")
    return Path(database)


def find_pg_tool(name: str) -> str:
    """``pg_dump``, ``psql``...: from PATH, else the newest ``/usr/lib/postgresql/*/bin``."""
    found = shutil.which(name)
    if found:
        return found
    candidates = sorted(
        glob.glob(f"/usr/lib/postgresql/*/bin/{name}"),
        key=lambda p: [int(x) for x in Path(p).parts[-3].split(".") if is_whole(x)],
    )
    if not candidates:
        raise BackupError(
            f"{name} was not found (install the PostgreSQL client: "
            "apt-get install postgresql-client)"
        )
    return candidates[-1]


def libpq_env(url: str) -> dict[str, str]:
    """Environment variables that point libpq tools at ``url`` (password included)."""
    parsed: URL = make_url(url)
    env = dict(os.environ)
    for var, value in (
        ("PGHOST", parsed.host),
        ("PGPORT", parsed.port),
        ("PGUSER", parsed.username),
        ("PGPASSWORD", parsed.password),
        ("PGDATABASE", parsed.database),
    ):
        if value is not None:
            env[var] = str(value)
    for key, var in (
        ("sslmode", "PGSSLMODE"),
        ("sslrootcert", "PGSSLROOTCERT"),
        ("application_name", "PGAPPNAME"),
    ):
        value = parsed.query.get(key)
        if isinstance(value, str):
            env[var] = value
    return env


def _run(command: list[str], env: dict[str, str], what: str) -> None:
    # the program is a PostgreSQL tool found by find_pg_tool; arguments are never a shell line
    result = subprocess.run(command, env=env, capture_output=True, text=True, check=False)  # noqa: S603
    if result.returncode != 0:
        detail = (result.stderr or result.stdout).strip().splitlines()
        raise BackupError(f"{what} failed: {' / '.join(detail[-3:]) or result.returncode}")


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


# backup -----------------------------------------------------------------------------------------


def snapshot_sqlite(source: Path, target: Path) -> None:
    """Copy a live SQLite database consistently into the single file ``target``."""
    if not source.exists():
        raise BackupError(f"the database file {source} does not exist")
    src = sqlite3.connect(source, timeout=30)
    dst = sqlite3.connect(target)
    try:
        src.backup(dst)  # every page in one step: one read transaction, one snapshot
        dst.execute("PRAGMA journal_mode=DELETE")  # a standalone file, no -wal beside it
    finally:
        dst.close()
        src.close()


def dump_postgres(url: str, target: Path) -> None:
    _run(
        [
            find_pg_tool("pg_dump"),
            "--format=custom",
            "--no-owner",
            "--no-privileges",
            f"--file={target}",
        ],
        libpq_env(url),
        "pg_dump",
    )


def create_backup(crm: Any, dest: Path) -> dict[str, Any]:
    """Write the backup archive ``dest`` (atomically, mode 600); returns its manifest.

    Call inside an application context of the instance.
    """
    settings = crm.settings
    url = settings.database_url
    kind = database_kind(url)
    dest = dest.resolve()
    dest.parent.mkdir(parents=True, exist_ok=True)
    plugins = sorted(crm.enabled_plugins())
    crm.session.rollback()  # hold no transaction of ours while the snapshot is taken
    with tempfile.TemporaryDirectory(dir=dest.parent, prefix=".crm-backup-") as tmp:
        db_file = Path(tmp) / DB_FILES[kind]
        if kind == "sqlite":
            snapshot_sqlite(sqlite_file(url), db_file)
        else:
            dump_postgres(url, db_file)
        manifest = {
            "format": FORMAT,
            "crmcore_version": __version__,
            "plugins_enabled": plugins,
            "database": kind,
            "database_file": db_file.name,
            "database_sha256": _sha256(db_file),
            "database_bytes": db_file.stat().st_size,
            "created_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        }
        partial = Path(tmp) / "archive.tar.gz"
        with tarfile.open(partial, "w:gz") as tar:
            data = json.dumps(manifest, indent=2).encode()
            info = tarfile.TarInfo(MANIFEST)
            info.size, info.mtime, info.mode = len(data), int(dt.datetime.now().timestamp()), 0o600
            tar.addfile(info, io.BytesIO(data))
            tar.add(db_file, arcname=db_file.name)
            attachments = settings.attachments_path
            if attachments.is_dir():
                tar.add(
                    attachments,
                    arcname=ATTACHMENTS,
                    filter=lambda m: m if (m.isfile() or m.isdir()) else None,
                )
        os.chmod(partial, 0o600)
        os.replace(partial, dest)
    return manifest


# restore ----------------------------------------------------------------------------------------


def read_manifest(tar: tarfile.TarFile) -> dict[str, Any]:
    try:
        member = tar.getmember(MANIFEST)
        raw = tar.extractfile(member)
        manifest = json.loads(raw.read()) if raw else None
    except (KeyError, ValueError):
        manifest = None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise BackupError("this file is not a crmcore backup (no readable manifest.json)")
    return manifest


def _check_members(tar: tarfile.TarFile, db_name: str) -> list[tarfile.TarInfo]:
    """Every member must be the manifest, the database or a plain file/folder of attachments."""
    members = tar.getmembers()
    for m in members:
        path = PurePosixPath(m.name)
        safe = not path.is_absolute() and ".." not in path.parts
        allowed = m.name in (MANIFEST, db_name) or (
            path.parts[:1] == (ATTACHMENTS,) and (m.isfile() or m.isdir())
        )
        if not (safe and allowed and (m.isfile() or m.isdir())):
            raise BackupError(f"unexpected entry in the backup: {m.name!r}; refusing it")
    return members


def instance_is_empty(crm: Any) -> bool:
    """``True`` when the database has no users and no contacts (or no tables at all)."""
    with crm.engine.connect() as conn:
        names = set(inspect(conn).get_table_names())
        for table in ("core_user", "core_contact"):
            query = text(f"SELECT 1 FROM {table} LIMIT 1")  # noqa: S608 (constant names)
            if table in names and conn.execute(query).first():
                return False
    return True


@contextmanager
def _opened(path: Path) -> Iterator[tarfile.TarFile]:
    try:
        tar = tarfile.open(path, "r:gz")
    except (OSError, tarfile.TarError) as exc:
        raise BackupError(f"cannot read the backup {path}: {exc}") from None
    with tar:
        yield tar


def restore_backup(crm: Any, source: Path, force: bool = False) -> dict[str, Any]:
    """Replace the instance's database and attachments with the backup ``source``.

    Refuses a non-empty instance unless ``force``. Returns the backup's manifest.
    """
    settings = crm.settings
    kind = database_kind(settings.database_url)
    with _opened(source) as tar:
        manifest = read_manifest(tar)
        if manifest.get("database") != kind:
            raise BackupError(
                f"this backup holds a {manifest.get('database')} database; the "
                f"instance uses {kind} (restore into a {manifest.get('database')} "
                "instance)"
            )
        db_name = DB_FILES[kind]
        members = _check_members(tar, db_name)
        crm.close_session()
        if not force and not instance_is_empty(crm):
            raise BackupError(
                "the instance already has users or contacts; restore with --force to overwrite them"
            )
        settings.instance_path.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=settings.instance_path, prefix=".crm-restore-") as tmp:
            staging = Path(tmp)
            db_file = staging / db_name
            _extract(tar, members, staging)
            if not db_file.is_file():
                raise BackupError("the backup holds no database")
            if _sha256(db_file) != manifest.get("database_sha256"):
                raise BackupError("the database in the backup is damaged (checksum mismatch)")
            crm.engine.dispose()
            if kind == "sqlite":
                restore_sqlite(db_file, sqlite_file(settings.database_url))
            else:
                restore_postgres(settings.database_url, db_file, staging, crm.engine)
            crm.engine.dispose()
            _swap_attachments(staging / ATTACHMENTS, settings.attachments_path)
    return manifest


def _extract(tar: tarfile.TarFile, members: list[tarfile.TarInfo], target: Path) -> None:
    for m in members:
        out = target.joinpath(*PurePosixPath(m.name).parts)
        if m.isdir():
            out.mkdir(parents=True, exist_ok=True)
            continue
        out.parent.mkdir(parents=True, exist_ok=True)
        stream = tar.extractfile(m)
        if stream is None:
            continue
        with stream, out.open("wb") as fh:
            shutil.copyfileobj(stream, fh, 1 << 20)


def restore_sqlite(snapshot: Path, target: Path) -> None:
    """Copy ``snapshot`` into the database file ``target`` through the backup API."""
    check = sqlite3.connect(snapshot)
    try:
        if check.execute("PRAGMA integrity_check").fetchone() != ("ok",):
            raise BackupError("the SQLite database in the backup fails its integrity check")
    finally:
        check.close()
    target.parent.mkdir(parents=True, exist_ok=True)
    src = sqlite3.connect(snapshot)
    dst = sqlite3.connect(target, timeout=30)
    try:
        src.backup(dst)
        dst.execute("PRAGMA journal_mode=WAL")
    finally:
        dst.close()
        src.close()


def restore_postgres(url: str, dump: Path, staging: Path, engine: Any) -> None:
    """Make the database exactly the dump's, in one transaction."""
    env = libpq_env(url)
    script = staging / "restore.sql"
    _run(
        [
            find_pg_tool("pg_restore"),
            "--clean",
            "--if-exists",
            "--no-owner",
            "--no-privileges",
            f"--file={script}",
            str(dump),
        ],
        env,
        "pg_restore",
    )
    with engine.connect() as conn:
        tables = inspect(conn).get_table_names(schema="public")
    prelude = staging / "prelude.sql"
    prelude.write_text(
        "".join(
            f'DROP TABLE IF EXISTS public."{name}" CASCADE;\n' for name in tables if '"' not in name
        )
    )
    _run(
        [
            find_pg_tool("psql"),
            "-X",
            "-q",
            "-v",
            "ON_ERROR_STOP=1",
            "--single-transaction",
            "-f",
            str(prelude),
            "-f",
            str(script),
        ],
        env,
        "restoring the PostgreSQL database",
    )


def _swap_attachments(new: Path, target: Path) -> None:
    if not new.is_dir():
        new.mkdir(parents=True)
    old = target.with_name(f".{target.name}-old-{secrets.token_hex(4)}")
    if target.exists():
        target.rename(old)
    new.rename(target)
    if old.exists():
        shutil.rmtree(old, ignore_errors=True)
