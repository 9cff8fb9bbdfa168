"""The merge page of a duplicate pair (``/<plural>/duplicates/merge/<keep>/<other>``): both
records field by field with a choice of value each, submitted to the ``merge`` record action."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from flask import flash, redirect, render_template, request, url_for
from flask_babel import gettext as _

from ..actions import run_action
from ..errors import ValidationError
from ..merging import LOSER, WINNER, choosable_fields
from ..records import RecordService
from ..references import references, titles
from ..web.display import format_value
from ..web.i18n import label

#: fields a page cannot show side by side (custom fields stay the kept record's)
_NOT_SHOWN = frozenset({"custom_fields"})


@dataclass
class MergeRow:
    """One field of the merge page: its label and both records' values as shown."""

    name: str
    label: str
    keep: str
    other: str
    chosen: str = WINNER


def merge_rows(service: RecordService, entity: Any, keep: Any, other: Any) -> list[MergeRow]:
    """The fields a merge may take from either record, with both values (references by title)."""
    refs = references(service, entity)
    rows = []
    for name in choosable_fields(entity):
        if name in _NOT_SHOWN or name not in entity.columns:
            continue
        values = [getattr(keep, name), getattr(other, name)]
        ref = refs.get(name)
        if ref is not None and ref.target is not None:
            named = titles(service, service.entity(ref.target), [v for v in values if v])
            shown = [named.get(v, str(v)) if v else "" for v in values]
        else:
            shown = [format_value(v) if v is not None else "" for v in values]
        rows.append(MergeRow(name, label(name, entity), shown[0], shown[1]))
    return rows


def merge_view(service: RecordService, entity: Any, keep_id: int, other_id: int) -> Any:
    """GET: the two records side by side; POST: run the merge, then land on the kept record."""
    keep = service.get(entity, keep_id)
    other = service.get(entity, other_id)
    rows = merge_rows(service, entity, keep, other)
    errors: dict[str, Any] = {}
    status = 200
    if request.method == "POST":
        choices = {row.name: str(request.form.get(f"choice_{row.name}", WINNER)) for row in rows}
        data = {"other_id": other.id, "choices": choices}
        try:
            run_action(service, entity, keep, "merge", data)
        except ValidationError as exc:
            errors = dict(exc.messages) if isinstance(exc.messages, dict) else {}
            status = 422
            for row in rows:
                row.chosen = LOSER if choices.get(row.name) == LOSER else WINNER
            keep = service.get(entity, keep_id)
            other = service.get(entity, other_id)
        else:
            flash(_("The records were merged."), "success")
            return redirect(
                url_for("web_records.show", plural=entity.plural, record_id=keep.id), 303
            )
    messages = [
        str(m)
        for value in errors.values()
        for m in (value.values() if isinstance(value, dict) else [value])
        for m in (m if isinstance(m, list) else [m])
    ]
    return render_template(
        "core/duplicates_merge.html",
        entity=entity,
        keep=keep,
        other=other,
        rows=rows,
        messages=messages,
        winner=WINNER,
        loser=LOSER,
    ), status
