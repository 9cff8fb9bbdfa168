"""CSV import: detection, mapping, validation, dedupe, idempotency, bad files, CLI and API."""

from __future__ import annotations

import csv
import io
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import create_engine, func, select, text

from crmcore.audit import AuditEntry
from crmcore.contacts.models import Company, Contact
from crmcore.importing import (
    ImportedRow,
    ImportFileError,
    ImportJob,
    ImportOptions,
    import_file,
    parse_mapping,
)
from crmcore.importing.mapping import FieldSet, map_columns
from crmcore.importing.reading import inspect_file, iter_rows
from crmcore.permissions import Access
from crmcore.testing import empty_database
from crmcore.users.models import Team

HEADER = ["First name", "Last name", "E-mail", "City"]


def write(path: Path, rows: list[list[str]], encoding: str = "utf-8", delimiter: str = ",") -> Path:
    buffer = io.StringIO()
    csv.writer(buffer, delimiter=delimiter, lineterminator="\r\n").writerows(rows)
    path.write_bytes(buffer.getvalue().encode(encoding))
    return path


def run(crm, path, entity="contacts", access=None, **options):
    return import_file(
        crm, access or Access.system(), Path(path), ImportOptions(entity=entity, **options)
    )


def count(crm, model) -> int:
    return crm.session.scalar(select(func.count()).select_from(model))


def report_rows(path: Path) -> list[list[str]]:
    with open(path, encoding="utf-8-sig", newline="") as fh:
        return list(csv.reader(fh))


# detection ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("encoding", "delimiter", "found"),
    [
        ("utf-8", ",", "utf-8"),
        ("utf-8-sig", ";", "utf-8-sig"),
        ("cp1252", ";", "cp1252"),
        ("utf-8", "\t", "utf-8"),
        ("utf-16", "\t", "utf-16"),
    ],
)
def test_detects_encoding_and_delimiter(crm, tmp_path, encoding, delimiter, found):
    rows = [
        HEADER,
        ["José", "Müller €", "jose@example.com", "Córdoba"],
        ["Ana", "Núñez, Jr.", "ana@example.com", "Sevilla"],
    ]
    path = write(tmp_path / "c.csv", rows, encoding, delimiter)
    fmt = inspect_file(path, None)
    assert (fmt.encoding, fmt.delimiter, fmt.rows) == (found, delimiter, 2)
    result = run(crm, path)
    assert result.created == 2
    jose = crm.session.scalar(select(Contact).where(Contact.email == "jose@example.com"))
    assert (jose.first_name, jose.last_name, jose.city) == ("José", "Müller €", "Córdoba")
    ana = crm.session.scalar(select(Contact).where(Contact.email == "ana@example.com"))
    assert ana.last_name == "Núñez, Jr."


def test_latin1_bytes_not_valid_in_cp1252(crm, tmp_path):
    path = tmp_path / "latin1.csv"
    path.write_bytes(
        "Nombre;Correo\nJos\xe9;jose@example.com\nX\x81;x@example.com\n".encode("latin-1")
    )
    assert inspect_file(path, None).encoding == "latin-1"
    assert run(crm, path).created == 2


@pytest.mark.parametrize(
    ("header", "target"),
    [
        ("E-mail", "email"),
        ("Email address", "email"),
        ("Correo", "email"),
        ("Correo electrónico", "email"),
        ("CORREO_ELECTRONICO", "email"),
        ("e_mail", "email"),
        ("Teléfono", "phone"),
        ("Phone number", "phone"),
        ("Móvil", "mobile"),
        ("Nombre", "first_name"),
        ("Apellidos", "last_name"),
        ("first-name", "first_name"),
        ("FIRST NAME", "first_name"),
        ("Ciudad", "city"),
        ("País", "country"),
        ("Cargo", "title"),
        ("Código postal", "postal_code"),
        ("Empresa", "@company"),
        ("Etiquetas", "tags"),
        ("Custom.Level", "custom.level"),
        ("Nivel de cliente", "custom.level"),
    ],
)
def test_header_synonyms(crm, records, header, target):
    records.create(
        "custom_fields",
        {
            "entity": "contacts",
            "name": "level",
            "label": "Nivel de cliente",
            "type": "choice",
            "choices": ["gold", "silver"],
        },
    )
    entity = crm.registry.get("contacts")
    fields = FieldSet.of(entity, crm.custom_field_defs(crm.session, entity), True)
    assert map_columns([header, "something else"], fields).targets == [target, None]


