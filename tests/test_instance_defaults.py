"""Instance defaults (country, phone region, currency, language, time zone, public address) in
the settings, and the links of mail sent outside any request: ``CRM_BASE_URL``, else the
setting, else the address ``crm serve`` listens on."""

from __future__ import annotations

import datetime as dt
from email import message_from_bytes, policy
from pathlib import Path

import pytest
from ops_support import free_port, make_instance, stop_process, wait_for
from test_web import post

from crmcore import settings as instance
from crmcore.api.settings import load_changes, save_settings
from crmcore.errors import ValidationError
from crmcore.importing import ImportOptions, import_file
from crmcore.jobs.reminders import deliver_task_reminders
from crmcore.permissions import Access

__all__ = ["make_instance"]  # the fixture, imported for pytest

NOW = dt.datetime.now(dt.UTC)


def _outbox(crm, email):
    folder = Path(crm.settings.instance_path) / "outbox"
    found = []
    for path in sorted(folder.glob("*.eml")) if folder.exists() else []:
        message = message_from_bytes(path.read_bytes(), policy=policy.default)
        if message["To"] == email:
            found.append(message)
    return found


def _due_task(records, user):
    return records.create(
        "tasks",
        {
            "title": "Call Ana back",
            "assignee_id": user.id,
            "reminder_at": (NOW - dt.timedelta(minutes=5)).isoformat(),
        },
    )


@pytest.fixture
def unconfigured(crm):
    """No ``CRM_BASE_URL`` / ``CRM_DEFAULT_REGION`` and no noted listen address for the test."""
    saved = crm.settings.base_url, crm.settings.default_region, getattr(crm, "listen_url", None)
    crm.settings.base_url = ""
    crm.settings.default_region = ""
    crm.listen_url = None
    listen_file = Path(crm.settings.instance_path) / instance.LISTEN_FILE
    listen_file.unlink(missing_ok=True)
    instance.forget_settings()
    yield crm
    crm.settings.base_url, crm.settings.default_region, crm.listen_url = saved
    listen_file.unlink(missing_ok=True)
    instance.forget_settings()


def _set(crm, **values):
    save_settings(crm.session, load_changes(values), None)


# settings ---------------------------------------------------------------------------------------


def test_settings_api_reads_and_checks_the_new_defaults(unconfigured, api):
    answer = api.get("/api/v1/settings").json
    assert answer["default_country"] == "" and answer["phone_region"] == ""
    assert answer["language"] == "" and answer["base_url"] == ""
    for bad in (
        {"base_url": "ftp://crm.example.com"},
        {"base_url": "javascript:alert(1)"},
        {"base_url": "https://crm.example.com/?next=evil"},
        {"base_url": "https://user:pw@crm.example.com"},
        {"base_url": "https://"},
        {"phone_region": "XX"},
        {"default_country": "Spain"},
        {"language": "fr"},
    ):
        response = api.patch("/api/v1/settings", json=bad)
        assert response.status_code == 422, bad
        assert response.headers["Content-Type"].startswith("application/problem+json")
        assert list(bad) == list(response.json["errors"]), response.json
    changed = api.patch(
        "/api/v1/settings",
        json={
            "default_country": "es",
            "phone_region": "",
            "language": "es",
            "base_url": " https://crm.example.es/ ",
        },
    )
    assert changed.status_code == 200, changed.json
    assert changed.json["default_country"] == "ES"
    assert changed.json["base_url"] == "https://crm.example.es"
    assert instance.base_url() == "https://crm.example.es"
    assert instance.phone_region() == "ES"  # from the country, no region of its own
    assert instance.language() == "es" and instance.default_currency() == "EUR"


def test_settings_page_has_the_defaults(unconfigured, web):
    page = web.get("/admin/settings").get_data(as_text=True)
    for name in ("default_country", "phone_region", "language", "base_url"):
        assert f'name="{name}"' in page
    response = post(
        web,
        "/admin/settings",
        {
            "default_currency": "EUR",
            "time_zone": "Europe/Madrid",
            "phone_region": "ES",
            "base_url": "not a url",
        },
    )
    assert response.status_code == 422
    assert "Not a valid address" in response.get_data(as_text=True)
    assert instance.phone_region() == "US"  # nothing was saved
    response = post(
        web,
        "/admin/settings",
        {
            "default_currency": "EUR",
            "time_zone": "Europe/Madrid",
            "phone_region": "ES",
            "base_url": "https://crm.example.es",
        },
    )
    assert response.status_code == 303
    assert instance.phone_region() == "ES"
    assert instance.base_url() == "https://crm.example.es"


# phone numbers ----------------------------------------------------------------------------------


def test_spanish_numbers_follow_the_phone_region(unconfigured, records):
    with pytest.raises(ValidationError) as refused:
        records.create("contacts", {"first_name": "Ana", "phone": "600 111 222"})
    assert "phone" in refused.value.messages
    _set(unconfigured, phone_region="ES")
    ana = records.create("contacts", {"first_name": "Ana", "phone": "600 111 222"})
    assert ana.phone == "+34600111222"
    # a number with its prefix keeps its own country
    bob = records.create("contacts", {"first_name": "Bob", "phone": "+1 212 555 0100"})
    assert bob.phone == "+12125550100"


def test_default_country_is_the_phone_region_unless_one_is_set(unconfigured, records):
    _set(unconfigured, default_country="ES")
    assert records.create("contacts", {"first_name": "A", "phone": "911 234 567"}).phone == (
        "+34911234567"
    )
    _set(unconfigured, phone_region="GB")
    assert instance.phone_region() == "GB"
    # the server's CRM_DEFAULT_REGION wins over both
    unconfigured.settings.default_region = "us"
    assert instance.phone_region() == "US"


