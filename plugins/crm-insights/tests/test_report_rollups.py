"""Rollups answer reports with the plain query's rows: after creates, updates that move a deal
between stages, months, owners and currencies, trash and restore, an import; for each reader's
scope; and the plain query answers whatever a rollup cannot."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import select, update

pytestmark = pytest.mark.crm_plugins("sales", "insights")

BY_STAGE_AND_MONTH = {
    "entity": "deals",
    "group_by": ["stage_id", "close_date:month"],
    "measures": ["sum:amount", "count"],
}
#: Definitions the rollup of stage, close date and amount answers.
ANSWERED = [
    BY_STAGE_AND_MONTH,
    {"entity": "deals", "group_by": ["close_date:quarter"], "measures": ["avg:amount", "count"]},
    {"entity": "deals", "group_by": ["close_date:year"], "measures": ["count:amount"]},
    {"entity": "deals", "group_by": ["close_date:week", "stage_id"], "measures": ["count"]},
    {"entity": "deals", "group_by": ["close_date:day"], "measures": ["sum:amount"]},
    {"entity": "deals", "group_by": ["close_date"], "measures": ["count"]},
    {"entity": "deals", "measures": ["count", "sum:amount", "avg:amount"]},
    {"entity": "deals", "group_by": ["stage_id"], "measures": ["count"], "sort": ["-count"]},
    {**BY_STAGE_AND_MONTH, "sort": ["-sum:amount"], "limit": 2},
    {**BY_STAGE_AND_MONTH, "filters": {"close_date__gte": "2026-02-01", "currency": "eur"}},
    {"entity": "deals", "group_by": ["stage_id"], "measures": ["count"], "filters": {}},
]


@pytest.fixture
def stages(session: Any) -> list[int]:
    from crm_sales.models import Stage

    return list(session.scalars(select(Stage.id).order_by(Stage.position, Stage.id)))[:3]


@pytest.fixture
def people(make_user: Any, session: Any) -> dict[str, Any]:
    """Two reps in one team, a rep outside it, a manager, a team lead (deals read by team)."""
    from crmcore.users.models import Role

    session.add(
        Role(
            name="team_lead", title="Team lead", grants={"deals": {"read": "team"}}, permissions=[]
        )
    )
    session.commit()
    return {
        "rep": make_user("sales_rep", teams=("North",)),
        "mate": make_user("sales_rep", teams=("North",)),
        "stranger": make_user("sales_rep"),
        "manager": make_user("manager"),
        "lead": make_user("team_lead", teams=("North",)),
        "admin": make_user("admin"),
    }


def deal(records: Any, owner: Any, stage: int, day: str, amount: str, cur: str = "EUR") -> Any:
    return records.create(
        "deals",
        {
            "title": f"Deal {day} {amount}",
            "amount": amount,
            "currency": cur,
            "stage_id": stage,
            "close_date": day,
            "owner_id": owner.id,
        },
    )


@pytest.fixture
def rollup(crm: Any, records: Any, people: dict[str, Any], stages: list[int]) -> Any:
    """Deals of every person, then a rollup of deals by stage and close date, built."""
    from crm_insights.rollups.manage import check_fields, ensure

    for i, who in enumerate(("rep", "mate", "stranger", "rep")):
        deal(records, people[who], stages[i % 2], f"2026-0{i + 1}-1{i}", f"{10 * (i + 1)}.25")
    deal(records, people["mate"], stages[1], "2026-01-31", "5.10", "USD")
    records.create("deals", {"title": "No date", "amount": "7.00", "owner_id": people["rep"].id})
    wanted = check_fields(records, records.entity("deals"), ["stage_id", "close_date"], ["amount"])
    found, new = ensure(records, wanted)
    crm.session.commit()
    assert new and found.status == "ready"
    return found


def same(crm: Any, user: Any, raw: dict[str, Any], extra: Any = None) -> dict[str, Any]:
    """The report from the rollup, checked equal to the plain query's."""
    from crmcore.permissions import Access

    from crm_insights.reports import parse_definition, run_definition
    from crm_insights.rollups import rollup_builder

    crm.session.expire_all()
    service = crm.records(Access.for_user(user))
    d = parse_definition(service, raw)
    assert rollup_builder(service, d, extra) is not None, raw
    fast = run_definition(service, d, extra)
    plain = run_definition(service, d, extra, rollups=False)
    assert fast == plain, raw
    return fast


