"""The segment builder page: rows of field / operator / value saved as the segment's filter
language, a live count and a sample (checked against the API's count), bad input kept with a
message on its row or field and never a 500."""

from __future__ import annotations

import re

import pytest
from crm_marketing import builder
from crm_marketing.models import Segment
from sqlalchemy import select
from tracking_kit import csrf_of

BUILD = "/marketing/segments/build"
PREVIEW = "/marketing/segments/build/preview"


@pytest.fixture
def people(make_contact, make_company):
    acme = make_company(name="Acme Spain", domain="acme.es")
    return [
        make_contact(
            first_name="Ana",
            email="ana@example.net",
            country="ES",
            tags=["winter"],
            company_id=acme.id,
        ),
        make_contact(first_name="Luis", email="luis@example.net", country="ES", tags=["winter"]),
        make_contact(first_name="Kim", email="kim@example.net", country="KR", tags=["winter"]),
        make_contact(first_name="Eva", email="eva@example.net", country="ES", tags=["summer"]),
    ]


def form(client, url=BUILD, **rows_and_fields):
    html = client.get(url).get_data(as_text=True)
    return {"csrf_token": csrf_of(html), **rows_and_fields}


def rows(*triples):
    data = {}
    for i, (field, op, value) in enumerate(triples):
        data |= {f"field-{i}": field, f"op-{i}": op, f"value-{i}": value}
    return data


def count_of(html):
    found = re.search(r'data-testid="builder-count">(\d+)<', html)
    return int(found.group(1)) if found else None


def test_rows_become_the_filter_language_and_back():
    made = builder.to_segment(
        [
            builder.Row("contact.tags", "eq", "winter"),
            builder.Row("contact.country", "in", "ES,PT"),
            builder.Row("custom.level", "ne", "gold"),
            builder.Row("company.domain", "contains", "acme"),
            builder.Row("purchase.lifetime_value_over", "eq", "500 EUR"),
            builder.Row(),  # blank rows are skipped
        ]
    )
    assert made["query"] == "tags=winter&country__in=ES%2CPT&custom.level__ne=gold"
    assert made["company_query"] == "domain__contains=acme"
    assert made["conditions"] == [
        {"type": "lifetime_value_over", "amount": "500", "currency": "EUR"}
    ]
    back = builder.from_segment(made["query"], made["company_query"], made["conditions"])
    assert [(r.field, r.op, r.value) for r in back] == [
        ("contact.tags", "eq", "winter"),
        ("contact.country", "in", "ES,PT"),
        ("custom.level", "ne", "gold"),
        ("company.domain", "contains", "acme"),
        ("purchase.lifetime_value_over", "eq", "500 EUR"),
    ]
    assert builder.from_segment("q=ana", "", []) is None  # a search is edited as text
    with pytest.raises(builder.RowError):
        builder.to_segment([builder.Row("", "eq", "x")])


def test_live_count_and_sample_match_the_api(web_as, api_as, marketer, people):
    client = web_as(marketer)
    data = form(client) | rows(("contact.tags", "eq", "winter"), ("contact.country", "eq", "ES"))
    preview = client.post(PREVIEW, data=data)
    assert preview.status_code == 200
    html = preview.get_data(as_text=True)
    assert count_of(html) == 2
    assert "ana@example.net" in html and "luis@example.net" in html and "kim@" not in html

    saved = client.post(BUILD, data=data | {"name": "Winter in Spain", "action": "save"})
    assert saved.status_code == 303
    segment_id = int(saved.headers["Location"].rstrip("/").rsplit("/", 1)[1])
    api = api_as(marketer)
    body = api.get(f"/api/v1/segments/{segment_id}").get_json()
    assert body["query"] == "tags=winter&country=ES"
    assert api.get(f"/api/v1/segments/{segment_id}/count").get_json()["member_count"] == 2

    # opened again in the builder: the same rows, the same count
    page = client.get(f"/marketing/segments/{segment_id}/build").get_data(as_text=True)
    assert 'value="winter"' in page and 'value="ES"' in page and count_of(page) == 2


def test_company_rows_choose_by_company(web_as, api_as, marketer, people):
    client = web_as(marketer)
    data = form(client) | rows(("company.domain", "eq", "acme.es"))
    html = client.post(PREVIEW, data=data).get_data(as_text=True)
    assert count_of(html) == 1 and "ana@example.net" in html


def test_add_and_remove_rows_keep_what_was_typed(web_as, marketer):
    client = web_as(marketer)
    data = form(client) | rows(("contact.country", "eq", "ES")) | {"name": "Kept"}
    added = client.post(BUILD, data=data | {"action": "add"}).get_data(as_text=True)
    assert added.count('data-testid="builder-row"') == 2
    assert 'value="ES"' in added and 'value="Kept"' in added
    more = data | rows(("contact.country", "eq", "ES"), ("contact.tags", "eq", "winter"))
    removed = client.post(BUILD, data=more | {"action": "remove-0"}).get_data(as_text=True)
    assert removed.count('data-testid="builder-row"') == 1 and 'value="winter"' in removed


@pytest.mark.parametrize(
    ("triple", "message"),
    [
        (("contact.created_at", "gte", "yesterday-ish"), "created_at"),
        (("contact.nope", "eq", "x"), "nope"),
        (("contact.tags", "gt", "x"), "Tags take"),
        (("", "eq", "typed"), "Choose a field"),
        (("purchase.lifetime_value_over", "eq", "500"), "currency"),
        (("purchase.no_order_in_days", "eq", "30"), "sales"),  # crm-sales is not enabled
    ],
)
def test_bad_rows_get_a_message_and_keep_the_input(
    web_as, marketer, session, people, triple, message
):
    client = web_as(marketer)
    data = form(client) | rows(triple)
    preview = client.post(PREVIEW, data=data)
    assert preview.status_code == 200 and message in preview.get_data(as_text=True)
    saved = client.post(BUILD, data=data | {"name": "Bad one", "action": "save"})
    assert saved.status_code == 422
    html = saved.get_data(as_text=True)
    assert message in html and 'value="Bad one"' in html
    assert f'value="{triple[2]}"' in html
    assert session.scalar(select(Segment).where(Segment.name == "Bad one")) is None


def test_a_missing_name_is_shown_on_the_field(web_as, marketer):
    client = web_as(marketer)
    data = form(client) | rows(("contact.country", "eq", "ES"))
    saved = client.post(BUILD, data=data | {"name": " ", "action": "save"})
    assert saved.status_code == 422
    assert 'id="segment-name-error"' in saved.get_data(as_text=True)


def test_needs_csrf_and_sign_in(app, web_as, marketer):
    client = web_as(marketer)
    assert client.post(BUILD, data=rows(("contact.country", "eq", "ES"))).status_code in (400, 403)
    assert app.test_client().get(BUILD).status_code == 302


def test_read_only_users_cannot_save(web_as, make_user, session):
    reader = make_user("read_only")
    client = web_as(reader)
    page = client.get(BUILD)
    if page.status_code != 200:
        assert page.status_code == 403
        return
    data = {"csrf_token": csrf_of(page.get_data(as_text=True))}
    data |= rows(("contact.country", "eq", "ES")) | {"name": "Nope", "action": "save"}
    r = client.post(BUILD, data=data)
    assert r.status_code in (403, 422)
    assert session.scalar(select(Segment).where(Segment.name == "Nope")) is None