def test_company_header_on_companies_is_the_name(crm):
    entity = crm.registry.get("companies")
    fields = FieldSet.of(entity, [], True)
    assert map_columns(["Empresa", "Ciudad"], fields).targets == ["name", "city"]


def test_mapping_file_json_and_csv(crm, tmp_path):
    path = write(
        tmp_path / "m.csv", [["col a", "col b", "col c"], ["Ana", "ana@example.com", "ignored"]]
    )
    mapping = tmp_path / "map.json"
    mapping.write_text('{"col a": "first_name", "col b": "email", "col c": null}')
    from crmcore.importing import load_mapping

    result = run(crm, path, mapping=load_mapping(mapping))
    assert result.created == 1 and result.ignored == ["col c"]
    assert (
        crm.session.scalar(select(Contact.first_name).where(Contact.email == "ana@example.com"))
        == "Ana"
    )
    assert parse_mapping("column,field\ncol a,first_name\ncol c,\n") == {
        "col a": "first_name",
        "col c": None,
    }
    with pytest.raises(ImportFileError, match="unknown fields"):
        run(crm, path, mapping={"col a": "shoe_size"})
    with pytest.raises(ImportFileError, match="does not have"):
        run(crm, path, mapping={"col z": "email"})


# validation and the report --------------------------------------------------------------------


def test_rejected_rows_report_line_numbers(crm, records, tmp_path):
    records.create(
        "custom_fields",
        {
            "entity": "contacts",
            "name": "level",
            "label": "Level",
            "type": "choice",
            "choices": ["gold", "silver"],
        },
    )
    rows = [
        ["Nombre", "Correo", "Level", "Cargo"],
        ["Ana", "ana@example.com", "gold", "CEO"],
        ["Bad", "not-an-email", "gold", ""],
        ["Choice", "choice@example.com", "platinum", ""],
        ["Long", "long@example.com", "", "x" * 101],
        ["Eva", "eva@example.com", "silver", ""],
    ]
    path = write(tmp_path / "in.csv", rows)
    result = run(crm, path)
    assert (result.created, result.rejected) == (2, 3)
    assert result.report_path is not None and result.report_path.parent == tmp_path
    report = report_rows(result.report_path)
    assert report[0] == ["line", "reason", "Nombre", "Correo", "Level", "Cargo"]
    by_line = {r[0]: r for r in report[1:]}
    assert set(by_line) == {"3", "4", "5"}
    assert "e-mail" in by_line["3"][1] and by_line["3"][2:] == rows[2]
    assert "custom.level" in by_line["4"][1] and "gold" in by_line["4"][1]
    assert "title" in by_line["5"][1] and "100" in by_line["5"][1]
    emails = set(crm.session.scalars(select(Contact.email)))
    assert emails == {"ana@example.com", "eva@example.com"}


def test_line_numbers_count_multiline_cells_and_blank_lines(crm, tmp_path):
    path = tmp_path / "multi.csv"
    path.write_text(
        'Nombre,Correo,Descripción\nAna,ana@example.com,"line one\nline two"\n\nBad,bad@,x\n'
    )
    result = run(crm, path)
    assert (result.created, result.rejected) == (1, 1)
    assert report_rows(result.report_path)[1][0] == "5"