def check_all(crm: Any, people: dict[str, Any]) -> None:
    for who in ("admin", "manager", "lead", "rep", "stranger"):
        for raw in ANSWERED:
            same(crm, people[who], raw)


def totals(crm: Any, user: Any) -> dict[str, tuple[int, str]]:
    """Count and sum of the deals ``user`` reads, per currency."""
    rows = same(crm, user, {"entity": "deals", "measures": ["count", "sum:amount"]})["rows"]
    return {r["currency"]: (r["count"], r["sum:amount"]) for r in rows}


def test_the_rollup_answers_as_the_plain_query_after_every_kind_of_write(
    crm: Any, records: Any, people: dict[str, Any], stages: list[int], rollup: Any
) -> None:
    check_all(crm, people)
    assert totals(crm, people["admin"]) == {"EUR": (5, "108.00"), "USD": (1, "5.10")}
    moved = deal(records, people["rep"], stages[0], "2026-03-03", "99.99")
    check_all(crm, people)
    # to another stage, month, owner, currency and amount: one at a time, then all at once
    for change in (
        {"stage_id": stages[2]},
        {"close_date": "2026-05-20"},
        {"owner_id": people["stranger"].id},
        {"currency": "USD"},
        {"amount": "1.01"},
        {"close_date": None},
        {
            "stage_id": stages[0],
            "close_date": "2025-12-31",
            "owner_id": people["mate"].id,
            "currency": "EUR",
            "amount": "3.50",
        },
    ):
        records.update("deals", moved, change)
        check_all(crm, people)
    records.delete("deals", moved)
    check_all(crm, people)
    assert totals(crm, people["admin"]) == {"EUR": (5, "108.00"), "USD": (1, "5.10")}
    records.update("deals", moved, {"amount": "8.00"})  # changed in the trash: still out
    check_all(crm, people)
    records.restore("deals", moved.id)
    check_all(crm, people)
    assert totals(crm, people["admin"]) == {"EUR": (6, "116.00"), "USD": (1, "5.10")}
    rows = [
        {"title": f"Imported {i}", "amount": f"{i}.50", "stage_id": stages[i % 3],
         "close_date": f"2026-0{1 + i % 6}-0{1 + i % 9}", "owner_id": people["mate"].id,
         "currency": "EUR" if i % 4 else "GBP"}
        for i in range(40)
    ] + [{"title": "", "amount": "not a number"}]  # fmt: skip
    made = records.create_many("deals", rows)
    assert isinstance(made[-1], Exception)
    check_all(crm, people)
    assert sum(count for count, _sum in totals(crm, people["admin"]).values()) == 47


def test_each_reader_sees_only_their_scope(
    crm: Any, records: Any, people: dict[str, Any], rollup: Any
) -> None:
    assert totals(crm, people["rep"]) == {"EUR": (3, "57.50")}  # with their undated deal
    assert totals(crm, people["stranger"]) == {"EUR": (1, "30.25")}
    assert totals(crm, people["lead"]) == {"EUR": (4, "77.75"), "USD": (1, "5.10")}  # the team
    assert totals(crm, people["manager"]) == totals(crm, people["admin"])
    assert totals(crm, people["admin"]) == {"EUR": (5, "108.00"), "USD": (1, "5.10")}
    by_owner = same(
        crm, people["admin"], {"entity": "deals", "group_by": ["owner_id"], "measures": ["count"]}
    )
    assert {r["owner_id"]: r["count"] for r in by_owner["rows"]} == {
        people["rep"].id: 3,
        people["mate"].id: 2,
        people["stranger"].id: 1,
    }