def test_import_reads_numbers_in_the_phone_region(unconfigured, tmp_path):
    source = tmp_path / "people.csv"
    source.write_text("First name,Phone\nAna,600 111 222\n", encoding="utf-8")
    report = import_file(
        unconfigured, Access.system(), source, ImportOptions(entity="contacts", dry_run=True)
    )
    assert report.rejected == 1  # a US number needs ten digits
    _set(unconfigured, phone_region="ES")
    report = import_file(
        unconfigured, Access.system(), source, ImportOptions(entity="contacts", dry_run=True)
    )
    assert report.rejected == 0 and report.created == 1


def test_contact_form_accepts_a_local_number(unconfigured, web, crm):
    from crmcore.contacts.models import Contact

    form = {"first_name": "Ana", "phone": "600 111 222"}
    response = post(web, "/contacts/new", form)
    assert response.status_code == 422
    assert "Not a valid phone number." in response.get_data(as_text=True)
    _set(crm, phone_region="ES")
    response = post(web, "/contacts/new", form)
    assert response.status_code == 303
    contact = crm.session.get(Contact, int(response.headers["Location"].rsplit("/", 1)[1]))
    assert contact.phone == "+34600111222"


# links in mail sent by jobs ---------------------------------------------------------------------


def _reminder_link(app, crm, records, user):
    task = _due_task(records, user)
    assert deliver_task_reminders(app) == 1
    [mail] = _outbox(crm, user.email)
    [line] = [li for li in mail.get_content().splitlines() if f"/tasks/{task.id}" in li]
    return line.split(": ", 1)[1]


def test_reminder_links_from_each_source(app, unconfigured, records, make_user):
    crm = unconfigured
    # nothing configured: crm serve's default address
    assert instance.base_url() == instance.SERVE_DEFAULT_URL
    # the address crm serve noted, as a worker process of the instance reads it
    instance.note_listen_url(crm, instance.listen_url_of("127.0.0.1", 5123))
    crm.listen_url = None  # another process: only the file in the instance folder
    ana = make_user(email="ana@example.com")
    assert _reminder_link(app, crm, records, ana).startswith("http://127.0.0.1:5123/tasks/")
    # the setting wins over the listen address
    _set(crm, base_url="https://crm.example.es/crm")
    bea = make_user(email="bea@example.com")
    assert _reminder_link(app, crm, records, bea).startswith("https://crm.example.es/crm/tasks/")
    # CRM_BASE_URL wins over the setting
    crm.settings.base_url = "https://env.example.com/"
    cai = make_user(email="cai@example.com")
    assert _reminder_link(app, crm, records, cai).startswith("https://env.example.com/tasks/")


def test_invitation_sent_by_a_job_uses_the_setting(app, unconfigured, make_user, immediate_jobs):
    from crmcore.web.account import send_reset_mail

    _set(unconfigured, base_url="https://crm.example.es")
    user = make_user(email="newcomer@example.com")
    with app.test_request_context("/"):  # url_for needs one; the host must not leak in
        send_reset_mail(user, "tok" * 10)
    [mail] = _outbox(unconfigured, user.email)
    assert "https://crm.example.es/password/reset/" in mail.get_content()
    assert "localhost" not in mail.get_content()


def test_listen_address_of_wildcard_hosts():
    assert instance.listen_url_of("127.0.0.1", 8080) == "http://127.0.0.1:8080"
    assert instance.listen_url_of("::1", 8080) == "http://[::1]:8080"
    wildcard = instance.listen_url_of("0.0.0.0", 8080)
    assert wildcard.endswith(":8080") and "0.0.0.0" not in wildcard


def test_crm_serve_on_another_port_sends_working_links(make_instance):
    """What ``PORT=5123 scripts/run`` does: no CRM_BASE_URL, no setting; the reminder that the
    embedded job consumer sends links to the port the CRM is served on."""
    import urllib.request

    from crmcore.instance import create_user

    inst = make_instance()
    with inst.app.app_context():
        user = create_user(inst.crm, "dora@example.com", "Correct-horse-battery-9", "sales_rep")
        task = _due_task(inst.crm.records(), user)
    port = free_port()
    server = inst.popen("serve", "--port", str(port), "--workers", "1")
    try:
        wait_for(lambda: len(_outbox(inst.crm, "dora@example.com")) == 1, timeout=60)
        [mail] = _outbox(inst.crm, "dora@example.com")
        link = f"http://127.0.0.1:{port}/tasks/{task.id}"
        assert link in mail.get_content()
        # the link answers: the sign-in page, which then leads back to the task
        with urllib.request.urlopen(link, timeout=10) as response:
            assert response.status == 200 and "/login" in response.url
    finally:
        stop_process(server)
    assert (inst.path / instance.LISTEN_FILE).read_text().strip() == f"http://127.0.0.1:{port}"


def test_new_contact_form_presets_the_default_country(unconfigured, web):
    from test_web import field_value

    assert field_value(web.get("/contacts/new").get_data(as_text=True), "country") == ""
    _set(unconfigured, default_country="ES")
    html = web.get("/contacts/new").get_data(as_text=True)
    assert field_value(html, "country") == "ES"


def test_default_language_for_people_without_one(unconfigured, app):
    visitor = app.test_client()
    english = visitor.get("/login", headers={"Accept-Language": "en"}).get_data(as_text=True)
    assert 'lang="en"' in english
    _set(unconfigured, language="es")
    spanish = visitor.get("/login", headers={"Accept-Language": "en"}).get_data(as_text=True)
    assert 'lang="es"' in spanish and "Contraseña" in spanish
