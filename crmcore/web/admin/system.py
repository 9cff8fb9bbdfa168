"""Administration of plugins, custom field definitions and the instance settings."""

from __future__ import annotations

import zoneinfo
from typing import Any

from flask import Blueprint, Response, flash, g, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from ...api.settings import (
    WEEKDAYS,
    currency_codes,
    dump_settings,
    load_changes,
    save_settings,
)
from ...app import current_crm
from ...customfields import FIELD_TYPES, CustomField
from ...errors import CRMError, NotFound, ValidationError
from ...permissions import Access
from ...plugins import PluginError
from ...settings import base_url, get_settings, phone_region
from ..forms import field_errors
from ..i18n import LANGUAGES
from ..security import public
from . import require

#: Logos: raster images only (an SVG could carry script), recognised by their first bytes.
LOGO_TYPES = {
    b"\x89PNG\r\n\x1a\n": "image/png",
    b"\xff\xd8\xff": "image/jpeg",
    b"GIF87a": "image/gif",
    b"GIF89a": "image/gif",
}
LOGO_MAX_BYTES = 512 * 1024
WEEKDAY_NAMES = {
    "mon": _l("Monday"),
    "tue": _l("Tuesday"),
    "wed": _l("Wednesday"),
    "thu": _l("Thursday"),
    "fri": _l("Friday"),
    "sat": _l("Saturday"),
    "sun": _l("Sunday"),
}


def _errors_of(exc: CRMError) -> dict[str, list[str]]:
    if isinstance(exc, ValidationError):
        return field_errors(exc.messages)
    return {"_schema": [exc.detail]}


# plugins ----------------------------------------------------------------------------------------


def plugin_rows() -> list[dict[str, Any]]:
    """Every plugin this process loaded, with what is installed now: a version installed since
    (``installed``) or a plugin installed but not loaded needs a restart of the processes."""
    from ...plugin_index import installed_plugins

    crm = current_crm()
    enabled = crm.enabled_plugins()
    installed = installed_plugins()
    rows = []
    for plugin in crm.plugins:
        meta = plugin.meta
        state = "builtin" if meta.builtin else ("enabled" if plugin.name in enabled else "disabled")
        now = installed.get(plugin.name)
        rows.append(
            {
                "name": plugin.name,
                "title": meta.title,
                "version": meta.version,
                "installed": now if now and now != meta.version else None,
                "description": meta.description,
                "requires": list(meta.requires),
                "needed_by": [d for d in crm.plugins.dependents(plugin.name) if d in enabled],
                "state": state,
            }
        )
    known = {p.name for p in crm.plugins} | {bad.name for bad in crm.plugins.unavailable}
    for name in sorted(set(installed) - known):
        rows.append(
            {
                "name": name,
                "title": name,
                "version": installed[name],
                "installed": None,
                "description": "",
                "requires": [],
                "needed_by": [],
                "state": "restart",
            }
        )
    for bad in crm.plugins.unavailable:
        rows.append(
            {
                "name": bad.name,
                "title": bad.source,
                "version": "",
                "installed": None,
                "description": bad.error,
                "requires": [],
                "needed_by": [],
                "state": "broken",
            }
        )
    return rows


def add_plugin_routes(bp: Blueprint) -> None:
    @bp.route("/plugins")
    def plugins() -> Any:
        require("plugins")
        return render_template("web/admin/plugins.html", plugins=plugin_rows())

    @bp.route("/plugins/<name>/<any(enable, disable):action>", methods=["POST"])
    def plugin_action(name: str, action: str) -> Any:
        from ...instance import disable_plugin, enable_plugin

        require("plugins")
        crm = current_crm()
        try:
            if action == "enable":
                enable_plugin(crm, name)
            else:
                disable_plugin(crm, name)
        except PluginError as exc:
            crm.session.rollback()
            message = (
                _("%(name)s was not enabled: %(reason)s", name=name, reason=str(exc))
                if action == "enable"
                else _("%(name)s was not disabled: %(reason)s", name=name, reason=str(exc))
            )
            flash(message, "error")
            return render_template("web/admin/plugins.html", plugins=plugin_rows()), 409
        flash(
            _("%(name)s is enabled.", name=name)
            if action == "enable"
            else _("%(name)s is disabled; its data is kept.", name=name),
            "success",
        )
        return redirect(url_for("web_admin.plugins"), 303)


# custom fields ----------------------------------------------------------------------------------


def _field_entities() -> list[Any]:
    return [e for e in current_crm().entities() if e.has_custom_fields]