def test_rows_of_blank_cells_are_left_out_and_a_row_blank_at_first_is_kept(tmp_path):
    path = tmp_path / "gaps.csv"
    path.write_text("Name,E-mail\nAna,ana@example.com\n , \n,\n\n ,eva@example.com\n")
    fmt = inspect_file(path, None)
    assert fmt.rows == 2
    assert list(iter_rows(path, fmt)) == [
        (2, ["Ana", "ana@example.com"]),
        (6, [" ", "eva@example.com"]),
    ]


def test_unique_conflict_rejects_the_row_and_keeps_the_batch(crm, tmp_path):
    path = write(
        tmp_path / "teams.csv",
        [["Name", "Description"], ["North", "a"], ["South", "b"], ["North", "c"], ["East", "d"]],
    )
    result = run(crm, path, entity="teams")
    assert (result.created, result.rejected) == (3, 1)
    assert sorted(crm.session.scalars(select(Team.name))) == ["East", "North", "South"]
    assert report_rows(result.report_path)[1][0] == "4"


def test_company_looked_up_or_created_by_name(crm, records, tmp_path):
    acme = records.create("companies", {"name": "ACME Corp"})
    path = write(
        tmp_path / "c.csv",
        [
            ["Nombre", "Correo", "Empresa"],
            ["Ana", "ana@example.com", "acme corp"],
            ["Bad", "bad-email", "Never Created"],
            ["Luis", "luis@example.com", "Nueva SL"],
        ],
    )
    result = run(crm, path)
    assert (result.created, result.rejected, result.companies_created) == (2, 1, 1)
    ana = crm.session.scalar(select(Contact).where(Contact.email == "ana@example.com"))
    assert ana.company_id == acme.id
    assert sorted(crm.session.scalars(select(Company.name))) == ["ACME Corp", "Nueva SL"]


# duplicates, dry run, re-runs -----------------------------------------------------------------


@pytest.mark.parametrize("mode", ["skip", "update"])
def test_contacts_deduplicated_by_email(crm, make_contact, tmp_path, mode):
    existing = make_contact(email="ana@example.com", title="Old")
    path = write(
        tmp_path / "d.csv",
        [
            ["E-mail", "Cargo", "Nombre"],
            ["ANA@Example.COM", "New", "Ana"],
            ["new@example.com", "X", "New"],
            ["NEW@example.com", "Y", "New again"],
        ],
    )
    result = run(crm, path, on_duplicate=mode)
    assert result.created == 1
    crm.session.refresh(existing)
    if mode == "skip":
        assert (result.updated, result.skipped) == (0, 2)
        assert existing.title == "Old"
    else:
        assert (result.updated, result.skipped) == (2, 0)
        assert existing.title == "New" and existing.first_name == "Ana"
        new = crm.session.scalar(select(Contact).where(Contact.email == "new@example.com"))
        assert new.title == "Y"
    assert count(crm, Contact) == 2


def test_dry_run_writes_nothing(crm, tmp_path):
    before = {m: count(crm, m) for m in (Contact, Company, AuditEntry, ImportedRow, ImportJob)}
    path = write(
        tmp_path / "d.csv",
        [
            ["Nombre", "Correo", "Empresa"],
            ["Ana", "ana@example.com", "Acme"],
            ["Ana again", "ANA@example.com", "Acme"],
            ["Bad", "bad", ""],
        ],
    )
    result = run(crm, path, dry_run=True, batch_size=1)
    assert (result.created, result.skipped, result.rejected) == (1, 1, 1)
    assert {m: count(crm, m) for m in before} == before


def test_rerun_creates_nothing_for_every_entity(crm, tmp_path):
    rows = [
        ["Name", "City"],
        *([f"Company {i}", "Madrid"] for i in range(7)),
        ["Company 0", "Madrid"],
    ]  # an identical row is a row of its own
    path = write(tmp_path / "co.csv", rows)
    first = run(crm, path, entity="companies", batch_size=3)
    assert first.created == 8
    second = run(crm, path, entity="companies", batch_size=3)
    assert (second.created, second.skipped) == (0, 8)
    assert count(crm, Company) == 8
    resaved = write(tmp_path / "co2.csv", rows, encoding="cp1252", delimiter=";")
    assert run(crm, resaved, entity="companies").created == 0


