"""A widget's ``controls`` (a GET form of the dashboard) are cleaned before the page shows
them, and a malformed description is dropped instead of breaking the page."""

from __future__ import annotations

from crmcore.web.dashboard import controls_of, parts_of


def test_controls_are_cleaned() -> None:
    value = {
        "label": "Range of <b>x</b>",
        "note": "now",
        "fields": [
            {
                "name": "r",
                "label": "Range",
                "type": "select",
                "options": [["", "As saved"], ("this_month", "This month")],
                "value": "this_month",
            },
            {"name": "from", "label": "From", "type": "date", "value": None},
        ],
    }
    got = controls_of(value)
    assert got is not None
    assert got["label"] == "Range of <b>x</b>"  # text: the template escapes it
    assert got["error"] == "" and got["note"] == "now"
    assert got["fields"][0]["options"] == [("", "As saved"), ("this_month", "This month")]
    assert got["fields"][1] == {
        "name": "from",
        "label": "From",
        "type": "date",
        "value": "",
        "options": [],
    }


def test_malformed_controls_are_dropped() -> None:
    assert controls_of(None) is None
    assert controls_of({"fields": "x"}) is None
    assert controls_of({"fields": [{"type": "script"}]}) is None
    assert controls_of({"fields": [{"type": "select", "options": [["only one"]]}]}) is None


def test_controls_are_not_shown_as_a_table() -> None:
    parts = parts_of({"controls": {"fields": []}, "Count": 3}, lambda v: {"kind": "value"})
    assert [key for key, _part in parts] == ["Count"]
