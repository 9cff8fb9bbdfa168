"""The plugin as a whole: migrations match the models, disabling keeps every row."""

from __future__ import annotations

from crmcore.testing import assert_plugin_migrates_and_survives_disable


def test_migrates_and_survives_disable(crm, records):
    records.create("segments", {"name": "VIP", "query": "tags=vip"})
    assert_plugin_migrates_and_survives_disable(crm, "marketing")


def test_entities_in_the_api(api):
    created = api.post("/api/v1/segments", json={"name": "Spain", "query": "country=ES"})
    assert created.status_code == 201, created.get_json()
    listed = api.get("/api/v1/segments").get_json()["data"]
    assert [s["name"] for s in listed] == ["Spain"]
