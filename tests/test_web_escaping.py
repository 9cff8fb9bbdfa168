"""Data shown through ``_()`` in templates is text, never HTML (issue 17, finding 7): role titles,
custom-field choices in error messages, import errors naming the file's columns. Each page is
rendered with a hostile value that would redirect the browser to another site if it were not
escaped."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from crmcore.importing import run_import
from crmcore.importing.models import ImportJob

META = '<meta http-equiv="refresh" content="0;url=https://evil.example">'
SCRIPT = "<script>alert(1)</script>"


def csrf_of(html: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert found, "no CSRF token in the page"
    return found.group(1)


def assert_escaped(html: str, *values: str) -> None:
    """None of ``values`` appears as markup; each appears escaped."""
    assert "evil.example" in html or not any("evil" in v for v in values)
    for value in values:
        assert value not in html
        assert str(escape_html(value)) in html
    assert not re.search(r"<meta[^>]+refresh", html, re.IGNORECASE)
    assert "<script>alert" not in html


def escape_html(value: str) -> str:
    from markupsafe import escape

    return str(escape(value))


@pytest.fixture
def hostile_role(records: Any) -> Any:
    return records.create(
        "roles",
        {"name": "hostile", "title": META + SCRIPT, "grants": {"contacts": {"read": "own"}}},
    )


def test_role_titles_are_text(web: Any, hostile_role: Any, make_user: Any) -> None:
    make_user("hostile")
    for url in ("/admin/roles", f"/admin/roles/{hostile_role.id}", "/admin/users"):
        response = web.get(url)
        assert response.status_code == 200, url
        assert_escaped(response.get_data(as_text=True), META, SCRIPT)


def test_role_title_with_a_percent_sign_renders(web: Any, records: Any) -> None:
    role = records.create("roles", {"name": "half", "title": "50% off %(x)s %s"})
    html = web.get(f"/admin/roles/{role.id}").get_data(as_text=True)
    assert "50% off %(x)s %s" in html


def test_custom_field_choices_in_errors_are_text(web: Any, records: Any) -> None:
    records.create(
        "custom_fields",
        {"entity": "contacts", "name": "tier", "label": "Tier", "type": "choice",
         "choices": [META, SCRIPT]},
    )  # fmt: skip
    token = csrf_of(web.get("/contacts/new").get_data(as_text=True))
    response = web.post(
        "/contacts/new",
        data={"csrf_token": token, "first_name": "Cf", "custom.tier": "bronze"},
    )
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert "Must be one of:" in html
    assert_escaped(html, META, SCRIPT)


def test_import_errors_naming_columns_are_text(
    web: Any, app: Any, crm: Any, admin: Any, tmp_path: Path
) -> None:
    # a mapping (as ``crm import --mapping`` takes) naming a column the file lacks: the job's
    # error repeats the column's name, and the progress page shows it
    csv = tmp_path / "people.csv"
    csv.write_text("first_name,last_name\nAna,Ruiz\n", encoding="utf-8")
    job = ImportJob(
        entity="contacts",
        status="queued",
        path=str(csv),
        user_id=admin.id,
        filename="people.csv",
        options={"mapping": {META + SCRIPT: "email"}, "on_duplicate": "skip"},
    )
    crm.session.add(job)
    crm.session.commit()
    run_import(app, job.id)
    crm.session.expire_all()
    assert job.status == "failed" and META in (job.error or "")
    response = web.get(f"/import/{job.id}")
    assert response.status_code == 200
    assert_escaped(response.get_data(as_text=True), META, SCRIPT)


def test_import_mapping_errors_naming_columns_are_text(web: Any) -> None:
    token = csrf_of(web.get("/import").get_data(as_text=True))
    upload = web.post(
        "/import",
        data={
            "csrf_token": token,
            "entity": "contacts",
            "on_duplicate": "skip",
            "file": (__import__("io").BytesIO(f"{META},x\n1,2\n".encode()), "hostile.csv"),
        },
        content_type="multipart/form-data",
    )
    assert upload.status_code == 303, upload.get_data(as_text=True)[:500]
    mapping_url = upload.headers["Location"]
    page = web.get(mapping_url)
    assert_escaped(page.get_data(as_text=True), META)
    answer = web.post(mapping_url, data={"csrf_token": csrf_of(page.get_data(as_text=True))})
    assert answer.status_code == 422
    assert_escaped(answer.get_data(as_text=True), META)


def test_literal_translations_are_text_too(web: Any) -> None:
    # the hint names a placeholder in angle brackets; it must read as text, not as a tag
    html = web.get("/account/tokens").get_data(as_text=True)
    assert "Authorization: Bearer &lt;token&gt;" in html


def test_spanish_translations_with_placeholders_escape_the_values(
    web: Any, records: Any, admin: Any, crm: Any
) -> None:
    admin.locale = "es"
    crm.session.commit()
    role = records.create("roles", {"name": "hostile_es", "title": SCRIPT})
    html = web.get(f"/admin/roles/{role.id}").get_data(as_text=True)
    assert 'lang="es"' in html
    assert_escaped(html, SCRIPT)


@pytest.mark.crm_plugins("marketing")
def test_template_errors_quoting_the_template_are_text(web: Any) -> None:
    # a template that fails on the sample contact: the error quotes the offending key
    body = "{{ {}['" + META + "'].x }}"
    token = csrf_of(web.get("/email_templates/new").get_data(as_text=True))
    response = web.post(
        "/email_templates/new",
        data={"csrf_token": token, "name": "Hostile", "subject": "Hi", "body_html": body},
    )
    assert response.status_code == 422, response.status_code
    html = response.get_data(as_text=True)
    assert "evil.example" in html
    assert_escaped(html, META)
