"""Administration of users (invite, deactivate, role), roles (permission matrix) and teams."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, flash, g, redirect, render_template, request, url_for
from flask_babel import gettext as _
from sqlalchemy import select

from ... import parsing
from ...app import current_crm
from ...contributions import ACTIONS, SCOPES
from ...errors import CRMError, PermissionDenied, StaleRecord, ValidationError
from ...permissions import Access
from ...records import RecordService
from ...users.models import Role, Team, User
from ..account import INVITE_LIFETIME, issue_reset, send_reset_mail
from ..forms import field_errors
from ..i18n import LANGUAGES
from . import require

#: The pseudo entity of a role's default row: every entity without a row of its own.
EVERY_OTHER = "*"


def service() -> RecordService:
    return current_crm().records(g.crm_access)


def _roles(records: RecordService) -> list[Role]:
    """Roles to choose from (who may assign roles may see their names, whatever their grants)."""
    query = select(Role).where(Role.deleted_at.is_(None)).order_by(Role.title)
    return list(records.session.scalars(query))


def _error_text(exc: CRMError) -> str:
    if isinstance(exc, ValidationError):
        return " ".join(_(m) for ms in field_errors(exc.messages).values() for m in ms)
    return _(exc.detail)


# users ------------------------------------------------------------------------------------------


def _users_page(errors: dict[str, list[str]] | None = None, form: Any = None) -> Any:
    records = service()
    users = list(records.session.scalars(records.query("users").order_by(User.name, User.email)))
    return render_template(
        "web/admin/users.html",
        users=users,
        roles=_roles(records) if records.access.has("roles.assign") else [],
        can_assign=records.access.has("roles.assign"),
        can_invite=records.access.can("users", "create"),
        languages=LANGUAGES,
        errors=errors or {},
        form=form or {},
    )


def _invite(records: RecordService, user: User) -> None:
    token = issue_reset(records.session, user, INVITE_LIFETIME)
    records.session.commit()
    send_reset_mail(user, token, invited_by=g.crm_user)


def add_user_routes(bp: Blueprint) -> None:
    @bp.route("/users")
    def users() -> Any:
        require("users")
        return _users_page()

    @bp.route("/users/invite", methods=["POST"])
    def invite() -> Any:
        require("users")
        records = service()
        form = request.form
        data: dict[str, Any] = {
            "email": str(form.get("email", "")).strip(),
            "name": str(form.get("name", "")).strip(),
            "locale": form.get("locale", "en"),
        }
        role_id = parsing.record_id(str(form.get("role_id", "")))
        if role_id is not None:
            data["role_id"] = role_id
        try:
            user = records.create("users", data)
        except CRMError as exc:
            records.rollback()
            errors = (
                field_errors(exc.messages)
                if isinstance(exc, ValidationError)
                else {"_schema": [exc.detail]}
            )
            return _users_page(errors, form), exc.status if exc.status != 400 else 422
        _invite(records, user)
        flash(
            _("%(email)s is invited: a link to choose a password is on its way.", email=user.email),
            "success",
        )
        return redirect(url_for("web_admin.users"), 303)

    @bp.route("/users/<int:user_id>/reinvite", methods=["POST"])
    def reinvite(user_id: int) -> Any:
        require("users")
        records = service()
        user = records.get("users", user_id, "update")
        if user.password_hash:
            flash(_("%(email)s has a password already.", email=user.email), "error")
        else:
            _invite(records, user)
            flash(_("The invitation to %(email)s was sent again.", email=user.email), "success")
        return redirect(url_for("web_admin.users"), 303)

    @bp.route("/users/<int:user_id>/<any(activate, deactivate):action>", methods=["POST"])
    def set_active(user_id: int, action: str) -> Any:
        require("users")
        records = service()
        user = records.get("users", user_id, "update")
        try:
            records.update("users", user, {"active": action == "activate"})
        except CRMError as exc:
            records.rollback()
            flash(_error_text(exc), "error")
        else:
            message = (
                _("%(email)s can sign in again.", email=user.email)
                if action == "activate"
                else _("%(email)s can no longer sign in.", email=user.email)
            )
            flash(message, "success")
        return redirect(url_for("web_admin.users"), 303)

    @bp.route("/users/<int:user_id>/role", methods=["POST"])
    def set_role(user_id: int) -> Any:
        require("users")
        records = service()
        user = records.get("users", user_id, "update")
        raw = str(request.form.get("role_id", ""))
        try:
            role_id = parsing.record_id(raw)
            if raw and role_id is None:
                raise ValidationError({"role_id": ["No such role."]})
            records.update("users", user, {"role_id": role_id})
        except CRMError as exc:
            records.rollback()
            flash(_error_text(exc), "error")
        else:
            flash(_("The role of %(email)s is saved.", email=user.email), "success")
        return redirect(url_for("web_admin.users"), 303)


# roles ------------------------------------------------------------------------------------------


#: A matrix cell of an entity row: take the default row's scope / deny the action.
AS_DEFAULT = ""
NO_ACCESS = "none"


def matrix_rows(role: Role | None) -> list[dict[str, Any]]:
    """Rows of the permission matrix: the default row, then each enabled entity.

    An entity without grants of its own follows the default row: its cells show "as default".
    An entity with its own grants shows them, and "no access" for the actions they leave out.
    """
    grants = (role.grants if role else None) or {}
    rows = [
        {
            "plural": EVERY_OTHER,
            "title": _("Every other entity"),
            "cells": {a: (grants.get(EVERY_OTHER) or {}).get(a) or "" for a in ACTIONS},
            "default": True,
            "owner": True,
        }
    ]
    for entity in sorted(current_crm().entities(), key=lambda e: _(e.title_plural)):
        own = grants.get(entity.plural)
        cells = (
            {a: AS_DEFAULT for a in ACTIONS}
            if own is None
            else {a: own.get(a) or NO_ACCESS for a in ACTIONS}
        )
        rows.append(
            {
                "plural": entity.plural,
                "title": _(entity.title_plural),
                "cells": cells,
                "default": False,
                "owner": entity.owner_field is not None,
            }
        )
    return rows


def read_matrix(form: Any, role: Role | None) -> tuple[dict[str, Any], list[str]]:
    """The grants and named permissions submitted by the matrix editor.

    An entity row left "as default" in every cell is left out, so it keeps following the
    default row; otherwise its "as default" cells take the default row's scope. Rows of
    entities not shown (of disabled plugins) are kept as they were. Scopes are passed on
    unchecked: the record service validates them with ``validate_grants``.
    """
    shown = [e.plural for e in current_crm().entities()]
    default: dict[str, str] = {}
    for action in ACTIONS:
        value = str(form.get(f"grant.{EVERY_OTHER}.{action}", ""))
        if value:
            default[action] = value
    grants: dict[str, Any] = {
        plural: dict(actions)
        for plural, actions in ((role.grants or {}) if role else {}).items()
        if plural not in shown and plural != EVERY_OTHER
    }
    if default:
        grants[EVERY_OTHER] = default
    for plural in shown:
        cells = {a: str(form.get(f"grant.{plural}.{a}", AS_DEFAULT)) for a in ACTIONS}
        if all(v == AS_DEFAULT for v in cells.values()):
            continue
        row = {}
        for action, value in cells.items():
            value = default.get(action, "") if value == AS_DEFAULT else value
            if value and value != NO_ACCESS:
                row[action] = value
        grants[plural] = row
    permissions = [p for p in form.getlist("permission") if isinstance(p, str)]
    return grants, permissions


def _role_page(
    role: Role | None, errors: dict[str, list[str]], status: int = 200, values: Any = None
) -> Any:
    crm = current_crm()
    permissions = sorted(
        ((name, perm.title) for name, (_owner, perm) in crm.permissions.items()),
    )
    return render_template(
        "web/admin/role.html",
        role=role,
        rows=matrix_rows(role),
        actions=ACTIONS,
        scopes=SCOPES,
        permissions=permissions,
        granted=set(role.permissions or []) if role else set(),
        errors=errors,
        values=values,
    ), status


def add_role_routes(bp: Blueprint) -> None:
    @bp.route("/roles")
    def roles() -> Any:
        require("roles")
        records = service()
        counts: dict[int, int] = {}
        for role_id in records.session.scalars(
            select(User.role_id).where(User.deleted_at.is_(None))
        ):
            if role_id is not None:
                counts[role_id] = counts.get(role_id, 0) + 1
        return render_template(
            "web/admin/roles.html",
            roles=_roles(records),
            counts=counts,
            can_create=records.access.can("roles", "create"),
            errors={},
        )

    @bp.route("/roles/new", methods=["POST"])
    def new_role() -> Any:
        require("roles")
        records = service()
        data = {
            "name": str(request.form.get("name", "")).strip(),
            "title": str(request.form.get("title", "")).strip(),
            "grants": {},
            "permissions": [],
        }
        try:
            role = records.create("roles", data)
        except ValidationError as exc:
            records.rollback()
            return render_template(
                "web/admin/roles.html",
                roles=_roles(records),
                counts={},
                can_create=True,
                errors=field_errors(exc.messages),
                form=request.form,
            ), 422
        flash(
            _("The role %(title)s is created; now choose what it may do.", title=role.title),
            "success",
        )
        return redirect(url_for("web_admin.role", role_id=role.id), 303)

    @bp.route("/roles/<int:role_id>", methods=["GET", "POST"])
    def role(role_id: int) -> Any:
        require("roles")
        records = service()
        role = records.get("roles", role_id, "update")
        if request.method == "GET":
            return _role_page(role, {})
        grants, permissions = read_matrix(request.form, role)
        data = {
            "title": str(request.form.get("title", "")).strip(),
            "description": str(request.form.get("description", "")).strip(),
            "grants": grants,
            "permissions": permissions,
        }
        version = str(request.form.get("version", ""))
        try:
            if not records.access.covers(
                Access(user=None, grants=grants, permissions=frozenset(permissions)),
                [e.plural for e in current_crm().registry],
            ):
                raise PermissionDenied(_("You may not give a role more rights than you have."))
            records.update(
                "roles", role, data, expected_version=parsing.whole_number(version) or -1
            )
        except StaleRecord:
            records.rollback()
            role = records.get("roles", role_id, "update")
            message = _("Someone changed this role meanwhile. Here is their version.")
            return _role_page(role, {"_schema": [message]}, 409)
        except CRMError as exc:
            records.rollback()
            errors = (
                field_errors(exc.messages)
                if isinstance(exc, ValidationError)
                else {"_schema": [exc.detail]}
            )
            role = records.get("roles", role_id, "update")
            return _role_page(role, errors, 422 if exc.status in (400, 422) else exc.status)
        flash(_("The role %(title)s is saved.", title=role.title), "success")
        return redirect(url_for("web_admin.role", role_id=role.id), 303)


# teams ------------------------------------------------------------------------------------------


def add_team_routes(bp: Blueprint) -> None:
    @bp.route("/teams", methods=["GET", "POST"])
    def teams() -> Any:
        require("teams")
        records = service()
        errors: dict[str, list[str]] = {}
        if request.method == "POST":
            data = {
                "name": str(request.form.get("name", "")).strip(),
                "description": str(request.form.get("description", "")).strip(),
            }
            try:
                team = records.create("teams", data)
            except CRMError as exc:
                records.rollback()
                errors = (
                    field_errors(exc.messages)
                    if isinstance(exc, ValidationError)
                    else {"name": [exc.detail]}
                )
            else:
                flash(_("The team %(name)s is created.", name=team.name), "success")
                return redirect(url_for("web_admin.team", team_id=team.id), 303)
        rows = list(records.session.scalars(records.query("teams").order_by(Team.name)))
        return render_template(
            "web/admin/teams.html", teams=rows, errors=errors, form=request.form
        ), (422 if errors else 200)

    @bp.route("/teams/<int:team_id>", methods=["GET", "POST"])
    def team(team_id: int) -> Any:
        require("teams")
        records = service()
        team = records.get("teams", team_id, "update")
        errors: dict[str, list[str]] = {}
        if request.method == "POST":
            ids = [i for i in map(parsing.record_id, request.form.getlist("member_ids")) if i]
            data = {
                "name": str(request.form.get("name", "")).strip(),
                "description": str(request.form.get("description", "")).strip(),
                "member_ids": ids,
            }
            try:
                records.update("teams", team, data)
            except CRMError as exc:
                records.rollback()
                errors = (
                    field_errors(exc.messages)
                    if isinstance(exc, ValidationError)
                    else {"_schema": [exc.detail]}
                )
                team = records.get("teams", team_id, "update")
            else:
                flash(_("The team %(name)s is saved.", name=team.name), "success")
                return redirect(url_for("web_admin.team", team_id=team.id), 303)
        users = list(
            records.session.scalars(
                select(User).where(User.deleted_at.is_(None)).order_by(User.name, User.email)
            )
        )
        return render_template(
            "web/admin/team.html",
            team=team,
            users=users,
            members=set(team.member_ids),
            errors=errors,
        ), (422 if errors else 200)


def add_routes(bp: Blueprint) -> None:
    add_user_routes(bp)
    add_role_routes(bp)
    add_team_routes(bp)


__all__ = ["add_routes", "matrix_rows", "read_matrix"]
