"""The web pages through the Flask test client: sign-in, security, generic record pages."""

from __future__ import annotations

import re
from html import unescape

import pytest

from crmcore.testing.plugin import PASSWORD
from crmcore.web.security import PAGE_CSP, cookie_config, safe_next

XSS = "<script>alert(1)</script>"


def csrf_of(html: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert found, "no CSRF token in the page"
    return found.group(1)


def page(client, url: str, status: int = 200) -> str:
    response = client.get(url)
    assert response.status_code == status, (url, response.status_code)
    return response.get_data(as_text=True)


def post(client, url: str, data: dict | None = None, from_page: str | None = None, **kw):
    """POST a form the way a browser does: with the CSRF token of the page it came from."""
    token = csrf_of(page(client, from_page or url))
    return client.post(url, data={"csrf_token": token, **(data or {})}, **kw)


def sign_in(client, user, password: str = PASSWORD, **extra):
    response = post(client, "/login", {"email": user.email, "password": password, **extra})
    assert response.status_code == 303, response.get_data(as_text=True)
    return response


@pytest.fixture
def admin_client(app, admin):
    client = app.test_client()
    sign_in(client, admin)
    return client


def field_value(html: str, name: str) -> str:
    found = re.search(rf'name="{re.escape(name)}"[^>]*value="([^"]*)"', html)
    assert found, name
    return unescape(found.group(1))


# signing in ---------------------------------------------------------------------------------------


def test_pages_need_a_signed_in_user(client):
    response = client.get("/contacts?city=Madrid")
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/login?next=")
    assert response.headers["Location"] == "/login?next=/contacts?city%3DMadrid"


def test_sign_in_and_out(client, make_user):
    user = make_user("sales_rep", name="Rita Rep")
    response = sign_in(client, user)
    assert response.headers["Location"] == "/"
    home = page(client, "/")
    assert "Rita Rep" in home
    response = post(client, "/logout", from_page="/")
    assert response.status_code == 303
    assert client.get("/").status_code == 302


def test_wrong_and_unknown_get_the_same_answer(client, make_user):
    user = make_user()
    wrong = post(client, "/login", {"email": user.email, "password": "nope-nope-nope"})
    unknown = post(client, "/login", {"email": "nobody@example.com", "password": "nope-nope-nope"})
    assert wrong.status_code == unknown.status_code == 401
    message = "Wrong e-mail or password."
    assert message in wrong.get_data(as_text=True)
    assert message in unknown.get_data(as_text=True)
    assert client.get("/").status_code == 302


def test_forms_without_csrf_token_are_refused(client, make_user):
    user = make_user()
    response = client.post("/login", data={"email": user.email, "password": PASSWORD})
    assert response.status_code == 400
    assert "text/html" in response.content_type
    sign_in(client, user)
    response = client.post("/contacts/new", data={"first_name": "No", "last_name": "Token"})
    assert response.status_code == 400
    response = client.post("/contacts/new", data={"first_name": "No", "csrf_token": "forged"})
    assert response.status_code == 400


def test_api_needs_no_csrf_token(api):
    response = api.post("/api/v1/contacts", json={"first_name": "Api", "last_name": "Call"})
    assert response.status_code == 201


def test_login_is_rate_limited_per_account(app, make_user):
    user = make_user()
    client = app.test_client()
    statuses = [
        post(
            client,
            "/login",
            {"email": user.email, "password": "wrong-wrong-wrong"},
            environ_base={"REMOTE_ADDR": f"10.0.0.{n}"},
        ).status_code
        for n in range(11)
    ]
    assert statuses[:10] == [401] * 10
    assert statuses[10] == 429
    # even the right password waits now: the account is under attack
    response = post(
        client,
        "/login",
        {"email": user.email, "password": PASSWORD},
        environ_base={"REMOTE_ADDR": "10.0.0.99"},
    )
    assert response.status_code == 429
    assert "text/html" in response.content_type


def test_login_is_rate_limited_per_address(app, make_user):
    client = app.test_client()
    statuses = [
        post(
            client, "/login", {"email": f"x{n}@example.com", "password": "wrong-pass-1"}
        ).status_code
        for n in range(11)
    ]
    assert statuses[-1] == 429
    assert statuses[:10] == [401] * 10


def test_successful_logins_do_not_use_up_the_limit(app, make_user):
    user = make_user()
    client = app.test_client()
    for _ in range(12):
        sign_in(client, user)
        post(client, "/logout", from_page="/")


@pytest.mark.parametrize(
    "target",
    [
        "//evil.com",
        "https://evil.com",
        "/\\evil.com",
        "\\\\evil.com",
        "http:/evil.com",
        "javascript:alert(1)",
        "/%0d%0aLocation:%20https://evil.com",
        " //evil.com",
    ],
)
def test_next_only_goes_to_local_paths(client, make_user, target):
    user = make_user()
    token = csrf_of(page(client, "/login"))
    response = client.post(
        "/login",
        data={"csrf_token": token, "email": user.email, "password": PASSWORD, "next": target},
    )
    assert response.status_code == 303
    location = response.headers["Location"]
    assert location in ("/", target) and not location.startswith(("//", "/\\", "http"))
    assert "evil.com" not in location or location.startswith("/%0d")


def test_next_to_a_local_page_is_followed(client, make_user):
    user = make_user()
    token = csrf_of(page(client, "/login?next=/contacts%3Fq%3Dx"))
    response = client.post(
        "/login?next=/contacts%3Fq%3Dx",
        data={"csrf_token": token, "email": user.email, "password": PASSWORD},
    )
    assert response.headers["Location"] == "/contacts?q=x"


@pytest.mark.parametrize(
    "target,expected",
    [
        ("/contacts/1", "/contacts/1"),
        ("//evil.com", "/"),
        ("/\\evil.com", "/"),
        ("https://evil.com/", "/"),
        ("", "/"),
        ("contacts", "/"),
        ("/\tevil", "/"),
    ],
)
def test_safe_next(target, expected):
    assert safe_next(target) == expected


def test_session_cookie_flags_and_rotation(client, make_user):
    user = make_user()
    token_before = csrf_of(page(client, "/login"))
    with client.session_transaction() as before:
        before["planted"] = "by an attacker"
        raw_before = before["csrf_token"]
    response = sign_in(client, user, remember="1")
    cookies = response.headers.getlist("Set-Cookie")
    session_cookie = next(c for c in cookies if c.startswith("crm_session="))
    remember_cookie = next(c for c in cookies if c.startswith("crm_remember="))
    for cookie in (session_cookie, remember_cookie):
        assert "HttpOnly" in cookie
        assert "SameSite=Lax" in cookie
        assert "Secure" not in cookie  # served on http in tests
    with client.session_transaction() as after:
        assert "planted" not in after
        assert after.get("csrf_token") != raw_before
    assert csrf_of(page(client, "/")) != token_before


def test_cookies_are_secure_behind_https():
    assert cookie_config("https://crm.example.com")["SESSION_COOKIE_SECURE"] is True
    assert cookie_config("https://crm.example.com")["REMEMBER_COOKIE_SECURE"] is True
    assert cookie_config("http://127.0.0.1:5000")["SESSION_COOKIE_SECURE"] is False


def test_remember_me_survives_the_session(app, make_user):
    user = make_user()
    client = app.test_client()
    sign_in(client, user, remember="1")
    client.delete_cookie("crm_session")
    assert client.get("/").status_code == 200
    other = app.test_client()
    sign_in(other, user)
    other.delete_cookie("crm_session")
    assert other.get("/").status_code == 302


def test_security_headers_on_pages(client, admin_client):
    for response in (
        client.get("/login"),
        admin_client.get("/contacts"),
        admin_client.get("/no-such-page"),
    ):
        csp = response.headers["Content-Security-Policy"]
        assert csp == PAGE_CSP
        assert "script-src 'self'" in csp and "unsafe-inline" not in csp
        assert "frame-ancestors 'none'" in csp
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        assert response.headers["Referrer-Policy"] == "same-origin"
    html = page(admin_client, "/contacts")
    assert "<script>" not in html and " style=" not in html and "<style" not in html
    assert re.search(r" on[a-z]+=", html) is None


def test_errors_outside_the_api_are_pages(admin_client, api):
    response = admin_client.get("/no-such-things")
    assert response.status_code == 404
    assert response.content_type.startswith("text/html")
    response = api.get("/api/v1/no-such-things")
    assert response.status_code == 404
    assert response.content_type == "application/problem+json"


def test_change_password(client, make_user):
    user = make_user()
    sign_in(client, user)
    other = client.application.test_client()
    sign_in(other, user)
    bad = post(
        client,
        "/account/password",
        {"current_password": "wrong-password-1", "new_password": "x", "confirm_password": "x"},
    )
    assert bad.status_code == 422
    assert "This is not your current password." in bad.get_data(as_text=True)
    short = post(
        client,
        "/account/password",
        {"current_password": PASSWORD, "new_password": "short", "confirm_password": "short"},
    )
    assert "Use at least 12 characters." in short.get_data(as_text=True)
    new = "A-new-and-long-passphrase-7"
    ok = post(
        client,
        "/account/password",
        {"current_password": PASSWORD, "new_password": new, "confirm_password": new},
    )
    assert ok.status_code == 303
    assert client.get("/").status_code == 200  # this session goes on
    assert other.get("/").status_code == 302  # every other session ended
    post(client, "/logout", from_page="/")
    sign_in(client, user, password=new)


def test_personal_tokens(client, make_user):
    user = make_user()
    sign_in(client, user)
    response = post(client, "/account/tokens", {"name": "my script", "expires_days": "30"})
    assert response.status_code == 201
    secret = re.search(r'value="(crm_[^"]+)"', response.get_data(as_text=True)).group(1)
    api = client.application.test_client()
    assert api.get("/api/v1/me", headers={"Authorization": f"Bearer {secret}"}).status_code == 200
    listing = page(client, "/account/tokens")
    assert "my script" in listing and secret not in listing
    token_id = re.search(r"/account/tokens/(\d+)/revoke", listing).group(1)
    revoked = post(client, f"/account/tokens/{token_id}/revoke", from_page="/account/tokens")
    assert revoked.status_code == 303
    assert api.get("/api/v1/me", headers={"Authorization": f"Bearer {secret}"}).status_code == 401


def test_language_switch_is_stored_on_the_user(client, make_user, crm):
    user = make_user()
    sign_in(client, user)
    response = post(client, "/language", {"locale": "es", "next": "/contacts"}, from_page="/")
    assert response.headers["Location"] == "/contacts"
    crm.session.refresh(user)
    assert user.locale == "es"
    html = page(client, "/contacts")
    assert 'lang="es"' in html and "Contactos" in html and "Buscar" in html


# record pages -------------------------------------------------------------------------------------


def test_navigation_follows_permissions(admin_client, app, make_user):
    html = page(admin_client, "/")
    assert 'href="/contacts"' in html and 'href="/companies"' in html
    nobody = make_user(None)
    client = app.test_client()
    sign_in(client, nobody)
    html = page(client, "/")
    assert 'href="/contacts"' not in html
    assert client.get("/contacts").status_code == 403


def test_list_sort_filter_and_paging(admin_client, make_contact):
    for n in range(30):
        make_contact(
            first_name=f"Ana{n:02d}", last_name="Lopez", city="Madrid" if n % 2 else "Lima"
        )
    html = page(admin_client, "/contacts?sort=first_name&limit=10")
    names = re.findall(r">(Ana\d\d)<", html)
    assert names == [f"Ana{n:02d}" for n in range(10)]
    next_url = unescape(re.search(r'href="(\?[^"]*cursor=[^"]+)" rel="next"', html).group(1))
    html = page(admin_client, "/contacts" + next_url)
    assert re.findall(r">(Ana\d\d)<", html)[0] == "Ana10"
    html = page(admin_client, "/contacts?city=Madrid&sort=-first_name")
    names = re.findall(r">(Ana\d\d)<", html)
    assert names[0] == "Ana29" and all(int(n[3:]) % 2 for n in names)
    assert 'aria-sort="descending"' in html
    html = page(admin_client, "/contacts?nonsense=1", status=400)
    assert "Cannot filter by" in html


def test_list_search_and_empty_state(admin_client, make_contact):
    html = page(admin_client, "/contacts")
    assert "No contacts yet." in html
    make_contact(first_name="Zebulon", last_name="Quist")
    make_contact(first_name="Other", last_name="Person")
    html = page(admin_client, "/contacts?q=zebul")
    assert "Zebulon" in html and "Other" not in html
    html = page(admin_client, "/contacts?q=nothingmatches")
    assert "No contacts match these filters." in html


def test_create_edit_delete_restore(admin_client, crm):
    form = page(admin_client, "/contacts/new")
    assert 'name="first_name"' in form and 'name="email"' in form and 'name="tags"' in form
    response = post(
        admin_client,
        "/contacts/new",
        {
            "first_name": "Carmen",
            "last_name": "Ruiz",
            "email": "carmen@example.com",
            "tags": "vip, madrid",
            "city": "Madrid",
        },
    )
    assert response.status_code == 303
    url = response.headers["Location"]
    record_id = int(url.rsplit("/", 1)[1])
    html = page(admin_client, url)
    assert "Carmen Ruiz" in html and "carmen@example.com" in html and "vip, madrid" in html
    edit = page(admin_client, f"{url}/edit")
    assert field_value(edit, "version") == "1"
    response = post(
        admin_client,
        f"{url}/edit",
        {
            "version": "1",
            "first_name": "Carmen",
            "last_name": "Ruiz Gil",
            "email": "carmen@example.com",
            "city": "Sevilla",
            "tags": "vip",
        },
    )
    assert response.status_code == 303
    html = page(admin_client, url)
    assert "Carmen Ruiz Gil" in html and "Sevilla" in html
    assert "Ruiz</del>" in html  # the history shows the change
    response = post(admin_client, f"{url}/delete", from_page=url)
    assert response.status_code == 303
    assert admin_client.get(url).status_code == 404
    trash = page(admin_client, "/contacts/trash")
    assert "Carmen" in trash
    response = post(admin_client, f"{url}/restore", from_page="/contacts/trash")
    assert response.status_code == 303
    assert crm.records().get("contacts", record_id).city == "Sevilla"


def test_bulk_delete(admin_client, make_contact, crm):
    a, b, c = make_contact(), make_contact(), make_contact()
    response = post(
        admin_client,
        "/contacts/bulk-delete",
        {"ids": [str(a.id), str(b.id)]},
        from_page="/contacts",
    )
    assert response.status_code == 303
    left = page(admin_client, "/contacts")
    assert f'/contacts/{c.id}"' in left and f'/contacts/{a.id}"' not in left
    assert f'/contacts/{b.id}"' not in left


def test_validation_message_for_a_bad_email(admin_client):
    response = post(admin_client, "/contacts/new", {"first_name": "Bad", "email": "not-an-email"})
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert "Not a valid e-mail address." in html
    assert 'id="f-email"' in html and 'aria-invalid="true" aria-describedby="f-email-error"' in html
    assert field_value(html, "first_name") == "Bad"  # what was typed is kept


def test_stale_edit_shows_a_conflict(admin_client, make_contact, crm):
    contact = make_contact(first_name="Old", city="Quito")
    url = f"/contacts/{contact.id}/edit"
    form = page(admin_client, url)
    version = field_value(form, "version")
    crm.records().update("contacts", contact.id, {"city": "Cuenca"})  # someone else saves
    token = csrf_of(form)
    response = admin_client.post(
        url,
        data={
            "csrf_token": token,
            "version": version,
            "first_name": "Old",
            "last_name": contact.last_name,
            "email": contact.email,
            "city": "Guayaquil",
        },
    )
    assert response.status_code == 409
    html = response.get_data(as_text=True)
    assert "Someone else changed this record" in html
    assert "Cuenca" in html and "Guayaquil" in html
    crm.session.expire_all()
    assert crm.records().get("contacts", contact.id).city == "Cuenca"  # not overwritten


def test_custom_fields_on_forms(admin_client, records, crm):
    records.create(
        "custom_fields",
        {
            "entity": "contacts",
            "name": "segment",
            "label": "Segment",
            "type": "choice",
            "choices": ["gold", "silver"],
        },
    )
    form = page(admin_client, "/contacts/new")
    assert 'name="custom.segment"' in form and '<option value="gold"' in form
    bad = post(admin_client, "/contacts/new", {"first_name": "Cf", "custom.segment": "bronze"})
    assert bad.status_code == 422 and "Must be one of: gold, silver." in bad.get_data(as_text=True)
    ok = post(admin_client, "/contacts/new", {"first_name": "Cf", "custom.segment": "gold"})
    assert ok.status_code == 303
    assert "gold" in page(admin_client, ok.headers["Location"])


def test_notes_on_the_timeline(admin_client, make_contact):
    contact = make_contact()
    url = f"/contacts/{contact.id}"
    response = post(
        admin_client, f"{url}/notes", {"body": "Called <b>her</b> today"}, from_page=url
    )
    assert response.status_code == 303
    html = page(admin_client, url)
    assert "Called &lt;b&gt;her&lt;/b&gt; today" in html
    response = post(admin_client, f"{url}/notes", {"body": ""}, from_page=url)
    assert response.status_code == 422


def test_sales_rep_sees_only_own_contacts(app, make_user, make_contact):
    rep1, rep2 = make_user("sales_rep"), make_user("sales_rep")
    mine = make_contact(first_name="Mine", last_name="Mio", owner_id=rep1.id)
    theirs = make_contact(first_name="Theirs", last_name="Suyo", owner_id=rep2.id)
    client = app.test_client()
    sign_in(client, rep1)
    html = page(client, "/contacts")
    assert "Mine" in html and "Theirs" not in html
    assert "Mine" in page(client, "/search?q=mio")
    assert "Theirs" not in page(client, "/search?q=suyo")
    assert client.get(f"/contacts/{theirs.id}").status_code == 404
    assert client.get(f"/contacts/{theirs.id}/edit").status_code == 404
    assert post(client, f"/contacts/{theirs.id}/delete", from_page="/contacts").status_code == 404
    assert client.get(f"/contacts/{mine.id}").status_code == 200


def test_stored_xss_is_escaped_everywhere(admin_client, make_contact):
    contact = make_contact(first_name=XSS, last_name="Xss", email="xss@example.com")
    for url in (
        "/contacts",
        f"/contacts/{contact.id}",
        "/search?q=xss",
        f"/contacts/{contact.id}/edit",
    ):
        html = page(admin_client, url)
        assert XSS not in html, url
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html, url
    response = admin_client.get("/search?q=xss", headers={"HX-Request": "true"})
    assert XSS not in response.get_data(as_text=True)
    assert "&lt;script&gt;" in response.get_data(as_text=True)


def test_instant_search_answers_a_fragment(admin_client, make_contact):
    make_contact(first_name="Instant", last_name="Hit")
    response = admin_client.get("/search?q=instant", headers={"HX-Request": "true"})
    html = response.get_data(as_text=True)
    assert "Instant Hit" in html and "<html" not in html


def test_unknown_and_singular_collections_are_404(admin_client):
    assert admin_client.get("/contact").status_code == 404
    assert admin_client.get("/nothing").status_code == 404
    assert admin_client.get("/contacts/999999").status_code == 404


def test_dashboard_lists_widgets(admin_client):
    html = page(admin_client, "/")
    assert "<h1>" in html


def test_a_tasks_linked_record_is_kept_hidden_not_typed(admin_client, make_contact):
    contact = make_contact(first_name="Linda")
    response = post(
        admin_client,
        f"/contacts/{contact.id}/tasks",
        {"title": "Ring Linda", "priority": "normal"},
        from_page=f"/contacts/{contact.id}",
    )
    assert response.status_code in (200, 303)
    listed = page(admin_client, "/tasks?q=Ring")
    task_id = re.search(r'href="/tasks/(\d+)"', listed).group(1)
    html = page(admin_client, f"/tasks/{task_id}/edit")
    assert 'type="hidden" name="record_id"' in html and 'id="f-record_id"' not in html
    assert 'type="hidden" name="record_type" value="contact"' in html
    form = {"title": "Ring Linda today", "record_type": "contact", "record_id": str(contact.id)}
    form |= {"status": "open", "priority": "high", "version": field_value(html, "version")}
    response = post(admin_client, f"/tasks/{task_id}/edit", form)
    assert response.status_code == 303
    assert "Ring Linda today" in page(admin_client, f"/contacts/{contact.id}")  # still linked
