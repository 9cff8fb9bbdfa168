"""Messages follow the reader's language: API problems by Accept-Language, pages by the user's
locale - permission and not-found messages, field errors, choices, timeline lines."""

from __future__ import annotations

from typing import Any

ES = {"Accept-Language": "es-ES,es;q=0.9"}


def test_api_problem_follows_accept_language(api_as: Any, make_user: Any) -> None:
    rep = make_user("sales_rep")
    api = api_as(rep)
    english = api.post("/api/v1/roles", json={"name": "x", "title": "X"})
    assert english.status_code == 403
    assert english.get_json()["detail"] == "You may not create roles."
    spanish = api.post("/api/v1/roles", json={"name": "x", "title": "X"}, headers=ES)
    body = spanish.get_json()
    assert spanish.status_code == 403
    assert body["title"] == "Prohibido", body
    assert body["detail"] == "No puedes crear roles."


def test_api_not_found_and_field_errors_in_spanish(api: Any) -> None:
    missing = api.get("/api/v1/contacts/987654", headers=ES).get_json()
    assert missing["detail"] == "No hay contacto con id 987654."
    invalid = api.post("/api/v1/contacts", json={"email": "nope"}, headers=ES).get_json()
    assert invalid["title"] == "Validación fallida"
    assert invalid["errors"]["email"] == ["No es un correo electrónico válido."]
    # field names stay the API's names; an unknown language falls back to English
    german = api.get("/api/v1/contacts/987654", headers={"Accept-Language": "de"}).get_json()
    assert german["detail"] == "No contact with id 987654."


def test_api_ignores_the_users_page_language(api_as: Any, make_user: Any) -> None:
    """A script's answers do not change language because its user reads pages in Spanish."""
    api = api_as(make_user("admin", locale="es"))
    assert api.get("/api/v1/contacts/987654").get_json()["detail"] == "No contact with id 987654."


def test_pages_translate_choices_and_timeline_lines(web_as: Any, make_user: Any, crm: Any) -> None:
    user = make_user("admin", locale="es")
    records = crm.records()
    company = records.create("companies", {"name": "Acme"})
    task = records.create("tasks", {"title": "Llamar", "status": "open"})
    contact = records.create("contacts", {"last_name": "Núñez", "title": "CEO"})
    records.update("contacts", contact, {"company_id": company.id, "title": "CTO"})
    web = web_as(user)
    html = web.get(f"/contacts/{contact.id}").get_data(as_text=True)
    assert "Modificado: Empresa, Cargo" in html
    assert "changed company_id" not in html and "Cambio:" not in html
    assert "<dt>Cargo</dt>" in html  # a contact's title is a job title
    task_html = web.get(f"/tasks/{task.id}").get_data(as_text=True)
    assert "<dt>Título</dt>" in task_html  # a task's title is not
    assert "Abierto" in task_html and ">open<" not in task_html
    form = web.get(f"/tasks/{task.id}/edit").get_data(as_text=True)
    assert '<option value="open" selected>Abierto</option>' in form or (
        'value="open"' in form and ">Abierto<" in form
    )
