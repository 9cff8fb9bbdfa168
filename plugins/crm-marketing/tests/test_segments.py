"""Dynamic segments: the contacts list language, company queries, members, counts, scope."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from crm_marketing.models import Segment
from crm_marketing.segments import count, members_query
from sqlalchemy import event


def _segment(records: Any, **fields: Any) -> Segment:
    return records.create("segments", {"name": f"Segment {fields}", **fields})


def _ids(records: Any, segment: Segment) -> set[int]:
    stmt = members_query(records.crm, records, segment)
    return {c.id for c in records.session.scalars(stmt)}


def _member_ids(client: Any, segment_id: int, query: str = "") -> list[int]:
    """Every member over all pages, following next_cursor."""
    ids: list[int] = []
    url = f"/api/v1/segments/{segment_id}/members?limit=2{query}"
    while url:
        response = client.get(url)
        assert response.status_code == 200, response.get_json()
        body = response.get_json()
        ids += [c["id"] for c in body["data"]]
        cursor = body["next_cursor"]
        url = (
            f"/api/v1/segments/{segment_id}/members?limit=2{query}&cursor={cursor}"
            if cursor
            else ""
        )
    return ids


# choosing contacts ---------------------------------------------------------------------------


def test_query_with_tags_and_country(records, make_contact):
    vip_es = make_contact(tags=["vip"], country="ES")
    vip_es2 = make_contact(tags=["vip", "newsletter"], country="es")
    make_contact(tags=["vip"], country="FR")
    make_contact(tags=["other"], country="ES")
    make_contact(country="ES")
    segment = _segment(records, query="tags=vip&country=ES")
    assert _ids(records, segment) == {vip_es.id, vip_es2.id}
    assert count(records, segment) == 2


def test_empty_query_is_every_contact_and_operators_work(records, make_contact):
    a = make_contact(city="Madrid", tags=["a"])
    b = make_contact(city="Sevilla", tags=["b"])
    c = make_contact(city=None, tags=[])
    assert _ids(records, _segment(records, query="")) == {a.id, b.id, c.id}
    assert _ids(records, _segment(records, query="tags__ne=a")) == {b.id, c.id}
    assert _ids(records, _segment(records, query="tags__in=a,b")) == {a.id, b.id}
    assert _ids(records, _segment(records, query="city__isnull=true")) == {c.id}
    assert _ids(records, _segment(records, query="?city__contains=evil")) == {b.id}


def test_query_with_a_full_text_search(records, make_contact):
    jose = make_contact(first_name="José", last_name="Álvarez")
    make_contact(first_name="Ana", last_name="Pérez")
    assert _ids(records, _segment(records, query="q=jose")) == {jose.id}


def test_company_query(records, make_contact, make_company):
    madrid = make_company(name="Acme Madrid", city="Madrid", industry="Retail")
    paris = make_company(name="Acme Paris", city="Paris", industry="Retail")
    bank = make_company(name="Bank", city="Madrid", industry="Finance")
    at_madrid = make_contact(company_id=madrid.id, tags=["vip"])
    make_contact(company_id=madrid.id)
    at_paris = make_contact(company_id=paris.id, tags=["vip"])
    make_contact(company_id=bank.id, tags=["vip"])
    make_contact(tags=["vip"])  # no company: never matches a company query
    retail = _segment(records, company_query="industry=retail")
    assert count(records, retail) == 3
    both = _segment(records, query="tags=vip", company_query="industry=Retail&city=Madrid")
    assert _ids(records, both) == {at_madrid.id}
    searched = _segment(records, query="tags=vip", company_query="q=paris")
    assert _ids(records, searched) == {at_paris.id}


def test_trashed_contacts_and_companies_are_not_members(records, make_contact, make_company):
    company = make_company(industry="Retail")
    kept = make_contact(tags=["vip"], company_id=company.id)
    trashed = make_contact(tags=["vip"], company_id=company.id)
    segment = _segment(records, query="tags=vip", company_query="industry=Retail")
    assert _ids(records, segment) == {kept.id, trashed.id}  # seen before it goes
    records.delete("contacts", trashed)
    assert _ids(records, segment) == {kept.id}
    records.delete("companies", company)
    assert _ids(records, segment) == set()


def test_members_query_is_one_select_usable_as_a_subquery(crm, records, make_contact, session):
    from crm_marketing.models import SegmentMember
    from sqlalchemy import func, select

    for _ in range(3):
        make_contact(tags=["vip"])
    segment = _segment(records, query="tags=vip", company_query="")
    static = records.create("segments", {"name": "Target", "kind": "static"})
    stmt = members_query(crm, records, segment)
    ids = stmt.with_only_columns(
        func.cast(static.id, SegmentMember.segment_id.type), stmt.selected_columns.id
    )
    from sqlalchemy import insert

    session.execute(insert(SegmentMember).from_select(["segment_id", "contact_id"], ids))
    assert session.scalar(select(func.count()).select_from(SegmentMember)) == 3
    assert count(records, static) == 3


# the API -----------------------------------------------------------------------------------


def test_members_and_count_over_the_api(api, make_contact):
    members = [make_contact(tags=["vip"], last_name=f"Vip {i}") for i in range(5)]
    make_contact(tags=["no"])
    created = api.post("/api/v1/segments", json={"name": "VIPs", "query": "tags=vip"}).get_json()
    assert sorted(_member_ids(api, created["id"])) == sorted(m.id for m in members)
    page = api.get(f"/api/v1/segments/{created['id']}/members?sort=last_name&limit=2").get_json()
    assert [c["last_name"] for c in page["data"]] == ["Vip 0", "Vip 1"]
    assert page["data"][0]["tags"] == ["vip"] and "email" in page["data"][0]
    narrowed = api.get(f"/api/v1/segments/{created['id']}/members?last_name=Vip 3").get_json()
    assert [c["id"] for c in narrowed["data"]] == [members[3].id]
    counted = api.get(f"/api/v1/segments/{created['id']}/count").get_json()
    assert counted == {"id": created["id"], "kind": "dynamic", "member_count": 5}


def test_count_follows_changes(api, records, make_contact):
    segment = api.post("/api/v1/segments", json={"name": "S", "query": "country=PT"}).get_json()
    url = f"/api/v1/segments/{segment['id']}/count"
    assert api.get(url).get_json()["member_count"] == 0
    contact = make_contact(country="PT")
    assert api.get(url).get_json()["member_count"] == 1
    records.update("contacts", contact, {"country": "ES"})
    assert api.get(url).get_json()["member_count"] == 0


def test_unknown_segment_answers_404(api):
    for url in ("/api/v1/segments/999999/members", "/api/v1/segments/999999/count"):
        response = api.get(url)
        assert response.status_code == 404
        assert response.headers["Content-Type"] == "application/problem+json"


def test_member_list_bad_parameters_are_400(api):
    segment = api.post("/api/v1/segments", json={"name": "S"}).get_json()
    base = f"/api/v1/segments/{segment['id']}/members"
    for query, field in (
        ("?sort=password", "sort"),
        ("?limit=0", "limit"),
        ("?cursor=forged", "cursor"),
        ("?trashed=true", "trashed"),
        ("?colour=red", "colour"),
    ):
        response = api.get(base + query)
        assert response.status_code == 400, (query, response.get_json())
        assert field in response.get_json()["errors"]


# bad queries are refused when saved ---------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "field", "words"),
    [
        ({"query": "colour=red"}, "query", "Cannot filter by 'colour'"),
        ({"query": "password=x"}, "query", "Cannot filter by 'password'"),
        ({"query": "created_at__gte=yesterday"}, "query", "created_at"),
        ({"query": "email_opt_out=perhaps"}, "query", "email_opt_out"),
        ({"query": "tags__gt=vip"}, "query", "Tags take the operators"),
        ({"query": "city__near=Madrid"}, "query", "Unknown operator"),
        ({"query": "id=12345678901234567890"}, "query", "id"),
        ({"query": "country="}, "query", "country: give a value"),
        ({"query": "custom.level=gold"}, "query", "No custom field called 'level'"),
        ({"query": "sort=-id"}, "query", "sort: a segment's query takes filters"),
        ({"query": "limit=5"}, "query", "limit"),
        ({"query": "tags=vip&" + "&".join(f"c{i}=1" for i in range(60))}, "query", "At most"),
        ({"company_query": "tags=partner"}, "company_query", "Cannot filter by 'tags'"),
        ({"company_query": "industry__isnull=maybe"}, "company_query", "industry"),
        ({"kind": "static", "query": "tags=vip"}, "query", "static segment"),
        ({"kind": "static", "company_query": "city=X"}, "company_query", "static segment"),
        ({"kind": "static", "conditions": [{"type": "x"}]}, "conditions", "static segment"),
    ],
)
def test_bad_queries_are_422_with_field_messages(api, body, field, words):
    response = api.post("/api/v1/segments", json={"name": "Bad", **body})
    assert response.status_code == 422, response.get_json()
    problem = response.get_json()
    assert response.headers["Content-Type"] == "application/problem+json"
    assert any(words in message for message in problem["errors"][field]), problem
    assert api.get("/api/v1/segments").get_json()["data"] == []


def test_every_bad_filter_is_named_at_once(api):
    response = api.post(
        "/api/v1/segments",
        json={"name": "Bad", "query": "colour=red&country=ES&size=xl", "company_query": "x=1"},
    )
    errors = response.get_json()["errors"]
    assert len(errors["query"]) == 2
    assert any("colour" in m for m in errors["query"]) and any("size" in m for m in errors["query"])
    assert "x" in errors["company_query"][0]


def test_good_queries_are_kept_and_a_change_is_checked(api):
    created = api.post(
        "/api/v1/segments",
        json={
            "name": "Good",
            "query": "?tags=vip&country=ES&created_at__gte=2026-01-01",
            "company_query": "industry=Retail",
        },
    )
    assert created.status_code == 201, created.get_json()
    body = created.get_json()
    assert body["query"] == "tags=vip&country=ES&created_at__gte=2026-01-01"
    url = f"/api/v1/segments/{body['id']}"
    assert api.patch(url, json={"query": "colour=red"}).status_code == 422
    assert api.get(url).get_json()["query"] == body["query"]
    changed = api.patch(url, json={"query": "country=FR"})
    assert changed.status_code == 200
    assert changed.get_json()["query"] == "country=FR"
    assert api.patch(url, json={"kind": "static"}).status_code == 422


def test_custom_field_filters_and_a_field_deleted_later(api, records, make_contact):
    records.create(
        "custom_fields",
        {"entity": "contacts", "name": "level", "label": "Level", "type": "text"},
    )
    gold = make_contact(custom_fields={"level": "gold"})
    make_contact(custom_fields={"level": "silver"})
    created = api.post("/api/v1/segments", json={"name": "Gold", "query": "custom.level=gold"})
    assert created.status_code == 201, created.get_json()
    segment_id = created.get_json()["id"]
    assert _member_ids(api, segment_id) == [gold.id]
    field = records.session.scalar(_custom_field_query())
    records.delete("custom_fields", field)
    response = api.get(f"/api/v1/segments/{segment_id}/members")
    assert response.status_code == 409
    assert "no longer works" in response.get_json()["detail"]


def _custom_field_query() -> Any:
    from sqlalchemy import select

    from crmcore.customfields import CustomField

    return select(CustomField).where(CustomField.name == "level")


# scope -------------------------------------------------------------------------------------


def test_own_scope_sees_and_counts_only_own_contacts(api_as, make_user, make_contact, records):
    rep = make_user("sales_rep")
    other = make_user("sales_rep")
    mine = [make_contact(tags=["vip"], owner_id=rep.id) for _ in range(2)]
    theirs = make_contact(tags=["vip"], owner_id=other.id)
    make_contact(tags=["vip"])  # nobody's
    segment = records.create("segments", {"name": "VIP", "query": "tags=vip"})
    # the sales rep may read segments only once a role grants it
    role = rep.role
    records.update("roles", role, {"grants": {**role.grants, "segments": {"read": "all"}}})
    client = api_as(rep)
    assert sorted(_member_ids(client, segment.id)) == sorted(c.id for c in mine)
    assert client.get(f"/api/v1/segments/{segment.id}/count").get_json()["member_count"] == 2
    assert theirs.id not in _member_ids(client, segment.id, f"&id={theirs.id}")
    # the system (what sending uses) sees all four
    assert count(records, segment) == 4


def test_segments_need_their_read_permission(api_as, make_user, records):
    rep = make_user("sales_rep")  # contacts yes, segments no
    segment = records.create("segments", {"name": "VIP", "query": "tags=vip"})
    client = api_as(rep)
    for url in (f"/api/v1/segments/{segment.id}/members", f"/api/v1/segments/{segment.id}/count"):
        assert client.get(url).status_code == 403


def test_a_reader_without_contacts_gets_403(api_as, make_user, records):
    user = make_user("read_only")
    role = user.role
    records.update("roles", role, {"grants": {"segments": {"read": "all"}}})
    segment = records.create("segments", {"name": "VIP", "query": "tags=vip"})
    response = api_as(user).get(f"/api/v1/segments/{segment.id}/members")
    assert response.status_code == 403


def test_company_query_follows_the_company_scope(api_as, make_user, make_contact, records):
    rep = make_user("sales_rep")
    own_company = records.create(
        "companies", {"name": "Mine", "industry": "Retail", "owner_id": rep.id}
    )
    other_company = records.create("companies", {"name": "Other", "industry": "Retail"})
    a = make_contact(owner_id=rep.id, company_id=own_company.id)
    make_contact(owner_id=rep.id, company_id=other_company.id)
    segment = records.create("segments", {"name": "Retail", "company_query": "industry=Retail"})
    role = rep.role
    records.update("roles", role, {"grants": {**role.grants, "segments": {"read": "all"}}})
    assert _member_ids(api_as(rep), segment.id) == [a.id]
    assert count(records, segment) == 2


# no N+1 --------------------------------------------------------------------------------------

_IGNORED = ("BEGIN", "SAVEPOINT", "RELEASE", "ROLLBACK", "COMMIT", "PRAGMA")


@contextmanager
def counting(crm: Any) -> Iterator[list[str]]:
    statements: list[str] = []

    def before(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if not statement.lstrip().upper().startswith(_IGNORED):
            statements.append(statement)

    event.listen(crm.engine, "before_cursor_execute", before)
    try:
        yield statements
    finally:
        event.remove(crm.engine, "before_cursor_execute", before)


def _statements(crm: Any, client: Any, url: str) -> int:
    client.get(url)  # warm caches like a running server
    with counting(crm) as statements:
        response = client.get(url)
    assert response.status_code == 200, response.get_json()
    return len(statements)


def test_member_listing_does_not_grow_with_its_rows(crm, api, records, make_contact, make_company):
    company = make_company(industry="Retail")
    segment = records.create(
        "segments", {"name": "S", "query": "tags=vip", "company_query": "industry=Retail"}
    )
    static = records.create("segments", {"name": "L", "kind": "static"})
    for _ in range(2):
        make_contact(tags=["vip"], company_id=company.id)
    url = f"/api/v1/segments/{segment.id}/members?limit=100"
    few = _statements(crm, api, url)
    for _ in range(25):
        make_contact(tags=["vip"], company_id=company.id)
    many = _statements(crm, api, url)
    assert many == few
    assert many <= 4  # token's user, enabled plugins, the segment, the page
    assert _statements(crm, api, f"/api/v1/segments/{segment.id}/count") <= 4
    assert _statements(crm, api, f"/api/v1/segments/{static.id}/members") <= 4


def test_the_endpoints_are_in_the_openapi_document(api):
    spec = api.get("/api/v1/openapi.json").get_json()
    paths = spec["paths"]
    members = paths["/api/v1/segments/{segment_id}/members"]
    assert {"get", "post"} <= set(members)
    assert "delete" in paths["/api/v1/segments/{segment_id}/members/{contact_id}"]
    assert "get" in paths["/api/v1/segments/{segment_id}/count"]
    assert "post" in paths["/api/v1/segments/{segment_id}/import"]
    ref = members["get"]["responses"]["200"]["content"]["application/json"]["schema"]
    item = ref["properties"]["data"]["items"]["$ref"].rsplit("/", 1)[1]
    assert "email" in spec["components"]["schemas"][item]["properties"]