def test_permissions_and_owner(crm, make_user, tmp_path):
    path = write(tmp_path / "p.csv", [["Nombre", "Correo"], ["Ana", "ana@example.com"]])
    rep = make_user("sales_rep")
    from crmcore.errors import PermissionDenied

    with pytest.raises(PermissionDenied, match=r"data\.import"):
        run(crm, path, access=Access.for_user(rep))
    manager = make_user("manager")
    assert run(crm, path, access=Access.for_user(manager)).created == 1
    assert crm.session.scalar(select(Contact.owner_id)) == manager.id


# bad files ------------------------------------------------------------------------------------

PNG = b"\x89PNG\r\n\x1a\n" + os.urandom(200)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (PNG, "PNG"),
        (b"PK\x03\x04" + os.urandom(100), "ZIP"),
        (b"\x00\x01\x02binary" * 50, "binary"),
        (b"", "empty"),
        (b"\xef\xbb\xbf\r\n\r\n  \n", "empty"),
        (b"ana@example.com,Ana,Madrid\nluis@example.com,Luis,Sevilla\n", "no recognisable header"),
        (b'Nombre,Correo\n"Ana,ana@example.com\n' + b"x" * 200_000, "not valid CSV"),
    ],
)
def test_unusable_files_write_nothing(crm, cli, tmp_path, content, message):
    path = tmp_path / "bad.csv"
    path.write_bytes(content)
    before = (count(crm, Contact), count(crm, ImportJob))
    with pytest.raises(ImportFileError, match=message):
        run(crm, path)
    result = cli("import", "contacts", str(path))
    assert result.exit_code == 1 and message in result.output
    assert result.output.count("Error") == 1
    assert (count(crm, Contact), count(crm, ImportJob)) == before


def test_file_over_the_limit(crm, cli, tmp_path, monkeypatch):
    path = write(
        tmp_path / "big.csv",
        [["Nombre", "Correo"]] + [[f"N{i}", f"n{i}@example.com"] for i in range(2000)],
    )
    monkeypatch.setenv("CRM_IMPORT_MAX_MB", "0.01")
    result = cli("import", "contacts", str(path))
    assert result.exit_code == 1 and "larger than the import limit" in result.output
    assert count(crm, Contact) == 0


# the command ----------------------------------------------------------------------------------


def test_cli_import_as_user_with_report(crm, cli, make_user, tmp_path):
    manager = make_user("manager")
    path = write(
        tmp_path / "c.csv",
        [
            ["Nombre", "Correo"],
            ["Ana", "ana@example.com"],
            ["Bad", "nope"],
            ["Eva", "eva@example.com"],
        ],
    )
    result = cli("import", "contacts", str(path), "--as", manager.email, "--batch-size", "1")
    assert result.exit_code == 0, result.output
    assert "created 2" in result.output and "rejected 1" in result.output
    assert "rows/s" in result.output and "Correo -> email" in result.output
    report = Path(result.output.split("rejected rows: ")[1].strip())
    assert report_rows(report)[1][:2] == ["3", "email: Not a valid e-mail address."]
    assert set(crm.session.scalars(select(Contact.owner_id))) == {manager.id}
    job = crm.session.scalar(select(ImportJob))
    assert (job.status, job.created, job.rejected, job.user_id) == ("done", 2, 1, manager.id)
    dry = cli("import", "contacts", str(path), "--dry-run")
    assert "dry run" in dry.output and count(crm, ImportJob) == 1


# kill -9 half-way, then again -----------------------------------------------------------------


def _crm_command() -> str:
    return str(Path(sys.executable).parent / "crm")


