"""Segments: which contacts a saved query, a company query and purchase-history conditions
choose, or the contacts listed in a static segment.

A dynamic segment is one or more groups, OR-ed: its ``query``, ``company_query`` and
``conditions`` are the first group, ``or_groups`` holds more groups of the same three parts
(the filter language itself has no OR across fields, and keeps none). A contact is a member
when it matches every part of any one group. The list, the count, the API and the sending of a
campaign all go through ``members_query``, so they agree on the groups.

A dynamic segment is evaluated when it is read, never stored: ``members_query`` builds one
SELECT of contacts (filters, a company sub-select, ``EXISTS``/``IN`` sub-selects over the
orders of crm-sales), scoped to the reader's permissions, that lists, counts, or feeds an
``INSERT ... SELECT`` of a campaign's recipients.

A static segment lists its contacts in ``marketing_segment_member``: added one by one over the
API, or from a CSV file matched to contacts by e-mail address (``import_list``), creating the
contacts that do not exist yet through the record service.
"""

from __future__ import annotations

import csv
import datetime as dt
import decimal
import sys
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

import click
from flask import current_app
from flask.cli import with_appcontext
from sqlalchemy import Select, and_, exists, false, func, insert, or_, select, type_coerce
from sqlalchemy.dialects.postgresql import JSONB
from werkzeug.datastructures import MultiDict

from crmcore import ValidationError
from crmcore.api import listing
from crmcore.contacts.models import Company, Contact
from crmcore.db import utcnow
from crmcore.errors import Conflict, CRMError, NotFound, PermissionDenied
from crmcore.fields import normalise_email
from crmcore.importing.converting import Row, RowConverter
from crmcore.importing.engine import import_limit
from crmcore.importing.mapping import FieldSet, map_columns
from crmcore.importing.reading import CsvFormat, ImportFileError, inspect_file, iter_rows

from .models import Segment, SegmentMember

#: The order statuses that are purchases (as crm-sales counts them: confirmed or later).
PURCHASED = ("confirmed", "paid", "partially_shipped", "shipped", "delivered")
CONDITION_TYPES = ("bought_product", "no_order_in_days", "lifetime_value_over")
MAX_CONDITIONS = 20
#: groups OR-ed after the first (the segment's own query, company query and conditions)
MAX_OR_GROUPS = 10
GROUP_PARTS = ("query", "company_query", "conditions")
MAX_DAYS = 36_500
MAX_AMOUNT = decimal.Decimal("999999999999.99")
#: query-string parameters of lists that choose a page, not contacts
PAGING = ("limit", "cursor", "sort", "trashed")
MAX_FILTERS = 50
#: the list's ``q``: full-text search among the contacts (or companies)
SEARCH = "q"


# validation (the entity's ``prepare``) -------------------------------------------------------


def prepare_segment(values: dict[str, Any], record: Segment | None, service: Any) -> None:
    """Refuse queries the list language cannot read, and conditions that make no sense.

    ``query`` is read as the filters of ``GET /api/v1/contacts``, ``company_query`` as those
    of ``GET /api/v1/companies`` (each with ``q`` for a search; no paging nor sorting).
    ``conditions`` need crm-sales enabled and a user who may read orders.
    """
    kind = values.get("kind", record.kind if record else "dynamic")
    if record is not None and "kind" in values and values["kind"] != record.kind:
        raise ValidationError({"kind": ["A segment cannot change kind."]})
    if kind == "static":
        errors = {
            name: ["A static segment lists its contacts; it has no query nor conditions."]
            for name in ("query", "company_query", "conditions", "or_groups")
            if values.get(name)
        }
        if errors:
            raise ValidationError(errors)
        return
    errors: dict[str, Any] = clean_group(service, values)
    if "or_groups" in values:
        try:
            values["or_groups"] = clean_or_groups(service, values["or_groups"])
        except ValidationError as exc:
            errors.update(exc.messages)
    if errors:
        raise ValidationError(errors)


