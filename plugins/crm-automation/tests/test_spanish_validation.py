"""A rule saved with bad input is refused in the reader's language: the builder page for a
Spanish user, the API for ``Accept-Language: es`` - for each action kind's typical mistake,
the trigger kinds and the conditions, not only the "Action N (kind)" prefix."""

from __future__ import annotations

import re
from typing import Any

import pytest

pytestmark = pytest.mark.crm_plugins("automation", "autotest")

ES = {"Accept-Language": "es-ES,es;q=0.9"}

#: builder slot settings of a bad action -> the Spanish message it gets (after the prefix)
BAD_ACTIONS = [
    ({"type": "update_fields", "field": "nope", "value": "x"},
     "Acción 1 (update_fields): no hay ningún campo 'nope' en contacts que actualizar."),
    ({"type": "add_tags", "tags": " , "},
     "Acción 1 (add_tags): indique de 1 a 20 etiquetas de 1 a 50 caracteres."),
    ({"type": "remove_tags", "tags": ""},
     "Acción 1 (remove_tags): indique de 1 a 20 etiquetas de 1 a 50 caracteres."),
    ({"type": "create_task", "title": ""}, "Acción 1 (create_task): la tarea necesita un título."),
    ({"type": "create_task", "title": "Llamar {{ record.email"},
     "Acción 1 (create_task), título: la plantilla no compila:"),
    ({"type": "assign_owner", "mode": "fixed"},
     "Acción 1 (assign_owner): elija el usuario al que asignar."),
    ({"type": "assign_owner", "mode": "round_robin"},
     "Acción 1 (assign_owner): elija el equipo entre cuyos miembros asignar."),
    ({"type": "notify", "title": "Hola"}, "Acción 1 (notify): elija a quién notificar."),
    ({"type": "send_email", "to": "record", "title": ""},
     "Acción 1 (send_email): el correo necesita un asunto."),
    ({"type": "send_email", "to": "nadie", "title": "Hola"},
     "Acción 1 (send_email): to es record, record_owner, rule_owner o una dirección de correo."),
    ({"type": "run_action", "action": "nope"},
     "Acción 1 (run_action): no hay ninguna acción 'nope' en contacts; use una de:"),
    ({"type": "wait", "days": "0", "hours": "0"},
     "Acción 1 (wait): espere de un minuto a 365 días."),
    ({"type": "add_to_static_list", "segment": "1"},
     "Acción 1: 'add_to_static_list' necesita el plugin marketing, que no está activado."),
]  # fmt: skip

#: the same mistakes as the API takes them -> the Spanish message
BAD_API_ACTIONS = [
    ({"type": "update_fields", "values": {"nope": 1}},
     "Acción 1 (update_fields): no hay ningún campo 'nope' en contacts que actualizar."),
    ({"type": "update_fields", "values": {}},
     "Acción 1 (update_fields): indique al menos un campo y su nuevo valor."),
    ({"type": "add_tags", "tags": []},
     "Acción 1 (add_tags): indique de 1 a 20 etiquetas de 1 a 50 caracteres."),
    ({"type": "create_task", "title": "x", "priority": "urgent"},
     "Acción 1 (create_task): priority es low, normal o high."),
    ({"type": "create_task", "title": "x", "due_in_days": -1},
     "Acción 1 (create_task): due_in_days es un número entero de días de 0 a 3650."),
    ({"type": "assign_owner", "mode": "random"},
     "Acción 1 (assign_owner): mode es fixed, round_robin o least_loaded."),
    ({"type": "notify", "users": [987654], "title": "x"},
     "Acción 1 (notify): no existe el usuario n.º 987654."),
    ({"type": "notify", "rule_owner": True, "title": ""},
     "Acción 1 (notify): la notificación necesita un título."),
    ({"type": "notify", "rule_owner": True, "title": "x", "body": 5},
     "Acción 1 (notify), cuerpo: debe ser texto."),
    ({"type": "send_email", "subject": "{% if %}"},
     "Acción 1 (send_email), asunto: la plantilla no compila:"),
    ({"type": "run_action", "action": "nope"},
     "Acción 1 (run_action): no hay ninguna acción 'nope' en contacts; use una de:"),
    ({"type": "wait", "days": "2"}, "Acción 1 (wait): days es un número entero desde 0."),
    ({"type": "teleport"}, "Acción 1: acción desconocida 'teleport'; use una de:"),
]  # fmt: skip

