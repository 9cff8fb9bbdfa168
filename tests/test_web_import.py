"""The import wizard: upload, column mapping with preview, the queued job, progress, report."""

from __future__ import annotations

import io
import re
from html import unescape

from sqlalchemy import select
from test_web import XSS, csrf_of, page, sign_in

from crmcore.importing import ImportJob

CSV = (
    "Nombre,Apellidos,Correo,Shoe size\r\n"
    "Ana,Alonso,ana@example.com,38\r\n"
    "Bea,Blanco,not-an-address,40\r\n"
    f"Cruz,{XSS},cruz@example.com,41\r\n"
).encode()


def signed_in(app, user):
    client = app.test_client()
    sign_in(client, user)
    return client


def upload(client, data: bytes = CSV, entity: str = "contacts", name: str = "people.csv"):
    token = csrf_of(page(client, "/import"))
    return client.post(
        "/import",
        data={
            "csrf_token": token,
            "entity": entity,
            "on_duplicate": "skip",
            "file": (io.BytesIO(data), name),
        },
        content_type="multipart/form-data",
    )


def selected_targets(html: str) -> list[str]:
    out = []
    for select_html in re.findall(r'<select id="map-\d+".*?</select>', html, re.S):
        found = re.search(r'<option value="([^"]*)" selected>', select_html)
        out.append(found.group(1) if found else "")
    return out


def test_wizard_end_to_end(app, make_user, immediate_jobs, crm, records):
    user = make_user("manager")
    client = signed_in(app, user)
    response = upload(client)
    assert response.status_code == 303, response.get_data(as_text=True)
    mapping_url = response.headers["Location"]
    html = page(client, mapping_url)
    # auto-mapped by the core's header matching; the unknown column is left out
    assert selected_targets(html) == ["first_name", "last_name", "email", ""]
    assert "3 rows" in html and "Alonso" in html and "not-an-address" in html  # the preview
    assert XSS not in html and "&lt;script&gt;" in html

    # the user maps the shoe size to the description instead of ignoring it
    response = client.post(
        mapping_url,
        data={
            "csrf_token": csrf_of(html),
            "map-0": "first_name",
            "map-1": "last_name",
            "map-2": "email",
            "map-3": "description",
        },
    )
    assert response.status_code == 303
    progress_url = response.headers["Location"]
    job = crm.session.scalar(select(ImportJob).order_by(ImportJob.id.desc()))
    assert progress_url == f"/import/{job.id}"
    crm.session.refresh(job)
    assert job.status == "done" and job.user_id == user.id
    assert (job.created, job.rejected) == (2, 1)
    assert job.options["mapping"]["Shoe size"] == "description"

    html = page(client, progress_url)
    assert "Finished." in html and 'value="100"' in html
    assert f'href="/import/{job.id}/report"' in html
    fragment = client.get(progress_url, headers={"HX-Request": "true"}).get_data(as_text=True)
    assert "<html" not in fragment and "Finished." in fragment
    assert "hx-trigger" not in fragment  # finished: polling stops

    report = client.get(f"/import/{job.id}/report")
    assert report.status_code == 200 and report.mimetype == "text/csv"
    text = report.get_data(as_text=True)
    assert "not-an-address" in text and "Alonso" not in text

    names = {
        c.last_name: c for c in records.session.scalars(select(records.entity("contacts").model))
    }
    assert names["Alonso"].description == "38" and names["Alonso"].owner_id == user.id
    assert XSS in names
    # the imported name is shown escaped on the list
    html = page(client, "/contacts?view=none")
    assert XSS not in html and "Alonso" in html


def test_progress_fragment_polls_while_running(app, make_user, crm):
    user = make_user("manager")
    client = signed_in(app, user)
    job = ImportJob(
        entity="contact",
        status="running",
        filename="big.csv",
        user_id=user.id,
        total_rows=200,
        processed_rows=50,
    )
    crm.session.add(job)
    crm.session.commit()
    response = client.get(f"/import/{job.id}", headers={"HX-Request": "true"})
    html = response.get_data(as_text=True)
    assert response.status_code == 200 and "<html" not in html
    assert 'hx-trigger="every 1s"' in html and 'value="25"' in html and "50 of 200 rows" in html


def test_wizard_needs_data_import(app, make_user, crm):
    client = signed_in(app, make_user("sales_rep"))
    assert client.get("/import").status_code == 403
    html = page(client, "/contacts")
    token = csrf_of(html)
    response = client.post(
        "/import",
        data={"csrf_token": token, "entity": "contacts", "file": (io.BytesIO(CSV), "a.csv")},
        content_type="multipart/form-data",
    )
    assert response.status_code == 403
    assert crm.session.scalar(select(ImportJob)) is None


def test_upload_needs_csrf(app, make_user):
    client = signed_in(app, make_user("manager"))
    response = client.post(
        "/import",
        data={"entity": "contacts", "file": (io.BytesIO(CSV), "a.csv")},
        content_type="multipart/form-data",
    )
    assert response.status_code == 400


def test_bad_files_are_refused_with_a_reason(app, make_user):
    client = signed_in(app, make_user("manager"))
    response = upload(client, b"\x89PNG\r\n\x1a\nbinary", name="photo.csv")
    assert response.status_code == 422
    assert "PNG" in unescape(response.get_data(as_text=True))
    response = upload(client, CSV, entity="users")
    assert response.status_code == 422


def test_others_cannot_see_an_import_or_its_upload(app, make_user, immediate_jobs, crm):
    owner = signed_in(app, make_user("manager"))
    mapping_url = upload(owner).headers["Location"]
    stranger = signed_in(app, make_user("manager"))
    assert stranger.get(mapping_url).status_code == 404
    html = page(owner, mapping_url)
    owner.post(
        mapping_url,
        data={
            "csrf_token": csrf_of(html),
            "map-0": "first_name",
            "map-1": "last_name",
            "map-2": "email",
        },
    )
    job = crm.session.scalar(select(ImportJob).order_by(ImportJob.id.desc()))
    assert stranger.get(f"/import/{job.id}").status_code == 404
    assert stranger.get(f"/import/{job.id}/report").status_code == 404
    # the upload is used once
    assert owner.get(mapping_url).status_code == 404


def test_a_mapping_without_any_field_is_refused(app, make_user, crm):
    client = signed_in(app, make_user("manager"))
    mapping_url = upload(client).headers["Location"]
    html = page(client, mapping_url)
    response = client.post(mapping_url, data={"csrf_token": csrf_of(html)})
    assert response.status_code == 422
    assert "no recognisable header" in response.get_data(as_text=True)
    assert crm.session.scalar(select(ImportJob)) is None
