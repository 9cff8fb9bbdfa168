"""File attachments: stored safely, downloaded as files, scoped like their records."""

from __future__ import annotations

import hashlib
import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from crmcore.activities.models import Attachment

CONTENT = b"quarterly plan\n"


def upload(api: Any, url: str, content: bytes, filename: str, **kw: Any) -> Any:
    return api.post(
        url,
        data={"file": (io.BytesIO(content), filename)},
        content_type="multipart/form-data",
        **kw,
    )


def stored_files(crm: Any) -> set[Path]:
    root: Path = crm.settings.attachments_path
    return {p for p in root.rglob("*") if p.is_file()} if root.exists() else set()


@pytest.fixture
def contact(make_contact: Any) -> Any:
    return make_contact(last_name="Filer")


@pytest.fixture
def url(contact: Any) -> str:
    return f"/api/v1/contacts/{contact.id}/attachments"


def test_upload_and_download(api: Any, crm: Any, url: str, session: Any) -> None:
    r = upload(api, url, CONTENT, "plan.txt")
    assert r.status_code == 201, r.get_json()
    body = r.get_json()
    assert body["filename"] == "plan.txt" and body["size"] == len(CONTENT)
    assert body["sha256"] == hashlib.sha256(CONTENT).hexdigest()
    assert "stored_name" not in body
    r = api.get(f"/api/v1/attachments/{body['id']}/content")
    assert r.status_code == 200
    assert r.data == CONTENT
    disposition = r.headers["Content-Disposition"]
    assert disposition.startswith("attachment;") and "inline" not in disposition
    assert "plan.txt" in disposition
    assert r.headers["X-Content-Type-Options"] == "nosniff"
    assert r.headers["Content-Type"] == "application/octet-stream"
    assert "sandbox" in r.headers["Content-Security-Policy"]


def test_file_is_stored_under_the_instance_with_a_server_name(
    api: Any, crm: Any, url: str, session: Any
) -> None:
    before = stored_files(crm)
    r = upload(api, url, CONTENT, "../../etc/passwd.txt")
    assert r.status_code == 201, r.get_json()
    assert r.get_json()["filename"] == "passwd.txt"
    new = stored_files(crm) - before
    assert len(new) == 1
    path = new.pop()
    root = crm.settings.attachments_path.resolve()
    assert path.resolve().is_relative_to(root)
    assert root.is_relative_to(Path(crm.settings.instance_path).resolve())
    assert "passwd" not in str(path) and ".." not in path.name and "." not in path.name
    assert path.read_bytes() == CONTENT
    row = session.get(Attachment, r.get_json()["id"])
    assert row.stored_name == path.name and len(row.stored_name) >= 32


def raw_upload(api: Any, url: str, disposition: str) -> Any:
    """A multipart body written by hand, with the file part's Content-Disposition as given."""
    body = (
        b'--XyZ\r\nContent-Disposition: form-data; name="file"; '
        + disposition.encode()
        + b"\r\nContent-Type: text/plain\r\n\r\n"
        + CONTENT
        + b"\r\n--XyZ--\r\n"
    )
    return api.post(url, data=body, content_type="multipart/form-data; boundary=XyZ")


@pytest.mark.parametrize(
    "disposition, shown",
    [
        ('filename="..\\\\..\\\\windows\\\\win.ini.txt"', "win.ini.txt"),
        ('filename="/abs/path/../x.txt"', "x.txt"),
        ('filename="a\\"b<c>d|e.txt"', "abcde.txt"),
        ("filename*=UTF-8''report%0D%0ASet-Cookie%3A%20x%3D1.txt", "reportSet-Cookie x=1.txt"),
        ("filename*=UTF-8''r%C3%A9sum%C3%A9%00.pdf", "résumé.pdf"),
        ("filename*=UTF-8''..%2F..%2F..%2Fetc%2Fpasswd.txt", "passwd.txt"),
    ],
)
def test_hostile_filenames_are_cleaned(
    api: Any, crm: Any, url: str, disposition: str, shown: str
) -> None:
    before = stored_files(crm)
    r = raw_upload(api, url, disposition)
    assert r.status_code == 201, r.get_json()
    assert r.get_json()["filename"] == shown
    (path,) = stored_files(crm) - before
    assert path.resolve().is_relative_to(crm.settings.attachments_path.resolve())
    d = api.get(f"/api/v1/attachments/{r.get_json()['id']}/content")
    assert d.status_code == 200
    assert (
        "\r" not in d.headers["Content-Disposition"]
        and "\n" not in d.headers["Content-Disposition"]
    )
    assert "Set-Cookie" not in d.headers


@pytest.mark.parametrize(
    "filename",
    [
        "<script>.html",
        "evil.exe",
        "logo.svg",
        "page.HTM",
        "x.html.",
        "run.sh",
        "noextension",
        "a.php",
        "b.js",
        "c.xhtml",
        ".htaccess",
    ],
)
def test_disallowed_types_are_refused(api: Any, crm: Any, url: str, filename: str) -> None:
    before = stored_files(crm)
    r = upload(api, url, b"<script>alert(1)</script>", filename)
    assert r.status_code == 415, (filename, r.get_json())
    assert r.headers["Content-Type"].startswith("application/problem+json")
    assert stored_files(crm) == before