#: a rule's other parts as the API takes them -> (field, the Spanish message)
BAD_PARTS = [
    ({"trigger": {"type": "field_changed", "field": "nope"}},
     "trigger", "No hay ningún campo 'nope' en contacts que vigilar."),
    ({"trigger": {"type": "action", "action": "nope"}},
     "trigger", "No hay ninguna acción 'nope' en contacts; use una de:"),
    ({"trigger": {"type": "date", "field": "email"}},
     "trigger", "No hay ningún campo de fecha 'email' en contacts."),
    ({"trigger": {"type": "schedule", "time": "25:00"}},
     "trigger", "time es HH:MM, de 00:00 a 23:59."),
    ({"trigger": {"type": "teleport"}},
     "trigger", "Disparador desconocido 'teleport'; use uno de:"),
    ({"trigger": {}}, "trigger", 'Elija un disparador: {"type": "created"} ...'),
    ({"conditions": "limit=5"}, "conditions",
     "'limit' no es una condición: indique un campo que comparar."),
    ({"actions": []}, "actions", "Añada al menos una acción."),
    ({"entity": "workflow"}, "entity", "Una regla no puede dispararse con reglas."),
    ({"exit_conditions": "last_name=x"}, "exit_conditions",
     "Las condiciones de salida son para secuencias."),
]  # fmt: skip


def _form(token: str, slot: dict[str, str]) -> dict[str, str]:
    data = {"csrf_token": token, "name": "Mala regla", "entity": "contact", "active": "on",
            "trigger_type": "created", "slots": "3"}  # fmt: skip
    data.update({f"act-0-{name}": value for name, value in slot.items()})
    return data


def _unescape(html: str) -> str:
    return html.replace("&#39;", "'").replace("&#34;", '"').replace("&quot;", '"')


@pytest.mark.parametrize(("slot", "spanish"), BAD_ACTIONS, ids=lambda v: str(v)[:40])
def test_the_builder_refuses_each_bad_action_in_spanish(web_as, make_user, slot, spanish):
    web = web_as(make_user("admin", locale="es"))
    page = web.get("/automation/rules/new").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    refused = web.post("/automation/rules/new", data=_form(token, slot))
    body = _unescape(refused.get_data(as_text=True))
    assert refused.status_code == 422
    assert spanish in body, re.findall(r"Acci[oó]n 1[^<]*", body)


def test_the_english_builder_keeps_english(web_as, make_user):
    web = web_as(make_user("admin", locale="en"))
    page = web.get("/automation/rules/new").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    refused = web.post("/automation/rules/new",
                       data=_form(token, {"type": "create_task", "title": ""}))  # fmt: skip
    assert refused.status_code == 422
    assert "Action 1 (create_task): the task needs a title." in refused.get_data(as_text=True)


def _rule(**changes: Any) -> dict[str, Any]:
    return {"name": "Mala regla", "entity": "contacts", "trigger": {"type": "created"},
            "actions": [{"type": "add_tags", "tags": ["vip"]}], **changes}  # fmt: skip


@pytest.mark.parametrize(("action", "spanish"), BAD_API_ACTIONS, ids=lambda v: str(v)[:40])
def test_the_api_refuses_each_bad_action_in_spanish(api, action, spanish):
    r = api.post("/api/v1/workflows", json=_rule(actions=[action]), headers=ES)
    assert r.status_code == 422, r.get_json()
    messages = r.get_json()["errors"]["actions"]
    assert any(m.startswith(spanish) for m in messages), messages


@pytest.mark.parametrize(("changes", "field", "spanish"), BAD_PARTS, ids=lambda v: str(v)[:40])
def test_the_api_refuses_bad_triggers_conditions_and_parts_in_spanish(
    api, changes, field, spanish
):
    r = api.post("/api/v1/workflows", json=_rule(**changes), headers=ES)
    assert r.status_code == 422, r.get_json()
    messages = r.get_json()["errors"][field]
    assert any(m.startswith(spanish) for m in messages), messages
    english = api.post("/api/v1/workflows", json=_rule(**changes)).get_json()["errors"][field]
    assert not any(m.startswith(spanish) for m in english), english


@pytest.mark.crm_plugins("automation", "marketing")
def test_static_list_mistakes_in_spanish(api, records):
    dynamic = records.create("segments", {"name": "Activos", "kind": "dynamic",
                                          "query": "last_name=x"})  # fmt: skip
    cases = [
        ({"type": "add_to_static_list"},
         "Acción 1 (add_to_static_list): elija la lista estática (segment_id) a la que añadir "
         "el contacto."),
        ({"type": "add_to_static_list", "segment_id": dynamic.id},
         "Acción 1 (add_to_static_list): el segmento 'Activos' es dinámico, no una lista "
         "estática."),
    ]  # fmt: skip
    for action, spanish in cases:
        r = api.post("/api/v1/workflows", json=_rule(actions=[action]), headers=ES)
        assert r.status_code == 422, r.get_json()
        assert r.get_json()["errors"]["actions"] == [spanish]