def clean_group(service: Any, values: dict[str, Any]) -> dict[str, list[str]]:
    """Check and normalise, in place, the parts of one group that ``values`` holds (``query``,
    ``company_query``, ``conditions``); the messages per part."""
    crm, session = service.crm, service.session
    errors: dict[str, list[str]] = {}
    for name, plural in (("query", "contacts"), ("company_query", "companies")):
        if name not in values:
            continue
        text = _query_text(values[name])
        values[name] = text
        problems = check_query(crm, session, crm.registry.get(plural), text)
        if problems:
            errors[name] = problems
    if "conditions" in values:
        try:
            values["conditions"] = clean_conditions(service, values["conditions"] or [])
        except ValidationError as exc:
            errors.update(exc.messages)
    return errors


def clean_or_groups(service: Any, groups: Any) -> list[dict[str, Any]]:
    """The segment's further groups, each with all three parts, checked; a group with nothing
    in it is dropped (it would choose every contact). ``ValidationError`` on ``or_groups``
    with the messages by group number (``{"1": {"query": [...]}}``, from 1)."""
    if not groups:
        return []
    if not isinstance(groups, list) or not all(isinstance(g, Mapping) for g in groups):
        raise ValidationError({"or_groups": ["Give a list of groups, each an object."]})
    if len(groups) > MAX_OR_GROUPS:
        raise ValidationError({"or_groups": [f"At most {MAX_OR_GROUPS} more groups."]})
    cleaned: list[dict[str, Any]] = []
    errors: dict[str, Any] = {}
    for number, group in enumerate(groups, 1):
        unknown = sorted(str(k) for k in group if k not in GROUP_PARTS)
        if unknown:
            errors[str(number)] = {
                "_group": [
                    f"A group has query, company_query and conditions; not {', '.join(unknown)}."
                ]
            }
            continue
        values = {
            "query": group.get("query") or "",
            "company_query": group.get("company_query") or "",
            "conditions": group.get("conditions") or [],
        }
        if not all(isinstance(values[k], str) for k in ("query", "company_query")):
            errors[str(number)] = {"_group": ["query and company_query are text."]}
            continue
        problems = clean_group(service, values)
        if problems:
            errors[str(number)] = problems
        elif values["query"] or values["company_query"] or values["conditions"]:
            cleaned.append(values)
    if errors:
        raise ValidationError({"or_groups": errors})
    return cleaned


def _query_text(value: Any) -> str:
    return (value or "").strip().removeprefix("?").strip()


def _query_args(text: str) -> MultiDict[str, str]:
    try:
        pairs = parse_qsl(text, keep_blank_values=True, max_num_fields=MAX_FILTERS)
    except ValueError:
        raise listing.BadQuery("query", f"At most {MAX_FILTERS} filters.") from None
    return MultiDict(pairs)


def check_query(crm: Any, session: Any, entity: Any, text: str) -> list[str]:
    """Messages for each filter of ``text`` that the list of ``entity`` would refuse."""
    try:
        args = _query_args(text)
    except listing.BadQuery as exc:
        return [exc.detail]
    problems: list[str] = []
    secret = crm.settings.secret_key
    for key in dict.fromkeys(args.keys()):
        values = args.getlist(key)
        if key in PAGING:
            problems.append(
                f"{key}: a segment's query takes filters (and q, a search) only; "
                "paging and sorting belong to the list of members."
            )
            continue
        if key != SEARCH and any(not v.strip() for v in values):
            problems.append(f"{key}: give a value.")
            continue
        try:
            listing.parse(
                entity,
                MultiDict([(key, v) for v in values]),
                secret,
                lambda: crm.custom_field_defs(session, entity),
            )
        except listing.BadQuery as exc:
            for message in exc.messages.get(key, [exc.detail]):
                problems.append(message if repr(key) in message else f"{key}: {message}")
    return problems