def test_empty_file_is_refused(api: Any, crm: Any, url: str) -> None:
    before = stored_files(crm)
    r = upload(api, url, b"", "empty.txt")
    assert r.status_code == 422 and "file" in r.get_json()["errors"]
    assert stored_files(crm) == before


def test_missing_file_field(api: Any, url: str) -> None:
    r = api.post(
        url, data={"other": (io.BytesIO(CONTENT), "a.txt")}, content_type="multipart/form-data"
    )
    assert r.status_code == 422 and "file" in r.get_json()["errors"]
    r = api.post(url, json={"file": "not a file"})
    assert r.status_code in (415, 422)


@pytest.fixture
def small_limit(app: Any) -> Iterator[int]:
    old = app.config["MAX_CONTENT_LENGTH"]
    app.config["MAX_CONTENT_LENGTH"] = 2048
    try:
        yield 2048
    finally:
        app.config["MAX_CONTENT_LENGTH"] = old


def test_too_large_is_refused(api: Any, crm: Any, url: str, small_limit: int) -> None:
    before = stored_files(crm)
    r = upload(api, url, b"x" * (small_limit * 2), "big.txt")
    assert r.status_code == 413
    assert r.headers["Content-Type"].startswith("application/problem+json")
    assert r.get_json()["status"] == 413
    assert stored_files(crm) == before
    assert upload(api, url, b"x" * 100, "small.txt").status_code == 201


def test_upload_to_unknown_record_or_collection(api: Any, crm: Any) -> None:
    before = stored_files(crm)
    assert upload(api, "/api/v1/contacts/999999/attachments", CONTENT, "a.txt").status_code == 404
    assert upload(api, "/api/v1/nothing/1/attachments", CONTENT, "a.txt").status_code == 404
    assert stored_files(crm) == before


def test_attachments_cannot_be_created_or_edited_as_json(api: Any, url: str, contact: Any) -> None:
    r = api.post(
        "/api/v1/attachments",
        json={
            "record_type": "contact",
            "record_id": contact.id,
            "stored_name": "../../../etc/passwd",
        },
    )
    assert r.status_code in (404, 405)
    attachment_id = upload(api, url, CONTENT, "a.txt").get_json()["id"]
    for body in (
        {"stored_name": "../../../etc/passwd"},
        {"filename": "x.html"},
        {"size": 1},
        {"sha256": "0" * 64},
    ):
        r = api.patch(f"/api/v1/attachments/{attachment_id}", json=body)
        assert r.status_code == 422, body
    d = api.get(f"/api/v1/attachments/{attachment_id}/content")
    assert d.data == CONTENT


def test_sales_rep_cannot_download_anothers_attachment(
    api_as: Any, make_user: Any, make_contact: Any, crm: Any
) -> None:
    a, b = make_user("sales_rep"), make_user("sales_rep")
    theirs = make_contact(last_name="Theirs", owner_id=b.id)
    b_api, a_api = api_as(b), api_as(a)
    r = upload(b_api, f"/api/v1/contacts/{theirs.id}/attachments", CONTENT, "secret.txt")
    assert r.status_code == 201, r.get_json()
    attachment_id = r.get_json()["id"]
    assert b_api.get(f"/api/v1/attachments/{attachment_id}/content").data == CONTENT
    r = a_api.get(f"/api/v1/attachments/{attachment_id}/content")
    assert r.status_code == 404 and CONTENT not in r.data
    missing = a_api.get("/api/v1/attachments/99999999/content")
    assert r.get_json()["title"] == missing.get_json()["title"]
    assert a_api.get(f"/api/v1/attachments/{attachment_id}").status_code == 404
    assert a_api.delete(f"/api/v1/attachments/{attachment_id}").status_code == 404
    before = stored_files(crm)
    r = upload(a_api, f"/api/v1/contacts/{theirs.id}/attachments", CONTENT, "planted.txt")
    assert r.status_code == 404
    assert stored_files(crm) == before


def test_attachment_on_record_trashed_with_it(api: Any, url: str, contact: Any) -> None:
    attachment_id = upload(api, url, CONTENT, "a.txt").get_json()["id"]
    assert api.delete(f"/api/v1/attachments/{attachment_id}").status_code == 204
    assert api.get(f"/api/v1/attachments/{attachment_id}/content").status_code == 404


def test_attachments_appear_in_the_timeline(api: Any, url: str, contact: Any) -> None:
    r = upload(api, url, CONTENT, "minutes.pdf")
    attachment_id = r.get_json()["id"]
    items = api.get(f"/api/v1/contacts/{contact.id}/timeline").get_json()["data"]
    found = [i for i in items if i["kind"] == "attachment"]
    assert [(i["id"], i["summary"]) for i in found] == [(attachment_id, "minutes.pdf")]
    assert "stored_name" not in str(found)
    listed = api.get(f"/api/v1/attachments?record_type=contact&record_id={contact.id}")
    assert [row["id"] for row in listed.get_json()["data"]] == [attachment_id]


def test_missing_file_in_storage(api: Any, crm: Any, url: str, session: Any) -> None:
    attachment_id = upload(api, url, CONTENT, "a.txt").get_json()["id"]
    row = session.scalar(select(Attachment).where(Attachment.id == attachment_id))
    path = crm.settings.attachments_path / row.stored_name[:2] / row.stored_name
    path.unlink()
    r = api.get(f"/api/v1/attachments/{attachment_id}/content")
    assert r.status_code == 410