@pytest.fixture
def subprocess_database(crm_database_url):
    """A database of its own for a `crm` subprocess: a SQLite file or a new PostgreSQL db."""
    with empty_database(crm_database_url) as url:
        yield url


def test_killed_half_way_then_rerun_gives_exactly_the_file(subprocess_database, tmp_path):
    env = {
        **os.environ,
        "CRM_INSTANCE_PATH": str(tmp_path / "inst"),
        "CRM_DATABASE_URL": subprocess_database,
        "CRM_SECRET_KEY": "k" * 40,
    }
    subprocess.run([_crm_command(), "init"], env=env, check=True, capture_output=True)
    n = 3000
    rows = [["Name", "City", "Sector"]] + [[f"Firma {i}", "Madrid", f"S{i % 7}"] for i in range(n)]
    rows.append(["Firma 1", "Madrid", "S1"])  # a repeated row counts as a row
    path = write(tmp_path / "firms.csv", rows)
    engine = create_engine(subprocess_database)

    def imported() -> int:
        with engine.connect() as conn:
            return conn.scalar(text("SELECT count(*) FROM core_company"))

    proc = subprocess.Popen(
        [_crm_command(), "import", "companies", str(path), "--batch-size", "100"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 120
    while imported() < 100 and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.01)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    half = imported()
    assert 100 <= half < n + 1, half
    assert half % 100 == 0  # whole batches only
    done = subprocess.run(
        [_crm_command(), "import", "companies", str(path), "--batch-size", "100"],
        env=env,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
    assert f"created {n + 1 - half:,}" in done.stdout and f"skipped {half:,}" in done.stdout
    with engine.connect() as conn:
        assert conn.scalar(text("SELECT count(*) FROM core_company")) == n + 1
        assert conn.scalar(text("SELECT count(DISTINCT name) FROM core_company")) == n
        assert conn.scalar(text("SELECT count(*) FROM core_import_row")) == n + 1
        assert conn.scalar(text("SELECT count(*) FROM core_search_doc")) == n + 1
    again = subprocess.run(
        [_crm_command(), "import", "companies", str(path)], env=env, capture_output=True, text=True
    )
    assert f"created 0, updated 0, skipped {n + 1:,}" in again.stdout
    engine.dispose()


# the API --------------------------------------------------------------------------------------


def _upload(client, content: bytes, **form):
    data = {"entity": "contacts", "file": (io.BytesIO(content), "people.csv"), **form}
    return client.post("/api/v1/imports", data=data, content_type="multipart/form-data")


def test_api_import_runs_as_a_job(crm, api_as, make_user):
    client = api_as(make_user("manager"))
    before = crm.jobs.pending_count()
    r = _upload(client, b"Nombre,Correo\nAna,ana@example.com\n")
    assert r.status_code == 202
    assert r.get_json()["status"] == "queued"
    assert crm.jobs.pending_count() == before + 1
    assert crm.session.scalar(select(func.count()).select_from(Contact)) == 0


def test_api_import_end_to_end(crm, api_as, make_user, app, immediate_jobs):
    manager = make_user("manager")
    client = api_as(manager)
    content = (
        "Nombre;Correo;Teléfono\nAna;ana@example.com;+34 911 23 45 67\nBad;nope;\n"
        "Eva;eva@example.com;\n".encode("cp1252")
    )
    r = _upload(client, content)
    assert r.status_code == 202, r.get_json()
    body = r.get_json()
    assert (body["status"], body["total_rows"], body["created"], body["rejected"]) == (
        "done",
        3,
        2,
        1,
    )
    assert body["user_id"] == manager.id
    r = client.get(r.headers["Location"])
    assert r.status_code == 200 and r.get_json()["processed_rows"] == 3
    report = client.get(body["report_url"])
    assert report.status_code == 200 and report.mimetype == "text/csv"
    lines = report.get_data(as_text=True).lstrip("\ufeff").splitlines()
    assert lines[1].startswith("3,email: Not a valid e-mail address.")
    stored = Path(crm.session.get(ImportJob, body["id"]).path)
    assert stored.is_relative_to(crm.settings.instance_path)
    other = api_as(make_user("manager"))
    assert other.get(f"/api/v1/imports/{body['id']}").status_code == 404
    assert other.get(body["report_url"]).status_code == 404
    admin = api_as(make_user("admin"))
    assert admin.get(body["report_url"]).status_code == 200
    assert set(crm.session.scalars(select(Contact.owner_id))) == {manager.id}


def test_api_import_dry_run_and_failures(crm, api_as, make_user, immediate_jobs):
    manager = make_user("manager")
    client = api_as(manager)
    r = _upload(
        client,
        b"Nombre,Correo\nAna,ana@example.com\n",
        dry_run="true",
        on_duplicate="update",
        mapping='{"Nombre": "first_name", "Correo": "email"}',
    )
    assert r.status_code == 202 and r.get_json()["created"] == 1
    assert count(crm, Contact) == 0
    bad = _upload(client, PNG)
    assert bad.status_code == 202 and bad.get_json()["status"] == "failed"
    assert "PNG" in bad.get_json()["error"]
    assert _upload(client, b"a,b\n", on_duplicate="merge").status_code == 422
    assert _upload(client, b"a,b\n", entity="nothing").status_code == 404
    rep = api_as(make_user("sales_rep"))
    assert _upload(rep, b"Nombre,Correo\nAna,ana@example.com\n").status_code == 403


def test_the_command_batches_as_the_importer_does():
    """``crm import --batch-size`` defaults to the importer's own batch (written out in the
    command, which does not import the importer to print its help)."""
    from crmcore.cli.data import import_
    from crmcore.importing.engine import DEFAULT_BATCH

    option = next(p for p in import_.params if p.name == "batch_size")
    assert option.default == DEFAULT_BATCH


def test_an_import_refreshes_the_statistics_of_the_table_it_fills(crm, tmp_path):
    """PostgreSQL: the table is analysed after the first batch and each time the rows created
    double (the planner would otherwise take a fast-growing table for a few rows). SQLite:
    not at all."""
    from sqlalchemy import event

    path = write(
        tmp_path / "grow.csv",
        [["First name", "Last name", "E-mail"]]
        + [[f"Ana{i}", "Grow", f"grow{i}@example.com"] for i in range(35)],
    )
    statements: list[str] = []

    def seen(_conn, _cursor, statement, _params, _context, _many) -> None:
        if statement.startswith("ANALYZE"):
            statements.append(statement)

    event.listen(crm.engine, "before_cursor_execute", seen)
    try:
        result = run(crm, path, batch_size=10)
    finally:
        event.remove(crm.engine, "before_cursor_execute", seen)
    assert result.created == 35
    if crm.engine.dialect.name == "postgresql":
        assert statements == ["ANALYZE core_contact"] * 2  # after 10 rows, after 20 (not 40)
    else:
        assert statements == []


def test_bulk_transactions_on_postgresql_plan_each_statement_for_its_values(crm):
    """A statement the driver prepared keeps a generic plan, made while an import's table was
    small; the transactions of a bulk load plan each one for its values, the others do not."""
    from crmcore.db import bulk_load, create_engine_for

    if crm.engine.dialect.name != "postgresql":
        pytest.skip("PostgreSQL's plan cache")
    engine = create_engine_for(crm.engine.url.render_as_string(hide_password=False))

    def mode() -> str:
        with engine.begin() as conn:
            return str(conn.exec_driver_sql("SHOW plan_cache_mode").scalar())

    try:
        assert mode() == "auto"
        with bulk_load(engine):
            assert mode() == mode() == "force_custom_plan"
        assert mode() == "auto"
    finally:
        engine.dispose()
