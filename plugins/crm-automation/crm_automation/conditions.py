"""Conditions of a rule in the list filter language of its entity (``status=open&amount__gte=10``).

They are compiled by the same code as the API's list filters (``crmcore.api.listing``), so a
condition accepts exactly what a list URL accepts, and are always evaluated in SQL, inside the
permission scope of the record service that runs the rule.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl

from crmcore import ValidationError
from crmcore.api.listing import RESERVED, BadQuery, ListParams, apply_filters, parse
from sqlalchemy import Select, exists, select
from werkzeug.datastructures import MultiDict

from .i18n import text as _

MAX_LENGTH = 2000


def compile_conditions(crm: Any, entity: Any, text: str) -> ListParams:
    """The parsed filters of ``text``; ``ValidationError`` on ``conditions`` naming the part
    that does not compile (an unknown field, operator or value)."""
    text = (text or "").strip().lstrip("?")
    if len(text) > MAX_LENGTH:
        raise ValidationError(
            {"conditions": [_("Conditions are at most %(size)s characters.", size=MAX_LENGTH)]}
        )
    pairs = parse_qsl(text, keep_blank_values=True)
    for key, _value in pairs:
        if key in RESERVED or key.partition("__")[0] in RESERVED:
            raise ValidationError(
                {"conditions": [_("%(key)s is not a condition: name a field to compare.",
                                  key=repr(key))]}
            )
    if text and not pairs:
        raise ValidationError(
            {"conditions": [_("%(text)s is not field=value.", text=repr(text[:50]))]}
        )
    args = MultiDict(pairs)
    try:
        return parse(
            entity,
            args,
            crm.settings.secret_key,
            lambda: crm.custom_field_defs(crm.session, entity),
        )
    except BadQuery as exc:
        part, messages = next(iter(exc.messages.items()))
        raise ValidationError({"conditions": [f"{part}: {messages[0]}"]}) from None


def matching(records: Any, entity: Any, params: ListParams, trashed: bool = False) -> Select[Any]:
    """A SELECT of the records ``records`` may read that meet the conditions."""
    dialect = records.session.get_bind().dialect.name
    return apply_filters(entity, records.query(entity, trashed=trashed), params, dialect)


def record_matches(
    records: Any, entity: Any, params: ListParams, record_id: int, trashed: bool = False
) -> bool:
    """Whether the record is readable by ``records`` and meets the conditions (one query)."""
    stmt = matching(records, entity, params, trashed).where(entity.model.id == record_id)
    return bool(records.session.scalar(select(exists(stmt.subquery().select()))))
