"""Marshmallow schemas of the two entities (the core adds owner, tags and custom fields)."""

from __future__ import annotations

from marshmallow import fields, validate

from crmcore import RecordSchema

from .models import LANGUAGES, STATUSES, VISIBILITIES
from .render import render


class ArticleSchema(RecordSchema):
    title = fields.String(required=True, validate=validate.Length(1, 200))
    slug = fields.String(
        validate=validate.Length(1, 200),
        metadata={"hint": "Leave it empty to derive it from the title."},
    )
    body = fields.String(
        validate=validate.Length(0, 200_000),
        metadata={
            "hint": "Markdown. The preview beside it is what readers will see.",
            "preview": render,
        },
    )
    summary = fields.String(validate=validate.Length(0, 300))
    status = fields.String(validate=validate.OneOf(STATUSES))
    visibility = fields.String(
        validate=validate.OneOf(VISIBILITIES),
        metadata={
            "hint": "Internal: only signed-in staff read it (ticket suggestions included). "
            "Public: once published, anyone finds it in the help centre and agents may "
            "insert its link in replies."
        },
    )
    language = fields.String(validate=validate.OneOf(LANGUAGES))
    category_id = fields.Integer(allow_none=True)
    translation_of_id = fields.Integer(allow_none=True, metadata={"reference": "article"})
    author_id = fields.Integer(allow_none=True, metadata={"reference": "user"})
    reviewer_id = fields.Integer(allow_none=True, metadata={"reference": "user"})
    body_html = fields.String(dump_only=True)
    published_at = fields.AwareDateTime(dump_only=True)


class CategorySchema(RecordSchema):
    name = fields.String(required=True, validate=validate.Length(1, 150))
    slug = fields.String(validate=validate.Length(1, 150))
    description = fields.String(allow_none=True, validate=validate.Length(0, 2000))
    parent_id = fields.Integer(allow_none=True, metadata={"reference": "category"})
    position = fields.Integer(validate=validate.Range(0, 10_000))
