"""API schemas of users, roles and teams. No schema ever dumps a password hash or token."""

from __future__ import annotations

import re

from marshmallow import fields, validate

from ..fields import Email, TimeZone
from ..registry import RecordSchema

ROLE_NAME = re.compile(r"^[a-z][a-z0-9_]{1,49}$")


class UserSchema(RecordSchema):
    email = Email(required=True, validate=validate.Length(max=254))
    name = fields.String(load_default="", validate=validate.Length(max=200))
    password = fields.String(load_only=True, metadata={"description": "At least 12 characters."})
    role_id = fields.Integer(allow_none=True)
    active = fields.Boolean(load_default=True)
    locale = fields.String(load_default="en", validate=validate.OneOf(["en", "es"]))
    timezone = TimeZone(load_default="UTC")
    team_ids = fields.List(fields.Integer())
    last_login_at = fields.AwareDateTime(dump_only=True)


class RoleSchema(RecordSchema):
    name = fields.String(
        required=True,
        validate=validate.Regexp(
            ROLE_NAME, error="Use lower-case letters, digits and _, starting with a letter."
        ),
    )
    title = fields.String(required=True, validate=validate.Length(1, 100))
    description = fields.String(load_default="", validate=validate.Length(max=2000))
    grants = fields.Dict(
        keys=fields.String(),
        values=fields.Dict(keys=fields.String(), values=fields.String(allow_none=True)),
        load_default=dict,
        metadata={
            "description": "Per entity plural, a scope per action: "
            '{"contacts": {"read": "all", "update": "own"}}'
        },
    )
    permissions = fields.List(fields.String(), load_default=list)


class TeamSchema(RecordSchema):
    name = fields.String(required=True, validate=validate.Length(1, 100))
    description = fields.String(load_default="", validate=validate.Length(max=2000))
    member_ids = fields.List(fields.Integer())