def test_a_pinned_date_range_is_answered_by_the_rollup(
    crm: Any, people: dict[str, Any], rollup: Any
) -> None:
    from crmcore.api import listing
    from crmcore.permissions import Access
    from werkzeug.datastructures import MultiDict

    service = crm.records(Access.for_user(people["admin"]))
    args = MultiDict([("close_date__gte", "2026-01-01"), ("close_date__lt", "2026-03-01")])
    params = listing.parse(service.entity("deals"), args, crm.settings.secret_key, list)
    out = same(crm, people["admin"], BY_STAGE_AND_MONTH, {None: params})
    assert sorted(r["close_date:month"] for r in out["rows"]) == [
        "2026-01-01",
        "2026-01-01",
        "2026-02-01",
    ]


@pytest.mark.parametrize(
    "raw",
    [
        {**BY_STAGE_AND_MONTH, "filters": {"title__contains": "Deal"}},  # a field not kept
        {"entity": "deals", "group_by": ["stage_id"], "measures": ["min:amount"]},
        {"entity": "deals", "group_by": ["stage_id"], "measures": ["count_distinct:amount"]},
        {"entity": "deals", "group_by": ["stage_id"], "measures": ["sum:probability"]},
        {"entity": "deals", "group_by": ["created_at:month"], "measures": ["count"]},
        {"entity": "deals", "group_by": ["company_id"], "measures": ["count"]},
        {"entity": "deals", "joins": ["stage_id"], "group_by": ["stage_id.name"]},
        {"entity": "deals", "group_by": ["stage_id"], "filters": {"close_date__isnull": "x"}},
    ],
)
def test_what_a_rollup_cannot_answer_takes_the_plain_query(
    crm: Any, records: Any, people: dict[str, Any], rollup: Any, raw: dict[str, Any]
) -> None:
    from crmcore import ValidationError
    from crmcore.permissions import Access

    from crm_insights.reports import parse_definition, run_definition
    from crm_insights.rollups import rollup_builder

    service = crm.records(Access.for_user(people["rep"]))
    try:
        d = parse_definition(service, {"measures": ["count"], **raw})
    except ValidationError:
        return  # refused before any query (a bad filter value)
    assert rollup_builder(service, d) is None
    assert run_definition(service, d)["rows"] == run_definition(service, d, rollups=False)["rows"]


def test_a_reader_whose_scope_the_rollup_cannot_express_takes_the_plain_query(
    crm: Any, records: Any, session: Any, make_user: Any, rollup: Any
) -> None:
    """Notes are attached to other records: their scope follows the parent's, which a rollup
    does not keep; no rollup of them is made."""
    from crmcore import ValidationError

    from crm_insights.rollups.manage import check_fields

    with pytest.raises(ValidationError) as refused:
        check_fields(records, records.entity("notes"), ["created_at"], [])
    assert set(refused.value.messages) == {"entity", "created_at"}
    with pytest.raises(ValidationError) as refused:
        check_fields(records, records.entity("deals"), ["contact_id", "title"], ["title"])
    assert refused.value.messages == {
        "contact_id": ["A rollup cannot group by this field."],
        "title": ["A rollup sums only whole or decimal number fields."],
    }


