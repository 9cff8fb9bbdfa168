"""The report builder's form: its fields as a definition, and definition errors on its fields.

Plain text fields in the list's own notation, so the form works without JavaScript:
joins ``company_id``, filters ``amount__gte=100&stage_id=3``, groups ``close_date:month``,
measures ``count, sum:amount``, sort ``-sum:amount``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qsl, urlencode

FIELDS = (
    "name",
    "entity",
    "joins",
    "filters",
    "group1",
    "group2",
    "measures",
    "sort",
    "limit",
    "chart",
    "visibility",
    "team_id",
    "role_id",
    "pinned",
    "pin_range",
    "pin_field",
    "pin_from",
    "pin_to",
    "schedule",
    "recipients",
)


def _split(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()]


def to_definition(form: Mapping[str, str]) -> dict[str, Any]:
    """The definition the form's values describe (checked later by ``parse_definition``)."""
    filters: dict[str, Any] = {}
    for key, value in parse_qsl(
        form.get("filters", "").strip().lstrip("?"), keep_blank_values=True
    ):
        filters.setdefault(key, []).append(value)
    limit_text = form.get("limit", "").strip()
    return {
        "entity": form.get("entity", "").strip(),
        "joins": _split(form.get("joins", "")),
        "filters": {k: v[0] if len(v) == 1 else v for k, v in filters.items()},
        "group_by": [
            g.strip() for g in (form.get("group1", ""), form.get("group2", "")) if g.strip()
        ],
        "measures": _split(form.get("measures", "")) or ["count"],
        "sort": _split(form.get("sort", "")),
        "limit": int(limit_text)
        if limit_text.isdigit() and len(limit_text) < 7
        else (500 if not limit_text else -1),
    }


def to_form(definition: Mapping[str, Any]) -> dict[str, str]:
    """The form values of a saved definition (canonical JSON form)."""
    groups = [
        g["field"] + (f":{g['bucket']}" if g.get("bucket") else "")
        for g in definition.get("group_by", [])
    ]
    filters = []
    for key, value in (definition.get("filters") or {}).items():
        for v in value if isinstance(value, list) else [value]:
            filters.append((key, str(v)))
    return {
        "entity": str(definition.get("entity", "")),
        "joins": ", ".join(definition.get("joins", [])),
        "filters": urlencode(filters),
        "group1": groups[0] if groups else "",
        "group2": groups[1] if len(groups) > 1 else "",
        "measures": ", ".join(
            m["op"] + (f":{m['field']}" if m.get("field") else "")
            for m in definition.get("measures", [])
        ),
        "sort": ", ".join(definition.get("sort", [])),
        "limit": str(definition.get("limit", 500)),
    }


def field_errors(messages: Mapping[str, list[str]]) -> dict[str, list[str]]:
    """Definition errors (``group_by.1.bucket``...) by form field (``group2``)."""
    out: dict[str, list[str]] = {}
    for part, texts in messages.items():
        part = part.removeprefix("definition.")
        head, _, rest = part.partition(".")
        if head == "group_by" and rest[:1].isdigit():
            name = f"group{int(rest.partition('.')[0]) + 1}"
        elif head in FIELDS:
            name = head
        else:
            name = "_form"
        out.setdefault(name, []).extend(texts)
    return out
