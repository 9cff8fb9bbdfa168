"""What plugins contribute to the interface, for the signed-in user: menu, dashboard, panels."""

from __future__ import annotations

from typing import Any

from flask import g
from flask_smorest import Blueprint
from marshmallow import Schema, fields

from ..app import current_crm
from ..errors import NotFound
from ..menu import menu_entries
from .resources import ERROR_RESPONSES


class MenuEntry(Schema):
    label = fields.String()
    url = fields.String()
    icon = fields.String(allow_none=True)
    plugin = fields.String()
    group = fields.String(
        allow_none=True, metadata={"description": "Heading it is listed under; null: the top row"}
    )


class WidgetData(Schema):
    name = fields.String()
    title = fields.String()
    plugin = fields.String()
    data = fields.Dict()


class PanelData(Schema):
    name = fields.String()
    title = fields.String()
    plugin = fields.String()
    html = fields.String(metadata={"description": "Markup the plugin made safe"})


def _allowed(permission: str | None) -> bool:
    return permission is None or g.crm_access.has(permission)


def make_blueprint() -> Blueprint:
    blp = Blueprint("api_meta", __name__, url_prefix="/api/v1", description="Interface")

    @blp.route("/menu")
    @blp.doc(summary="Navigation entries you may see", responses=ERROR_RESPONSES)
    @blp.response(200, MenuEntry(many=True))
    def menu() -> Any:
        return [
            {"label": e.label, "url": e.url, "icon": e.icon, "plugin": e.plugin, "group": e.group}
            for e in menu_entries(current_crm(), g.crm_access)
        ]

    @blp.route("/dashboard")
    @blp.doc(
        summary="Dashboard widgets with their data, in your permission scope",
        responses=ERROR_RESPONSES,
    )
    @blp.response(200, WidgetData(many=True))
    def dashboard() -> Any:
        crm = current_crm()
        widgets = [
            (p, w) for p, w in crm.collect("crm_dashboard_widgets") if _allowed(w.permission)
        ]
        widgets.sort(key=lambda pair: (pair[1].order, pair[1].name))
        return [
            {
                "name": w.name,
                "title": w.title,
                "plugin": p,
                "data": dict(w.render(g.crm_user, crm.records(g.crm_access))),
            }
            for p, w in widgets
        ]

    @blp.route("/<plural>/<int:record_id>/panels")
    @blp.doc(summary="Panels plugins add to a record's page", responses=ERROR_RESPONSES)
    @blp.response(200, PanelData(many=True))
    def panels(plural: str, record_id: int) -> Any:
        crm = current_crm()
        service = crm.records(g.crm_access)
        entity = service.entity(plural)
        if entity.plural != plural:
            raise NotFound("No such collection.")
        record = service.get(entity, record_id)
        out = []
        found = [
            (p, panel)
            for p, panel in crm.collect("crm_record_panels")
            if panel.entity in (entity.name, entity.plural) and _allowed(panel.permission)
        ]
        for plugin, panel in sorted(found, key=lambda pair: (pair[1].order, pair[1].name)):
            html = panel.render(record, g.crm_user, service)
            if html is not None:
                out.append(
                    {"name": panel.name, "title": panel.title, "plugin": plugin, "html": str(html)}
                )
        return out

    return blp
