"""``crm backup`` / ``crm restore`` on SQLite and PostgreSQL instances of their own."""

import io
import json
import sqlite3
import tarfile
import threading

import pytest
from ops_support import make_instance
from sqlalchemy import func, select

from crmcore.backup import BackupError, create_backup, restore_backup
from crmcore.cli import cli as crm_cli
from crmcore.contacts.models import Contact
from crmcore.search import SearchDoc

__all__ = ["make_instance"]  # the fixture, imported for pytest


def _invoke(inst, *args):
    return inst.app.test_cli_runner().invoke(crm_cli, list(args))


def _fill(inst, n=3, prefix="Ana"):
    from crmcore.instance import create_user

    with inst.app.app_context():
        if not inst.crm.session.scalar(select(func.count()).select_from(Contact)):
            create_user(
                inst.crm, f"admin@{inst.path.name}.example", "Correct-horse-battery-9", "admin"
            )
        for i in range(n):
            inst.crm.records().create(
                "contacts",
                {
                    "first_name": prefix,
                    "last_name": f"N{i}",
                    "email": f"{prefix.lower()}{i}@example.com",
                },
            )
    folder = inst.crm.settings.attachments_path / "ab"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "ab12").write_bytes(b"attachment bytes \x00\x01")


def _names(inst):
    with inst.app.app_context():
        return sorted(
            inst.crm.session.scalars(select(Contact.first_name + " " + Contact.last_name))
        )


def test_backup_and_restore_with_the_cli(make_instance, tmp_path):
    source = make_instance("source")
    _fill(source)
    archive = tmp_path / "crm-backup.tar.gz"
    done = source.run("backup", str(archive))  # a real `crm backup` process
    assert "backup written" in done.stdout
    assert (archive.stat().st_mode & 0o777) == 0o600
    with tarfile.open(archive) as tar:
        names = set(tar.getnames())
        manifest = json.load(tar.extractfile("manifest.json"))
    kind = "sqlite" if source.database_url.startswith("sqlite") else "postgresql"
    assert manifest["database"] == kind and manifest["format"] == 1
    assert {"manifest.json", manifest["database_file"], "attachments/ab/ab12"} <= names
    assert "contacts" in manifest["plugins_enabled"] and manifest["crmcore_version"]
    assert manifest["created_at"].endswith("+00:00")

    target = make_instance("target")
    restored = _invoke(target, "restore", str(archive))
    assert restored.exit_code == 0 and "restored the backup" in restored.output
    assert _names(target) == ["Ana N0", "Ana N1", "Ana N2"]
    copy = target.crm.settings.attachments_path / "ab" / "ab12"
    assert copy.read_bytes() == b"attachment bytes \x00\x01"
    with target.app.app_context():  # the search index came along
        assert target.crm.session.scalar(select(func.count()).select_from(SearchDoc)) >= 3
    user_rows = _invoke(target, "users", "list").output
    assert f"admin@{source.path.name}.example" in user_rows


def test_restore_refuses_a_non_empty_instance_without_force(make_instance, tmp_path):
    inst = make_instance()
    _fill(inst, n=2)
    archive = tmp_path / "b.tar.gz"
    assert _invoke(inst, "backup", str(archive)).exit_code == 0
    _fill(inst, n=2, prefix="Later")
    (inst.crm.settings.attachments_path / "late.bin").write_bytes(b"late")
    refused = _invoke(inst, "restore", str(archive))
    assert refused.exit_code == 1 and "--force" in refused.output
    assert len(_names(inst)) == 4  # nothing changed
    forced = _invoke(inst, "restore", str(archive), "--force")
    assert forced.exit_code == 0, forced.output
    assert _names(inst) == ["Ana N0", "Ana N1"]
    assert not (inst.crm.settings.attachments_path / "late.bin").exists()
    assert (inst.crm.settings.attachments_path / "ab" / "ab12").exists()
    _fill(inst, n=1, prefix="After")  # the restored instance keeps working
    assert "After N0" in _names(inst)


def test_backup_while_another_thread_writes(make_instance, tmp_path):
    source = make_instance("busy")
    _fill(source, n=1)
    stop = threading.Event()
    written = []
    errors = []

    def writer():
        try:
            with source.app.app_context():
                records = source.crm.records()
                i = 0
                while not stop.is_set():
                    records.create("contacts", {"first_name": "W", "last_name": f"{i}"})
                    written.append(i)
                    i += 1
        except Exception as exc:  # reported below
            errors.append(exc)

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        while len(written) < 20:
            threading.Event().wait(0.02)
        before = len(written)
        with source.app.app_context():
            create_backup(source.crm, tmp_path / "busy.tar.gz")
        after = len(written)
        while len(written) < after + 10:  # the writer was not stopped by the backup
            threading.Event().wait(0.02)
    finally:
        stop.set()
        thread.join(10)
    assert not errors

    target = make_instance("restored")
    with target.app.app_context():
        restore_backup(target.crm, tmp_path / "busy.tar.gz")
    with target.app.app_context():
        session = target.crm.session
        contacts = session.scalar(select(func.count()).select_from(Contact))
        indexed = session.scalar(
            select(func.count()).select_from(SearchDoc).where(SearchDoc.entity == "contact")
        )
    assert 1 + before <= contacts <= 1 + after + 1
    assert indexed == contacts  # each contact with its search row: one consistent snapshot
    if target.database_url.startswith("sqlite"):
        db = sqlite3.connect(target.database_url.removeprefix("sqlite:///"))
        assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        db.close()


def _archive(path, members):
    with tarfile.open(path, "w:gz") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))


def test_bad_archives_are_refused(make_instance, tmp_path):
    inst = make_instance()
    kind = "sqlite" if inst.database_url.startswith("sqlite") else "postgresql"
    other = "postgresql" if kind == "sqlite" else "sqlite"
    not_tar = tmp_path / "x.tar.gz"
    not_tar.write_text("hello")
    manifest = {"format": 1, "database": kind, "database_sha256": "0"}
    evil = tmp_path / "evil.tar.gz"
    _archive(evil, {"manifest.json": json.dumps(manifest).encode(), "../escape": b"x"})
    wrong_kind = tmp_path / "kind.tar.gz"
    _archive(wrong_kind, {"manifest.json": json.dumps({**manifest, "database": other}).encode()})
    no_manifest = tmp_path / "none.tar.gz"
    _archive(no_manifest, {"database.sqlite3": b"x"})
    damaged = tmp_path / "damaged.tar.gz"
    db_name = "database.sqlite3" if kind == "sqlite" else "database.pgdump"
    _archive(damaged, {"manifest.json": json.dumps(manifest).encode(), db_name: b"garbage"})
    with inst.app.app_context():
        for path, message in (
            (not_tar, "cannot read"),
            (evil, "unexpected entry"),
            (wrong_kind, f"holds a {other}"),
            (no_manifest, "not a crmcore"),
            (damaged, "damaged"),
        ):
            with pytest.raises(BackupError, match=message):
                restore_backup(inst.crm, path, force=True)
    assert not (inst.path.parent / "escape").exists()
    _fill(inst, n=1)
    assert _names(inst) == ["Ana N0"]  # the instance still works
