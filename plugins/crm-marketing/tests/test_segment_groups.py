"""OR groups of a dynamic segment: the segment's query, company query and conditions are its
first group, ``or_groups`` more; a contact is a member when it matches any group. The API's
members and count, the builder's live count and sample and a campaign's recipients agree."""

from __future__ import annotations

import re

import pytest
from crm_marketing import outbox
from sending_kit import make_campaign, rows
from tracking_kit import csrf_of

pytestmark = pytest.mark.crm_plugins("marketing")

BUILD = "/marketing/segments/build"
PREVIEW = "/marketing/segments/build/preview"


@pytest.fixture
def people(make_contact, make_company):
    acme = make_company(name="Acme Korea", domain="acme.kr")
    return {
        "ana": make_contact(first_name="Ana", email="ana@example.net", country="ES", tags=["vip"]),
        "kim": make_contact(first_name="Kim", email="kim@example.net", country="KR"),
        "eva": make_contact(first_name="Eva", email="eva@example.net", country="ES"),
        "lee": make_contact(
            first_name="Lee", email="lee@example.net", country="FR", company_id=acme.id
        ),
    }


def count_of(html):
    found = re.search(r'data-testid="builder-count">(\d+)<', html)
    return int(found.group(1)) if found else None


def test_a_contact_matching_any_group_is_a_member(api, people):
    body = {
        "name": "VIPs in Spain, or Korea, or Acme",
        "query": "country=ES&tags=vip",
        "or_groups": [{"query": "country=KR"}, {"company_query": "domain=acme.kr"}],
    }
    made = api.post("/api/v1/segments", json=body)
    assert made.status_code == 201, made.get_json()
    segment = made.get_json()
    assert segment["or_groups"] == [
        {"query": "country=KR", "company_query": "", "conditions": []},
        {"query": "", "company_query": "domain=acme.kr", "conditions": []},
    ]
    members = api.get(f"/api/v1/segments/{segment['id']}/members").get_json()["data"]
    assert sorted(m["email"] for m in members) == [
        "ana@example.net",
        "kim@example.net",
        "lee@example.net",
    ]
    count = api.get(f"/api/v1/segments/{segment['id']}/count").get_json()["member_count"]
    assert count == 3
    # without the groups it is the first group alone
    api.patch(f"/api/v1/segments/{segment['id']}", json={"or_groups": []})
    assert api.get(f"/api/v1/segments/{segment['id']}/count").get_json()["member_count"] == 1


@pytest.mark.parametrize(
    ("groups", "expected"),
    [
        ([{"query": "nope=1"}], {"1": {"query": ["'nope' is not a filter of contacts."]}}),
        ([{"queries": "country=ES"}], "1"),
        ("country=ES", ["Not a valid list."]),
        ([{"query": ["country=ES"]}], "1"),
        ([{"query": "country=ES"}] * 11, ["At most 10 more groups."]),
    ],
)
def test_bad_groups_are_422_on_or_groups(api, groups, expected):
    bad = api.post("/api/v1/segments", json={"name": "Bad groups", "or_groups": groups})
    assert bad.status_code == 422, bad.get_json()
    errors = bad.get_json()["errors"]["or_groups"]
    if isinstance(expected, str):
        assert expected in errors
    elif isinstance(expected, dict):
        assert set(errors) == set(expected)
    else:
        assert errors == expected


def test_a_static_segment_has_no_groups(api):
    bad = api.post(
        "/api/v1/segments",
        json={"name": "Listed", "kind": "static", "or_groups": [{"query": "country=ES"}]},
    )
    assert bad.status_code == 422 and "or_groups" in bad.get_json()["errors"]


def test_a_campaign_sends_to_every_group(crm, api, records, session, people):
    segment = records.create(
        "segments",
        {"name": "Spain or Korea", "query": "country=ES", "or_groups": [{"query": "country=KR"}]},
    )
    campaign = make_campaign(records, segment)
    outbox.materialise(crm, session, campaign)
    session.commit()
    assert sorted(rows(session, campaign)) == [
        "ana@example.net",
        "eva@example.net",
        "kim@example.net",
    ]


def test_the_builder_builds_groups_counts_them_like_the_api_and_opens_them_again(
    web_as, api_as, marketer, people
):
    client = web_as(marketer)
    page = client.get(BUILD).get_data(as_text=True)
    data = {"csrf_token": csrf_of(page), "name": "Spain VIPs or Korea"}
    # "Add an OR group" without JavaScript: a second group with a blank row
    added = client.post(
        BUILD,
        data=data | {"field-0": "contact.country", "op-0": "eq", "value-0": "ES",
                     "group-0": "0", "action": "add-group"},
    ).get_data(as_text=True)  # fmt: skip
    assert added.count('data-testid="builder-group"') == 2
    assert 'name="group-1" value="1"' in added and 'value="ES"' in added
    rows_ = {
        "field-0": "contact.country", "op-0": "eq", "value-0": "ES", "group-0": "0",
        "field-1": "contact.tags", "op-1": "eq", "value-1": "vip", "group-1": "0",
        "field-2": "contact.country", "op-2": "eq", "value-2": "KR", "group-2": "1",
    }  # fmt: skip
    html = client.post(PREVIEW, data=data | rows_).get_data(as_text=True)
    assert count_of(html) == 2 and "ana@example.net" in html and "kim@example.net" in html
    assert "eva@" not in html
    assert "country=ES&amp;tags=vip" in html and 'data-testid="builder-query-2">country=KR' in html
    saved = client.post(BUILD, data=data | rows_ | {"action": "save"})
    assert saved.status_code == 303, saved.get_data(as_text=True)
    segment_id = int(saved.headers["Location"].rstrip("/").rsplit("/", 1)[1])
    api = api_as(marketer)
    body = api.get(f"/api/v1/segments/{segment_id}").get_json()
    assert body["query"] == "country=ES&tags=vip"
    assert body["or_groups"] == [{"query": "country=KR", "company_query": "", "conditions": []}]
    assert api.get(f"/api/v1/segments/{segment_id}/count").get_json()["member_count"] == 2
    again = client.get(f"/marketing/segments/{segment_id}/build").get_data(as_text=True)
    assert again.count('data-testid="builder-group"') == 2 and count_of(again) == 2
    assert 'name="group-2" value="1"' in again


def test_a_bad_row_of_a_later_group_is_named_and_kept(web_as, marketer, people):
    client = web_as(marketer)
    data = {"csrf_token": csrf_of(client.get(BUILD).get_data(as_text=True)), "name": "Bad"}
    rows_ = {
        "field-0": "contact.country", "op-0": "eq", "value-0": "ES", "group-0": "0",
        "field-1": "contact.created_at", "op-1": "gte", "value-1": "soon", "group-1": "1",
    }  # fmt: skip
    preview = client.post(PREVIEW, data=data | rows_).get_data(as_text=True)
    assert "Group 2:" in preview and "created_at" in preview
    saved = client.post(BUILD, data=data | rows_ | {"action": "save"})
    assert saved.status_code == 422
    html = saved.get_data(as_text=True)
    assert "Group 2:" in html and 'value="soon"' in html