def _read_field_form(form: Any, creating: bool) -> dict[str, Any]:
    data: dict[str, Any] = {
        "label": str(form.get("label", "")).strip(),
        "required": form.get("required") is not None,
        "choices": [c.strip() for c in str(form.get("choices", "")).splitlines() if c.strip()],
    }
    position = str(form.get("position", "0")).strip() or "0"
    data["position"] = position
    if creating:
        data["entity"] = str(form.get("entity", ""))
        data["name"] = str(form.get("name", "")).strip()
        data["type"] = str(form.get("type", ""))
    return data


def _field_page(record: Any, values: dict[str, Any], errors: dict[str, list[str]]) -> Any:
    return render_template(
        "web/admin/field.html",
        record=record,
        values=values,
        errors=errors,
        entities=_field_entities(),
        types=FIELD_TYPES,
    ), (422 if errors else 200)


def add_field_routes(bp: Blueprint) -> None:
    @bp.route("/fields")
    def fields() -> Any:
        require("fields")
        records = current_crm().records(g.crm_access)
        rows = list(
            records.session.scalars(
                records.query("custom_fields").order_by(
                    CustomField.entity, CustomField.position, CustomField.name
                )
            )
        )
        titles = {e.plural: e.title_plural for e in current_crm().entities()}
        return render_template("web/admin/fields.html", fields=rows, titles=titles)

    @bp.route("/fields/new", methods=["GET", "POST"])
    def new_field() -> Any:
        require("fields")
        if request.method == "GET":
            return _field_page(None, {"type": "text", "position": "0"}, {})
        records = current_crm().records(g.crm_access)
        data = _read_field_form(request.form, creating=True)
        try:
            record = records.create("custom_fields", data)
        except CRMError as exc:
            records.rollback()
            return _field_page(None, dict(request.form), _errors_of(exc))
        flash(_("The field %(label)s is added.", label=record.label), "success")
        return redirect(url_for("web_admin.fields"), 303)

    @bp.route("/fields/<int:field_id>", methods=["GET", "POST"])
    def field(field_id: int) -> Any:
        require("fields")
        records = current_crm().records(g.crm_access)
        record = records.get("custom_fields", field_id, "update")
        values = {
            "label": record.label,
            "required": record.required,
            "choices": "\n".join(record.choices or ()),
            "position": str(record.position),
        }
        if request.method == "GET":
            return _field_page(record, values, {})
        data = _read_field_form(request.form, creating=False)
        if record.type != "choice":
            data.pop("choices")
        try:
            records.update("custom_fields", record, data)
        except CRMError as exc:
            records.rollback()
            record = records.get("custom_fields", field_id, "update")
            return _field_page(record, dict(request.form), _errors_of(exc))
        flash(_("The field %(label)s is saved.", label=record.label), "success")
        return redirect(url_for("web_admin.fields"), 303)

    @bp.route("/fields/<int:field_id>/delete", methods=["POST"])
    def delete_field(field_id: int) -> Any:
        require("fields")
        records = current_crm().records(g.crm_access)
        record = records.delete("custom_fields", field_id)
        flash(
            _("The field %(label)s is deleted; stored values are kept.", label=record.label),
            "success",
        )
        return redirect(url_for("web_admin.fields"), 303)


# settings ---------------------------------------------------------------------------------------


def read_settings_form(form: Any) -> dict[str, Any]:
    """The settings form as the API's JSON shape, validated afterwards by ``load_changes``."""
    hours: dict[str, list[str]] = {}
    for day in WEEKDAYS:
        if form.get(f"open.{day}") is not None:
            hours[day] = [str(form.get(f"from.{day}", "")), str(form.get(f"to.{day}", ""))]
    holidays = []
    for line in str(form.get("holidays", "")).splitlines():
        date, _sep, name = line.strip().partition(" ")
        if date:
            holidays.append({"date": date, "name": name.strip()})
    values: dict[str, Any] = {
        "company_name": str(form.get("company_name", "")).strip(),
        "default_currency": str(form.get("default_currency", "")).strip().upper(),
        "default_country": str(form.get("default_country", "")).strip().upper(),
        "phone_region": str(form.get("phone_region", "")).strip().upper(),
        "language": str(form.get("language", "")).strip(),
        "time_zone": str(form.get("time_zone", "")).strip(),
        "base_url": str(form.get("base_url", "")).strip(),
        "working_hours": hours,
        "holidays": holidays,
        "require_totp_for_admins": form.get("require_totp_for_admins") is not None,
    }
    retention = str(form.get("trash_retention_days", "")).strip()
    if retention:  # left blank: unchanged
        values["trash_retention_days"] = _whole_number(retention)
    return values


def _whole_number(raw: Any) -> Any:
    """A whole number typed in a form; anything else as typed, for the schema to refuse."""
    text = str(raw or "").strip()
    return int(text) if text.isdigit() and len(text) < 10 else text