def test_a_rollup_that_drifted_is_found_rebuilt_and_not_read_meanwhile(
    crm: Any, records: Any, people: dict[str, Any], rollup: Any, cli: Any
) -> None:
    from crm_sales.models import Deal

    from crm_insights.rollups import check

    assert check(crm, crm.session) == {rollup.id: 0}
    # a write around the record service: the rollup no longer matches the records
    crm.session.execute(update(Deal).where(Deal.title.like("Deal 2026-01%")).values(amount=1))
    crm.session.commit()
    result = cli("insights", "rollup", "check", "--no-fix")
    assert result.exit_code == 1 and f"rollup {rollup.id}: 2 rows differed" in result.output
    crm.session.expire_all()
    assert rollup.status == "drift"
    from crm_insights.reports import parse_definition
    from crm_insights.rollups import rollup_builder

    assert rollup_builder(records, parse_definition(records, BY_STAGE_AND_MONTH)) is None
    result = cli("insights", "rollup", "check")
    assert result.exit_code == 1 and "rebuilt" in result.output
    check_all(crm, people)
    assert cli("insights", "rollup", "check").exit_code == 0


def test_the_cli_declares_lists_rebuilds_and_drops(
    crm: Any, records: Any, people: dict[str, Any], stages: list[int], cli: Any
) -> None:
    deal(records, people["rep"], stages[0], "2026-03-03", "12.00")
    bad = cli("insights", "rollup", "add", "deals", "--group", "contact_id", "--sum", "title")
    assert bad.exit_code != 0
    assert "contact_id: A rollup cannot group by this field." in bad.output
    assert "title: A rollup sums only whole or decimal number fields." in bad.output
    assert cli("insights", "rollup", "add", "nothing", "--group", "x").exit_code != 0
    added = cli("insights", "rollup", "add", "deals", "--group", "stage_id", "--sum", "amount")
    assert added.exit_code == 0 and added.output.endswith("built\n")
    again = cli("insights", "rollup", "add", "deals", "--group", "stage_id")
    assert "already there" in again.output
    listed = cli("insights", "rollup", "list").output
    assert "deals\tgroups=stage_id\tsums=amount\tready\trows=1" in listed
    rollup_id = int(listed.split("\t")[0])
    assert f"rollup {rollup_id}: 1 rows" in cli("insights", "rollup", "rebuild").output
    assert cli("insights", "rollup", "rebuild", "--id", "999").exit_code != 0
    same(crm, people["rep"], {"entity": "deals", "group_by": ["stage_id"], "measures": ["count"]})
    assert cli("insights", "rollup", "drop", str(rollup_id)).exit_code == 0
    assert cli("insights", "rollup", "list").output == ""
    assert cli("insights", "rollup", "drop", str(rollup_id)).exit_code != 0


def test_saved_reports_that_fit_get_a_rollup(
    crm: Any, records: Any, people: dict[str, Any], stages: list[int]
) -> None:
    from crm_insights.rollups import Rollup, for_reports

    deal(records, people["rep"], stages[0], "2026-03-03", "12.00")
    fits = records.create(
        "reports",
        {
            "name": "Pipeline by month",
            "definition": {**BY_STAGE_AND_MONTH, "filters": {"currency": "EUR"}},
            "pinned": True,
            "pin_range": "this_year",
            "pin_field": "close_date",
        },
    )
    records.create(
        "reports",
        {
            "name": "By company name",
            "definition": {"entity": "deals", "joins": ["company_id"], "group_by": ["title"]},
        },
    )
    made = for_reports(crm, crm.session)
    crm.session.commit()
    assert [(r.report_id, r.groups, r.measures) for r in made] == [
        (fits.id, ["stage_id", "close_date"], ["amount"])
    ]
    assert for_reports(crm, crm.session) == []  # made once
    assert len(crm.session.scalars(select(Rollup)).all()) == 1
    same(crm, people["rep"], BY_STAGE_AND_MONTH)