def clean_conditions(service: Any, conditions: Any) -> list[dict[str, Any]]:
    """The purchase-history conditions, checked and normalised; ``ValidationError`` with a
    message per bad condition (``Condition 2: ...``)."""
    if not conditions:
        return []
    if not isinstance(conditions, list):
        raise ValidationError({"conditions": ["Give a list of conditions."]})
    if len(conditions) > MAX_CONDITIONS:
        raise ValidationError({"conditions": [f"At most {MAX_CONDITIONS} conditions."]})
    if "sales" not in service.crm.enabled_plugins():
        raise ValidationError(
            {
                "conditions": [
                    "Purchase-history conditions need the sales plugin, which is not enabled "
                    "(crm plugins enable sales)."
                ]
            }
        )
    if not service.access.can("orders", "read"):
        raise ValidationError(
            {"conditions": ["You may not read orders, so you cannot choose contacts by them."]}
        )
    cleaned: list[dict[str, Any]] = []
    problems: list[str] = []
    for number, condition in enumerate(conditions, 1):
        try:
            cleaned.append(_clean_condition(service, condition))
        except ValueError as exc:
            problems.append(f"Condition {number}: {exc}")
    if problems:
        raise ValidationError({"conditions": problems})
    return cleaned


_KEYS = {
    "bought_product": ("product_id",),
    "no_order_in_days": ("days",),
    "lifetime_value_over": ("amount", "currency"),
}


def _clean_condition(service: Any, condition: Any) -> dict[str, Any]:
    if not isinstance(condition, Mapping):
        raise ValueError("give an object with a type.")
    kind = condition.get("type")
    if kind not in CONDITION_TYPES:
        raise ValueError(f"the type must be one of: {', '.join(CONDITION_TYPES)}.")
    unknown = sorted(str(k) for k in condition if k != "type" and k not in _KEYS[kind])
    if unknown:
        raise ValueError(f"{kind} takes {', '.join(_KEYS[kind])}; not {', '.join(unknown)}.")
    missing = [k for k in _KEYS[kind] if condition.get(k) in (None, "")]
    if missing:
        raise ValueError(f"{kind} needs {', '.join(missing)}.")
    if kind == "bought_product":
        product_id = _whole(condition["product_id"], "product_id", 1, 2**31 - 1)
        try:
            service.get("products", product_id)
        except NotFound:
            raise ValueError(f"no product with id {product_id}.") from None
        except PermissionDenied:
            raise ValueError("you may not read products.") from None
        return {"type": kind, "product_id": product_id}
    if kind == "no_order_in_days":
        return {"type": kind, "days": _whole(condition["days"], "days", 1, MAX_DAYS)}
    amount = _amount(condition["amount"])
    currency = condition["currency"]
    if not isinstance(currency, str) or not _is_currency(currency.strip().upper()):
        raise ValueError("currency: not an ISO 4217 currency code (such as EUR or USD).")
    return {"type": kind, "amount": str(amount), "currency": currency.strip().upper()}


