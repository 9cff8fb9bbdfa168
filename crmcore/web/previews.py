"""Previews of a text field beside its textarea (an article's Markdown body).

A schema field with ``metadata["preview"]`` - ``preview(text) -> HTML``, a renderer that
sanitises (the kb plugin's Markdown renderer) - gets a preview beside its textarea on the record
form. With JavaScript, htmx posts the form to ``POST /<plural>/preview/<field>`` as the user
types and swaps the answer in; without it, the form's *Preview* button (named ``_preview``)
posts the form back to its own page, which is drawn again with the preview and nothing saved.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from flask import Blueprint, g, render_template, request
from markupsafe import Markup

from ..app import current_crm
from ..errors import NotFound, PermissionDenied
from .forms import FormField, form_fields

#: The form button that redraws the form with its previews instead of saving.
PREVIEW_OP = "_preview"
LANG_RE = re.compile(r"^[A-Za-z]{2,8}(-[A-Za-z0-9]{1,8})*$")
#: Characters a preview renders at most (a schema refuses longer text when saving).
MAX_PREVIEW = 200_000


def rendered(spec: FormField, text: str) -> Markup:
    """The field's preview of ``text``: the renderer's HTML, trusted as sanitised by it."""
    if spec.preview is None:
        return Markup("")
    return Markup(spec.preview(text[:MAX_PREVIEW]))  # noqa: S704 - the renderer sanitises


def previews(specs: list[FormField], values: Mapping[str, Any]) -> dict[str, Markup]:
    """The previews of a form's textareas that have one, by input name."""
    return {
        spec.input_name: rendered(spec, str(values.get(spec.input_name, "") or ""))
        for spec in specs
        if spec.preview is not None and spec.kind == "textarea"
    }


def content_language(values: Mapping[str, Any]) -> str:
    """The language of the previewed text: the form's ``language`` field when it has one (an
    article's), else empty - the text is the user's, not the page's."""
    value = str(values.get("language", "") or "")
    return value if LANG_RE.match(value) else ""


def make_blueprint() -> Blueprint:
    bp = Blueprint("web_previews", __name__)

    @bp.route("/<plural>/preview/<name>", methods=["POST"])
    def preview(plural: str, name: str) -> Any:
        """The preview partial of one field, for users who may create or edit the records."""
        records = current_crm().records(g.crm_access)
        entity = records.entity(plural)
        if entity.plural != plural:
            raise NotFound("No such page.")
        if not (records.access.can(entity, "create") or records.access.can(entity, "update")):
            raise PermissionDenied("You may not edit these records.")
        spec = next(
            (
                s
                for s in form_fields(entity, [], creating=True)
                if s.input_name == name and s.preview is not None and s.kind == "textarea"
            ),
            None,
        )
        if spec is None:
            raise NotFound("No such page.")
        html = rendered(spec, str(request.form.get(name, "")))
        return render_template(
            "core/_preview.html", spec=spec, html=html, content_lang=content_language(request.form)
        )

    return bp