def test_saving_a_report_that_fits_makes_its_rollup_in_the_background(
    crm: Any, records: Any, people: dict[str, Any], stages: list[int], immediate_jobs: Any
) -> None:
    from crm_insights.rollups import Rollup

    deal(records, people["rep"], stages[0], "2026-03-03", "12.00")
    others = records.create(
        "reports",
        {"name": "Smallest deal", "definition": {"entity": "deals", "measures": ["min:amount"]}},
    )
    assert crm.session.scalars(select(Rollup)).all() == []  # min cannot come from a rollup
    from crmcore.permissions import Access

    rep = crm.records(Access.for_user(people["rep"]))
    saved = rep.create("reports", {"name": "Pipeline", "definition": BY_STAGE_AND_MONTH})
    crm.session.expire_all()
    (rollup,) = crm.session.scalars(select(Rollup)).all()
    assert (rollup.report_id, rollup.status) == (saved.id, "ready")
    assert (rollup.groups, rollup.measures) == (["stage_id", "close_date"], ["amount"])
    same(crm, people["rep"], BY_STAGE_AND_MONTH)
    # saved again, or another report the same rollup answers: no second rollup
    rep.update("reports", saved.id, {"name": "Pipeline by month"})
    records.update("reports", others.id, {"definition": {**BY_STAGE_AND_MONTH, "limit": 2}})
    assert len(crm.session.scalars(select(Rollup)).all()) == 1
    # a report changed to a definition that fits another rollup gets that one
    records.update(
        "reports",
        others.id,
        {"definition": {"entity": "deals", "group_by": ["owner_id"], "measures": ["count"]}},
    )
    crm.session.expire_all()
    made = {r.report_id: r.groups for r in crm.session.scalars(select(Rollup))}
    assert made == {saved.id: ["stage_id", "close_date"], others.id: ["owner_id"]}


def test_the_rollup_job_of_a_report_gone_or_changed_meanwhile_makes_nothing(
    app: Any, crm: Any, records: Any, people: dict[str, Any]
) -> None:
    from crm_insights.rollups import Rollup
    from crm_insights.rollups.manage import for_report

    gone = records.create("reports", {"name": "Pipeline", "definition": BY_STAGE_AND_MONTH})
    records.delete("reports", gone.id)
    changed = records.create("reports", {"name": "Count", "definition": BY_STAGE_AND_MONTH})
    records.update(
        "reports", changed.id, {"definition": {"entity": "deals", "measures": ["max:amount"]}}
    )
    assert for_report(app, gone.id) is None
    assert for_report(app, changed.id) is None
    assert for_report(app, 10**9) is None
    assert crm.session.scalars(select(Rollup)).all() == []


def test_a_merge_of_contacts_leaves_the_rollups_right(
    crm: Any, records: Any, people: dict[str, Any], rollup: Any, make_contact: Any
) -> None:
    """Deals re-pointed by a merge keep their stage, date, owner and amount; the rollups hold
    no reference a merge re-points."""
    from crmcore.merging import merge_records

    winner, loser = make_contact(last_name="Keep"), make_contact(last_name="Lose")
    for d in crm.session.scalars(records.query("deals").limit(3)):
        records.update("deals", d, {"contact_id": loser.id})
    merge_records(records, "contacts", winner, loser, {})
    records.commit()
    check_all(crm, people)


def test_a_failed_write_leaves_the_rollup_unchanged(
    crm: Any, records: Any, people: dict[str, Any], stages: list[int], rollup: Any
) -> None:
    from crmcore import CRMError

    before = totals(crm, people["admin"])
    with pytest.raises(CRMError):
        records.create("deals", {"title": "x", "amount": "1.00", "stage_id": 10**6})
    records.rollback()
    assert totals(crm, people["admin"]) == before
    records.create("deals", {"title": "Kept", "amount": "2.00"}, commit=False)
    records.rollback()
    assert totals(crm, people["admin"]) == before


def test_sums_keep_their_cents_over_many_writes(
    crm: Any, records: Any, people: dict[str, Any], stages: list[int], rollup: Any
) -> None:
    made = [deal(records, people["rep"], stages[0], "2026-06-01", "0.10") for _ in range(30)]
    for d in made[:15]:
        records.update("deals", d, {"amount": "0.20"})
    same(crm, people["admin"], BY_STAGE_AND_MONTH)
    out = same(
        crm,
        people["admin"],
        {**BY_STAGE_AND_MONTH, "filters": {"close_date": dt.date(2026, 6, 1).isoformat()}},
    )
    assert [Decimal(r["sum:amount"]) for r in out["rows"]] == [Decimal("4.50")]


