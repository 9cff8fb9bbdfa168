"""Built-in plugin: users, roles, teams and custom field definitions."""

from __future__ import annotations

from typing import Any

from flask import has_request_context, request
from flask_babel import gettext
from sqlalchemy import func, select, update

from ..customfields import CustomField, CustomFieldSchema
from ..db import utcnow
from ..errors import PermissionDenied, ValidationError
from ..permissions import Access, validate_grants
from ..plugins import BUILTINS, hookimpl
from ..registry import Entity
from .models import ApiToken, Role, Team, User
from .passwords import check_policy, hash_password
from .schemas import RoleSchema, TeamSchema, UserSchema

PLUGIN = BUILTINS[__name__]


def _ids_to_records(service: Any, model: type, ids: list[int], field: str) -> list[Any]:
    records = list(service.session.scalars(select(model).where(model.id.in_(ids)))) if ids else []
    if len(records) != len(set(ids)):
        raise ValidationError({field: ["Unknown id."]})
    return records


def N_(message: str) -> str:  # the name the message extractor knows
    """Mark ``message`` for translation; :func:`_t` translates it when raised."""
    return message


def _t(message: str) -> str:
    """``message`` in the language of the request, when there is one."""
    return gettext(message) if has_request_context() else message


def _check_covers(service: Any, role: Role | None, message: str) -> None:
    plurals = [e.plural for e in service.crm.registry]
    if not service.access.covers(Access.for_role(role), plurals):
        raise PermissionDenied(_t(message))


def _revoke_tokens(service: Any, user: User) -> None:
    """A new password revokes the user's API tokens, except the one making this request."""
    keep = None
    if has_request_context() and user.id == service.access.user_id:
        from ..api.auth import TOKEN_ID_KEY

        keep = request.environ.get(TOKEN_ID_KEY)
    stmt = update(ApiToken).where(ApiToken.user_id == user.id, ApiToken.revoked_at.is_(None))
    if keep is not None:
        stmt = stmt.where(ApiToken.id != keep)
    service.session.execute(stmt.values(revoked_at=utcnow()))


def prepare_user(values: dict[str, Any], record: User | None, service: Any) -> None:
    if record is not None and record.id != service.access.user_id:
        _check_covers(
            service, record.role, N_("You may not change a user with more rights than you.")
        )
    if "password" in values:
        password = values.pop("password") or ""
        problem = check_policy(password)
        if problem:
            raise ValidationError({"password": [problem]})
        values["password_hash"] = hash_password(password)
        if record is not None:
            _revoke_tokens(service, record)
    if "email" in values and (record is None or values["email"] != record.email):
        taken = service.session.scalar(
            select(User.id).where(func.lower(User.email) == values["email"].lower())
        )
        if taken:
            raise ValidationError({"email": ["A user with this e-mail already exists."]})
    if "role_id" in values and (record is None or values["role_id"] != record.role_id):
        if record is not None and record.id == service.access.user_id:
            raise PermissionDenied("You cannot change your own role.")
        if not service.access.has("roles.assign"):
            raise PermissionDenied("You may not assign roles.")
        role = service.session.get(Role, values["role_id"]) if values["role_id"] else None
        if values["role_id"] is not None and (role is None or role.deleted_at is not None):
            raise ValidationError({"role_id": ["No such role."]})
        _check_covers(service, role, N_("You may not give a role with more rights than yours."))
    if (
        "active" in values
        and record is not None
        and record.id == service.access.user_id
        and not values["active"]
    ):
        raise ValidationError({"active": ["You cannot deactivate yourself."]})
    if "team_ids" in values:
        teams = _ids_to_records(service, Team, values.pop("team_ids") or [], "team_ids")
        if record is None or {t.id for t in teams} != set(record.team_ids):
            if not service.access.can(service.entity("teams"), "update"):
                raise PermissionDenied("You may not change team membership.")
        values["teams"] = teams


def _granted(grants: Any, permissions: Any) -> Access:
    """What a role with these grants and permissions would allow."""
    return Access(user=None, grants=grants or {}, permissions=frozenset(permissions or ()))


def _check_not_own_role(service: Any, role: Role) -> None:
    access = service.access
    if not access.is_system and access.user is not None and access.user.role_id == role.id:
        raise PermissionDenied(_t(N_("You cannot change the role you hold.")))