def country_names() -> list[tuple[str, str]]:
    """(code, name in the reader's language) of every country phone numbers know, by name."""
    import phonenumbers
    from babel import Locale
    from flask_babel import get_locale

    names = (get_locale() or Locale("en")).territories
    codes = phonenumbers.SUPPORTED_REGIONS - {"001"}
    return sorted(((c, str(names.get(c, c))) for c in codes), key=lambda pair: pair[1])


def _settings_page(values: dict[str, Any], errors: dict[str, list[str]]) -> Any:
    if isinstance(values.get("holidays"), list):
        values = {
            **values,
            "holidays": "\n".join(
                f"{h['date']} {h.get('name', '')}".strip() for h in values["holidays"]
            ),
        }
    return render_template(
        "web/admin/settings.html",
        values=values,
        errors=errors,
        weekdays=[(d, str(WEEKDAY_NAMES[d])) for d in WEEKDAYS],
        currencies=sorted(currency_codes()),
        countries=country_names(),
        languages=LANGUAGES,
        effective={
            "phone_region": phone_region(),
            "base_url": base_url(),
            "region_forced": bool(current_crm().settings.default_region),
            "base_url_forced": bool(current_crm().settings.base_url),
        },
        time_zones=sorted(zoneinfo.available_timezones()),
    ), (422 if errors else 200)


def _logo_type(head: bytes) -> str | None:
    return next((t for magic, t in LOGO_TYPES.items() if head.startswith(magic)), None) or (
        "image/webp" if head[:4] == b"RIFF" and head[8:12] == b"WEBP" else None
    )


def add_settings_routes(bp: Blueprint) -> None:
    @bp.route("/settings", methods=["GET", "POST"])
    def settings() -> Any:
        require("settings")
        session = current_crm().session
        if request.method == "GET":
            return _settings_page(dump_settings(session), {})
        submitted = read_settings_form(request.form)
        try:
            changes = load_changes(submitted)
        except ValidationError as exc:
            return _settings_page(submitted, field_errors(exc.messages))
        save_settings(session, changes, g.crm_user.id)
        flash(_("The settings are saved."), "success")
        return redirect(url_for("web_admin.settings"), 303)

    @bp.route("/settings/logo", methods=["POST"])
    def upload_logo() -> Any:
        from io import BytesIO

        from werkzeug.datastructures import FileStorage

        from ...api.attachments import store

        require("settings")
        crm = current_crm()
        session = crm.session
        if request.form.get("remove"):
            save_settings(session, {"logo_attachment_id": None}, g.crm_user.id)
            flash(_("The logo is removed."), "success")
            return redirect(url_for("web_admin.settings"), 303)
        upload = request.files.get("logo")
        content = upload.stream.read(LOGO_MAX_BYTES + 1) if upload else b""
        kind = _logo_type(content[:16])
        error = None
        if not content:
            error = _("Choose an image file.")
        elif len(content) > LOGO_MAX_BYTES:
            error = _("The logo may be at most 512 KB.")
        elif kind is None:
            error = _("Use a PNG, JPEG, GIF or WebP image.")
        if error:
            values = dump_settings(session)
            return _settings_page(values, {"logo": [error]})
        extension = kind.rsplit("/", 1)[1].replace("jpeg", "jpg")
        stored = FileStorage(BytesIO(content), filename=f"logo.{extension}", content_type=kind)
        # the logo hangs on the administrator's own user record, stored by the system
        attachment = store(crm, crm.records(Access.system()), "user", g.crm_user.id, stored)
        save_settings(session, {"logo_attachment_id": attachment.id}, g.crm_user.id)
        flash(_("The logo is saved."), "success")
        return redirect(url_for("web_admin.settings"), 303)

    @bp.route("/logo")
    @public
    def logo() -> Any:
        from flask import send_file

        from ...activities.models import Attachment
        from ...api.attachments import file_path

        crm = current_crm()
        logo_id = get_settings(crm.session).get("logo_attachment_id")
        row = crm.session.get(Attachment, logo_id) if isinstance(logo_id, int) else None
        if row is None or row.deleted_at is not None:
            raise NotFound(_("No logo."))
        path = file_path(crm, row)
        with open(path, "rb") as fh:
            kind = _logo_type(fh.read(16))
        if kind is None:
            raise NotFound(_("No logo."))
        response: Response = send_file(path, mimetype=kind, max_age=300)
        response.headers["Content-Security-Policy"] = "default-src 'none'; sandbox"
        return response


def add_routes(bp: Blueprint) -> None:
    add_plugin_routes(bp)
    add_field_routes(bp)
    add_settings_routes(bp)


__all__ = ["add_routes", "read_settings_form"]