def test_yes_no_and_text_groups_through_a_merge_of_contacts(
    crm: Any, records: Any, people: dict[str, Any]
) -> None:
    from crmcore.merging import merge_records

    from crm_insights.rollups.manage import check_fields, ensure

    made = [
        records.create(
            "contacts",
            {
                "first_name": f"P{i}",
                "last_name": "Rolled",
                "email_opt_out": i % 3 == 0,
                "owner_id": people[("rep", "mate", "stranger")[i % 3]].id,
            },
        )
        for i in range(9)
    ]
    wanted = check_fields(records, records.entity("contacts"), ["email_opt_out", "title"], [])
    ensure(records, wanted)
    crm.session.commit()
    definitions = [
        {"entity": "contacts", "group_by": ["email_opt_out", "title"], "measures": ["count"]},
        {"entity": "contacts", "group_by": ["title"], "filters": {"email_opt_out": "true"}},
        {"entity": "contacts", "group_by": ["email_opt_out"], "filters": {"title": "ceo"}},
        {"entity": "contacts", "group_by": ["title"], "filters": {"title__in": "CEO,Buyer"}},
    ]
    records.update("contacts", made[1], {"title": "CEO", "email_opt_out": True})
    records.update("contacts", made[2], {"title": "Buyer"})
    records.update("contacts", made[4], {"title": "CEO"})
    merge_records(records, "contacts", made[1], made[4], {})  # the loser goes to the trash
    records.commit()
    for who in ("admin", "manager", "rep"):  # a rep: their own contacts
        for raw in definitions:
            same(crm, people[who], {"measures": ["count"], **raw})
    out = same(crm, people["admin"], definitions[2])
    assert [(r["email_opt_out"], r["count"]) for r in out["rows"]] == [(True, 1)]


def test_whole_number_sums_and_averages(crm: Any, records: Any, people: dict[str, Any]) -> None:
    from crm_insights.rollups.manage import check_fields, ensure

    for i in range(7):
        records.create(
            "leads",
            {
                "last_name": f"Lead {i}",
                "status": ("new", "contacted")[i % 2],
                "source": "web" if i % 3 else None,
                "score": 10 * i + 1,
                "owner_id": people[("rep", "stranger")[i % 2]].id,
            },
        )
    wanted = check_fields(records, records.entity("leads"), ["status", "source"], ["score"])
    ensure(records, wanted)
    crm.session.commit()
    raw = {
        "entity": "leads",
        "group_by": ["status", "source"],
        "measures": ["count", "sum:score", "avg:score", "count:score"],
    }
    for who in ("admin", "manager", "rep"):
        same(crm, people[who], raw)
    out = same(crm, people["admin"], {"entity": "leads", "measures": ["sum:score", "avg:score"]})
    assert out["rows"] == [{"sum:score": 217, "avg:score": 31.0, "_filter": ""}]


def test_the_nightly_job_makes_the_saved_reports_rollups_and_mends_drift(
    app: Any, crm: Any, records: Any, people: dict[str, Any], stages: list[int]
) -> None:
    from crm_sales.models import Deal

    from crm_insights.rollups import Rollup
    from crm_insights.rollups.manage import nightly

    deal(records, people["rep"], stages[0], "2026-03-03", "12.00")
    records.create("reports", {"name": "Pipeline", "definition": BY_STAGE_AND_MONTH})
    nightly(app)
    crm.session.expire_all()
    (rollup,) = crm.session.scalars(select(Rollup)).all()
    assert rollup.status == "ready" and rollup.checked_at is not None
    crm.session.execute(update(Deal).values(amount=Decimal("1.00")))  # around the service
    crm.session.commit()
    nightly(app)
    check_all(crm, people)