def prepare_role(values: dict[str, Any], record: Role | None, service: Any) -> None:
    if "grants" in values:
        known = {e.plural for e in service.crm.registry}
        errors = validate_grants(values["grants"], known)
        if errors:
            raise ValidationError({"grants": errors})
    if "permissions" in values:
        known = service.crm.permissions
        unknown = [p for p in values["permissions"] if p != "*" and p not in known]
        if unknown:
            raise ValidationError({"permissions": [f"Unknown permission: {', '.join(unknown)}."]})
    # nobody raises their own rights through a role: not the one they hold, and no role (new or
    # edited) may end up granting more than its editor has
    if record is not None:
        _check_not_own_role(service, record)
        _check_covers(service, record, N_("You may not change a role with more rights."))
    if "grants" in values or "permissions" in values or record is None:
        grants = values.get("grants", record.grants if record is not None else None)
        permissions = values.get("permissions", record.permissions if record is not None else ())
        after = _granted(grants, permissions)
        plurals = [e.plural for e in service.crm.registry]
        if not service.access.covers(after, plurals):
            raise PermissionDenied(_t(N_("You may not give a role more rights than you have.")))
    if "name" in values and (record is None or values["name"] != record.name):
        if service.session.scalar(select(Role.id).where(Role.name == values["name"])):
            raise ValidationError({"name": ["A role with this name already exists."]})


def prepare_team(values: dict[str, Any], record: Team | None, service: Any) -> None:
    if "member_ids" in values:
        values["members"] = _ids_to_records(
            service, User, values.pop("member_ids") or [], "member_ids"
        )


def prepare_custom_field(values: dict[str, Any], record: CustomField | None, service: Any) -> None:
    entity_name = values.get("entity", record.entity if record else None)
    try:
        entity = service.crm.registry.get(entity_name)
    except KeyError:
        raise ValidationError({"entity": ["Unknown entity."]}) from None
    if not entity.has_custom_fields:
        raise ValidationError({"entity": ["This entity has no custom fields."]})
    values["entity"] = entity.plural
    name = values.get("name", record.name if record else None)
    if name in entity.columns or name in entity.full_schema._declared_fields:
        raise ValidationError({"name": ["This name is taken by a built-in field."]})
    if record is not None and "type" in values and values["type"] != record.type:
        raise ValidationError({"type": ["The type of a field cannot change; add a new field."]})


@hookimpl
def crm_validate_record(event: Any) -> None:
    """Nobody trashes their own account or role, nor those of more rights; nobody restores a
    user or role with more rights than their own."""
    service = event.records
    if event.entity.name == "role" and event.action in ("delete", "restore"):
        _check_not_own_role(service, event.record)
        # judged as if live: a trashed role grants nothing, the restored one does
        granted = _granted(event.record.grants, event.record.permissions)
        if not service.access.covers(granted, [e.plural for e in service.crm.registry]):
            raise PermissionDenied(_t(N_("You may not change a role with more rights.")))
        return
    if event.entity.name == "user" and event.action == "restore":
        _check_covers(
            service, event.record.role, N_("You may not restore a user with more rights.")
        )
        return
    if event.entity.name != "user" or event.action != "delete":
        return
    if event.record.id == service.access.user_id:
        raise ValidationError({"_schema": ["You cannot delete yourself."]})
    _check_covers(
        service, event.record.role, N_("You may not delete a user with more rights than you.")
    )


@hookimpl
def crm_entities() -> list[Entity]:
    return [
        Entity(
            name="user",
            model=User,
            schema=UserSchema,
            plural="users",
            title="User",
            title_fields=("name", "email"),
            search_fields=("name", "email"),
            list_columns=("name", "email", "role_id", "active"),
            owner_field="id",
            eager=("teams",),
            prepare=prepare_user,
        ),
        Entity(
            name="role",
            model=Role,
            schema=RoleSchema,
            plural="roles",
            title="Role",
            title_fields=("title",),
            list_columns=("name", "title"),
            owner_field=None,
            prepare=prepare_role,
            translated_titles=True,
        ),
        Entity(
            name="team",
            model=Team,
            schema=TeamSchema,
            plural="teams",
            title="Team",
            list_columns=("name",),
            owner_field=None,
            eager=("members",),
            prepare=prepare_team,
        ),
        Entity(
            name="custom_field",
            model=CustomField,
            schema=CustomFieldSchema,
            plural="custom_fields",
            title="Custom field",
            title_fields=("label",),
            list_columns=("entity", "name", "label", "type", "required"),
            owner_field=None,
            filter_fields=("entity",),
            prepare=prepare_custom_field,
        ),
    ]