def _whole(value: Any, name: str, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise ValueError(f"{name}: give a whole number.")
    try:
        number = int(value)
    except ValueError:
        raise ValueError(f"{name}: give a whole number.") from None
    if not low <= number <= high:
        raise ValueError(f"{name}: between {low} and {high}.")
    return number


def _amount(value: Any) -> decimal.Decimal:
    if isinstance(value, bool) or not isinstance(value, int | str | float):
        raise ValueError('amount: give an amount such as "1000.00".')
    try:
        amount = decimal.Decimal(str(value).strip())
    except decimal.InvalidOperation:
        raise ValueError('amount: give an amount such as "1000.00".') from None
    if not amount.is_finite() or not decimal.Decimal(0) <= amount <= MAX_AMOUNT:
        raise ValueError(f"amount: between 0 and {MAX_AMOUNT}.")
    if amount.normalize().as_tuple().exponent < -2:  # type: ignore[operator]
        raise ValueError("amount: at most two decimals.")
    return amount.quantize(decimal.Decimal("0.01"))


def _is_currency(code: str) -> bool:
    from babel.numbers import list_currencies

    return code in list_currencies()


# members ---------------------------------------------------------------------------------------


def members_query(crm: Any, records: Any, segment: Segment) -> Select[Any]:
    """A SELECT of the segment's contacts that ``records``' user may read (trash excluded).

    One statement, no ORDER BY: list it (add sort and limit), count it, or select its ids for
    an ``INSERT ... SELECT``. Companies and orders in conditions count only when the reader may
    read them too. Raises ``PermissionDenied`` when the user may not read contacts (or orders,
    for purchase conditions) and ``Conflict`` when the saved query no longer works (a custom
    field was deleted, crm-sales was disabled).
    """
    stmt = records.query("contacts")
    if segment.kind == "static":
        listed = select(SegmentMember.contact_id).where(SegmentMember.segment_id == segment.id)
        return stmt.where(Contact.id.in_(listed))
    first = {
        "query": segment.query,
        "company_query": segment.company_query,
        "conditions": segment.conditions,
    }
    groups = [first, *(segment.or_groups or ())]
    if len(groups) == 1:
        return _group_filtered(crm, records, stmt, first, "")
    # each group a sub-select of contact ids (the reader's scope applies once, outside)
    chosen = [
        Contact.id.in_(
            _group_filtered(
                crm,
                records,
                select(Contact.id).where(Contact.deleted_at.is_(None)),
                group,
                f"group {number}: " if number > 1 else "",
            ).correlate(None)
        )
        for number, group in enumerate(groups, 1)
    ]
    return stmt.where(or_(*chosen))


def _group_filtered(
    crm: Any, records: Any, stmt: Select[Any], group: Mapping[str, Any], where: str
) -> Select[Any]:
    """``stmt`` narrowed to the contacts matching every part of one group."""
    dialect = crm.engine.dialect.name
    contacts = records.entity("contacts")
    query, company_query = group.get("query") or "", group.get("company_query") or ""
    stmt = _filtered(crm, records, contacts, stmt, query, f"{where}query", dialect)
    if company_query.strip():
        companies = records.entity("companies")
        chosen = select(Company.id).where(
            Company.deleted_at.is_(None), records.access.condition(companies, "read")
        )
        chosen = _filtered(
            crm, records, companies, chosen, company_query, f"{where}company_query", dialect
        )
        stmt = stmt.where(Contact.company_id.in_(chosen))
    for condition in group.get("conditions") or ():
        stmt = stmt.where(_purchase_condition(crm, records, condition, dialect))
    return stmt


def _filtered(
    crm: Any, records: Any, entity: Any, stmt: Select[Any], text: str, name: str, dialect: str
) -> Select[Any]:
    text = _query_text(text)
    if not text:
        return stmt
    session = records.session
    try:
        args = _query_args(text)
        for key in PAGING:
            args.poplist(key)
        params = listing.parse(
            entity,
            args,
            crm.settings.secret_key,
            lambda: crm.custom_field_defs(session, entity),
        )
    except listing.BadQuery as exc:
        raise Conflict(
            f"The segment's {name} no longer works ({exc.detail}); edit the segment."
        ) from None
    stmt = listing.apply_filters(entity, stmt, params, dialect)
    if params.q:
        found = crm.search.record_ids(entity, params.q)
        if found is not None:
            stmt = stmt.where(entity.model.id.in_(found))
    return stmt


def _purchase_condition(crm: Any, records: Any, condition: Mapping[str, Any], dialect: str) -> Any:
    """The SQL condition on ``Contact`` of one purchase-history condition."""
    if "sales" not in crm.enabled_plugins():
        raise Conflict(
            "The segment has purchase-history conditions and the sales plugin is not enabled."
        )
    from crm_sales.models import Order

    orders = records.entity("orders")
    if not records.access.can(orders, "read"):
        raise PermissionDenied(
            "The segment chooses contacts by their orders, and you may not read orders."
        )
    purchases = and_(
        Order.status.in_(PURCHASED),
        Order.deleted_at.is_(None),
        records.access.condition(orders, "read"),
    )
    kind = condition.get("type")
    if kind == "bought_product":
        product_id = int(condition["product_id"])
        bought = select(Order.contact_id).where(
            purchases, _has_product(Order.lines, product_id, dialect)
        )
        return Contact.id.in_(bought)
    if kind == "no_order_in_days":
        since = dt.datetime.now(dt.UTC) - dt.timedelta(days=int(condition["days"]))
        recent = or_(
            Order.order_date >= since.date(),
            and_(Order.order_date.is_(None), Order.created_at >= since),
        )
        return ~exists(select(Order.id).where(Order.contact_id == Contact.id, purchases, recent))
    if kind == "lifetime_value_over":
        amount = decimal.Decimal(str(condition["amount"]))
        spent = (
            select(Order.contact_id)
            .where(purchases, Order.currency == condition["currency"])
            .group_by(Order.contact_id)
            .having(func.sum(Order.total) > amount)
        )
        return Contact.id.in_(spent)
    return false()  # refused when saved; an unknown type chooses nobody


def _has_product(lines: Any, product_id: int, dialect: str) -> Any:
    """One of the order's JSON lines is for ``product_id``."""
    if dialect == "postgresql":
        return type_coerce(lines, JSONB).contains([{"product_id": product_id}])
    line = func.json_each(lines).table_valued("value").alias("line")
    return exists(
        select(line.c.value)
        .select_from(line)
        .where(func.json_extract(line.c.value, "$.product_id") == product_id)
    )


def count(records: Any, segment: Segment) -> int:
    """How many contacts the segment has that ``records``' user may read."""
    stmt = members_query(records.crm, records, segment)
    found = records.session.scalar(stmt.with_only_columns(func.count(Contact.id)).order_by(None))
    return int(found or 0)


# static lists ----------------------------------------------------------------------------------


def require_static(segment: Segment) -> None:
    if segment.kind != "static":
        raise Conflict(
            "This segment is dynamic: its query chooses its contacts. "
            "Only a static segment lists contacts one by one."
        )


def add_members(
    records: Any, segment: Segment, contact_ids: list[int], source: str = "api"
) -> tuple[int, int]:
    """List contacts in a static segment; returns ``(added, already listed)``.

    Every contact must be one the user may read; otherwise nothing is added and the
    ``ValidationError`` names the ids not found.
    """
    require_static(segment)
    wanted = list(dict.fromkeys(contact_ids))
    found = set(
        records.session.scalars(
            records.query("contacts").with_only_columns(Contact.id).where(Contact.id.in_(wanted))
        )
    )
    unknown = [i for i in wanted if i not in found]
    if unknown:
        shown = ", ".join(str(i) for i in unknown[:20]) + (", ..." if len(unknown) > 20 else "")
        raise ValidationError({"contact_ids": [f"No such contact: {shown}."]})
    added = _insert_members(records.session, segment.id, wanted, source)
    records.commit()
    return added, len(wanted) - added


def _insert_members(session: Any, segment_id: int, contact_ids: list[int], source: str) -> int:
    """Add the contacts not listed yet (no commit); returns how many were added."""
    if not contact_ids:
        return 0
    listed = set(
        session.scalars(
            select(SegmentMember.contact_id).where(
                SegmentMember.segment_id == segment_id,
                SegmentMember.contact_id.in_(contact_ids),
            )
        )
    )
    new = [i for i in dict.fromkeys(contact_ids) if i not in listed]
    if new:
        now = utcnow()
        session.execute(
            insert(SegmentMember),
            [
                {"segment_id": segment_id, "contact_id": i, "added_at": now, "source": source}
                for i in new
            ],
        )
    return len(new)


def remove_member(records: Any, segment: Segment, contact_id: int) -> None:
    """Take a contact the user may read (trashed or not) off a static segment."""
    require_static(segment)
    contacts = records.entity("contacts")
    visible = records.session.scalar(
        select(Contact.id).where(
            Contact.id == contact_id, records.access.condition(contacts, "read")
        )
    )
    member = None
    if visible is not None:
        member = records.session.scalar(
            select(SegmentMember).where(
                SegmentMember.segment_id == segment.id, SegmentMember.contact_id == contact_id
            )
        )
    if member is None:
        raise NotFound(f"Contact {contact_id} is not a member of this segment.")
    records.session.delete(member)
    records.commit()


# CSV import into a static list -----------------------------------------------------------------

MAX_LISTED_REJECTS = 500
BATCH = 500


@dataclass
class Rejected:
    line: int
    email: str
    reason: str
    cells: list[str]


@dataclass
class ListImport:
    """What importing a file into a static segment did (or would do, with ``dry_run``)."""

    format: CsvFormat
    columns: dict[str, str]
    ignored: list[str]
    dry_run: bool
    total: int = 0
    added: int = 0
    already: int = 0
    duplicates: int = 0
    created: int = 0
    companies_created: int = 0
    rejected: int = 0
    #: the first ``MAX_LISTED_REJECTS`` rejected rows (all of them go to ``report_path``)
    rejected_rows: list[Rejected] = field(default_factory=list)
    report_path: Path | None = None

    def summary(self) -> dict[str, Any]:
        return {
            "dry_run": self.dry_run,
            "total": self.total,
            "added": self.added,
            "already_members": self.already,
            "duplicates": self.duplicates,
            "contacts_created": self.created,
            "companies_created": self.companies_created,
            "rejected": self.rejected,
            "rejected_rows": [
                {"line": r.line, "email": r.email, "reason": r.reason} for r in self.rejected_rows
            ],
            "columns": self.columns,
            "ignored": self.ignored,
        }


def import_list(
    records: Any,
    segment: Segment,
    path: Path,
    *,
    dry_run: bool = False,
    mapping: dict[str, str | None] | None = None,
    report_path: Path | None = None,
    source: str = "import",
    progress: Callable[[int], None] | None = None,
) -> ListImport:
    """Import a CSV file into a static segment as the user of ``records``.

    Each row is matched to a contact the user may read by its e-mail address (case
    insensitive); a row whose address no contact has creates the contact from the row's other
    columns (headers matched as by ``crm import``) when the user may create contacts. Rows
    without a valid address, or refused, are rejected with a reason; an address repeated in
    the file counts once. Needs ``data.import`` and the ``update`` permission on the segment
    (checked by the caller). Each batch of rows is one transaction; ``dry_run`` rolls
    everything back. Raises ``ImportFileError`` when the file cannot be used at all.
    """
    require_static(segment)
    if not records.access.has("data.import"):
        raise PermissionDenied("You may not import data (the data.import permission).")
    run = _ListImporter(records, segment, Path(path), dry_run, mapping, report_path, source)
    try:
        for batch in run.batches():
            run.import_batch(batch)
            if dry_run:
                records.session.flush()
            else:
                records.commit()
            if progress is not None:
                progress(len(batch))
    except BaseException:
        records.rollback()
        raise
    finally:
        run.close()
    if dry_run:
        records.rollback()
    return run.result


class _ListImporter:
    def __init__(
        self,
        records: Any,
        segment: Segment,
        path: Path,
        dry_run: bool,
        mapping: dict[str, str | None] | None,
        report_path: Path | None,
        source: str,
    ) -> None:
        self.records = records
        self.session = records.session
        self.segment_id = segment.id
        self.path = path
        self.source = source
        crm = records.crm
        self.contacts = records.entity("contacts")
        if not records.access.can(self.contacts, "read"):
            raise PermissionDenied("You may not read contacts.")
        self.can_create = records.access.can(self.contacts, "create")
        self.format = inspect_file(path, import_limit(crm))
        has_companies = "companies" in {e.plural for e in crm.entities()}
        defs = crm.custom_field_defs(self.session, self.contacts)
        fields = FieldSet.of(self.contacts, defs, has_companies)
        self.columns = map_columns(self.format.header, fields, mapping)
        if "email" not in self.columns.targets:
            raise ImportFileError(
                "the file has no column of e-mail addresses (a header such as email, e-mail "
                "or correo); rows are matched to contacts by e-mail"
            )
        self.converter = RowConverter(fields, self.columns.targets)
        self.result = ListImport(
            self.format,
            self.columns.describe(self.format.header),
            self.columns.ignored,
            dry_run,
        )
        self.seen: set[str] = set()
        self.companies: dict[str, int] = {}
        self.report_path = report_path
        self._report_file: Any = None
        self._report: Any = None

    def batches(self) -> Iterator[list[Row]]:
        batch: list[Row] = []
        for line, cells in iter_rows(self.path, self.format):
            batch.append(self.converter.convert(line, cells))
            if len(batch) >= BATCH:
                yield batch
                batch = []
        if batch:
            yield batch

    def import_batch(self, rows: list[Row]) -> None:
        result = self.result
        result.total += len(rows)
        wanted: list[tuple[Row, str]] = []
        for row in rows:
            raw = row.data.get("email")
            if row.errors:
                self.reject(row, str(raw or ""), row.reason())
                continue
            if not isinstance(raw, str) or not raw.strip():
                self.reject(row, "", "The row has no e-mail address.")
                continue
            try:
                key = normalise_email(raw)
            except ValueError as exc:
                self.reject(row, raw, f"email: {exc}")
                continue
            if key in self.seen:
                result.duplicates += 1
                continue
            self.seen.add(key)
            wanted.append((row, key))
        found = self._visible(sorted({key for _, key in wanted}))
        hidden = self._hidden(sorted({key for _, key in wanted if key not in found}))
        ids: list[int] = []
        to_create: list[tuple[Row, str, dict[str, Any]]] = []
        for row, key in wanted:
            if key in found:
                ids.append(found[key])
            elif key in hidden:
                self.reject(row, key, "A contact with this e-mail exists and you may not see it.")
            elif not self.can_create:
                self.reject(row, key, "No contact has this e-mail and you may not create contacts.")
            else:
                try:
                    to_create.append((row, key, self._new_contact(row)))
                except CRMError as exc:
                    self.reject(row, key, _reason(exc))
        if to_create:
            made = self.records.create_many(
                self.contacts, [data for _, _, data in to_create], commit=False
            )
            for (row, key, _data), outcome in zip(to_create, made, strict=True):
                if isinstance(outcome, CRMError):
                    self.reject(row, key, _reason(outcome))
                else:
                    result.created += 1
                    ids.append(outcome.id)
        added = _insert_members(self.session, self.segment_id, ids, self.source)
        result.added += added
        result.already += len(ids) - added

    def _visible(self, keys: list[str]) -> dict[str, int]:
        """The contacts the user may read with these addresses (the oldest of each)."""
        if not keys:
            return {}
        found: dict[str, int] = {}
        email = func.lower(Contact.email)
        stmt = (
            self.records.query(self.contacts)
            .with_only_columns(email, Contact.id)
            .where(email.in_(keys))
            .order_by(Contact.id)
        )
        for value, contact_id in self.session.execute(stmt):
            found.setdefault(value, contact_id)
        return found

    def _hidden(self, keys: list[str]) -> set[str]:
        """Of these addresses, those of contacts outside the user's scope."""
        if not keys:
            return set()
        email = func.lower(Contact.email)
        return set(
            self.session.scalars(
                select(email).where(email.in_(keys), Contact.deleted_at.is_(None)).distinct()
            )
        )

    def _new_contact(self, row: Row) -> dict[str, Any]:
        data = dict(row.data)
        if row.company is not None:
            data["company_id"] = self._company_id(row.company)
        return data

    def _company_id(self, name: str) -> int:
        key = name.casefold()
        if key in self.companies:
            return self.companies[key]
        records = self.records
        found = None
        if records.access.can("companies", "read"):
            found = self.session.scalar(
                records.query("companies")
                .with_only_columns(Company.id)
                .where(func.lower(Company.name) == name.lower())
                .order_by(Company.id)
                .limit(1)
            )
        if found is None:
            if not records.access.can("companies", "create"):
                raise NotFound(f"No company named {name!r}.")
            found = records.create("companies", {"name": name}, commit=False).id
            self.result.companies_created += 1
        self.companies[key] = found
        return int(found)

    def reject(self, row: Row, email: str, reason: str) -> None:
        result = self.result
        result.rejected += 1
        entry = Rejected(row.line, email, reason, row.cells)
        if len(result.rejected_rows) < MAX_LISTED_REJECTS:
            result.rejected_rows.append(entry)
        if self.report_path is None:
            return
        if self._report is None:
            self.report_path.parent.mkdir(parents=True, exist_ok=True)
            self._report_file = open(self.report_path, "w", encoding="utf-8-sig", newline="")
            self._report = csv.writer(self._report_file)
            self._report.writerow(["line", "reason", *self.format.header])
            result.report_path = self.report_path
        self._report.writerow([row.line, reason, *row.cells])

    def close(self) -> None:
        if self._report_file is not None:
            self._report_file.close()


def _reason(exc: CRMError) -> str:
    messages = getattr(exc, "messages", None)
    if not messages:
        return exc.detail
    parts = []
    for name, value in messages.items():
        text = " ".join(_strings(value))
        parts.append(text if name == "_schema" else f"{name}: {text}")
    return "; ".join(parts)


def _strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, Mapping):
        return [f"{k}: {' '.join(_strings(v))}" for k, v in value.items()]
    if isinstance(value, list | tuple):
        return [m for item in value for m in _strings(item)]
    return [str(value)]


# the command -----------------------------------------------------------------------------------


@click.command("import-list")
@click.argument("segment_id", type=int)
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--dry-run", is_flag=True, help="Check and report; write nothing.")
@click.option(
    "--mapping",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help='JSON {"Column": "field"} or a CSV of column,field (null/empty ignores).',
)
@click.option(
    "--as",
    "as_email",
    metavar="EMAIL",
    help="Import as this user (their permissions apply); default: the system.",
)
@with_appcontext
def import_list_command(
    segment_id: int, file: Path, dry_run: bool, mapping: Path | None, as_email: str | None
) -> None:
    """Import the CSV FILE into the static segment SEGMENT_ID.

    Rows are matched to contacts by e-mail address; contacts that do not exist are created
    from the row (headers as for `crm import`). Rejected rows are written, with their line
    number and the reason, to a report CSV whose path is printed.
    """
    from crmcore.importing import load_mapping

    crm = current_app.extensions["crm"]
    records = crm.records(_access(crm, as_email))
    segment = records.get("segments", segment_id, "update")
    require_static(segment)
    fmt = inspect_file(file, import_limit(crm))
    click.echo(
        f"{file.name}: {fmt.rows:,} rows, {fmt.encoding}, {fmt.delimiter_name}-separated", err=True
    )
    report = _report_path(crm, file)
    with click.progressbar(
        length=fmt.rows, label="importing", file=sys.stderr, show_pos=True
    ) as bar:
        result = import_list(
            records,
            segment,
            file,
            dry_run=dry_run,
            mapping=load_mapping(mapping) if mapping else None,
            report_path=report,
            source=f"import:{file.name}"[:100],
            progress=bar.update,
        )
    for header, target in result.columns.items():
        click.echo(f"  {header} -> {target}", err=True)
    if result.ignored:
        click.echo(f"  ignored columns: {', '.join(result.ignored)}", err=True)
    verb = "would be " if dry_run else ""
    click.echo(
        f"{'dry run: ' if dry_run else ''}{result.total:,} rows: {verb}added {result.added:,}, "
        f"already members {result.already:,}, repeated in the file {result.duplicates:,}, "
        f"contacts {verb}created {result.created:,}, rejected {result.rejected:,}"
    )
    if result.report_path:
        click.echo(f"rejected rows: {result.report_path}")


def _access(crm: Any, email: str | None) -> Any:
    from crmcore.permissions import Access
    from crmcore.users.models import User

    if not email:
        return Access.system()
    user = crm.session.scalar(select(User).where(User.email == email.strip().lower()))
    if user is None or not user.active or user.deleted_at is not None:
        raise click.ClickException(f"no active user with e-mail {email}")
    return Access.for_user(user)


def _report_path(crm: Any, file: Path) -> Path:
    import os

    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    beside = file.with_name(f"{file.stem}.rejected-{stamp}.csv")
    if os.access(file.parent, os.W_OK):
        return beside
    return Path(crm.settings.instance_path) / "imports" / "reports" / beside.name
