"""Smaller leaks of issue 17 (finding 9, core part): formulas in the import's rejected-rows
report, unbounded tags, personal tokens that never expire."""

from __future__ import annotations

import csv
import datetime as dt
import re
from pathlib import Path
from typing import Any

import pytest

from crmcore.api.auth import EXPIRES_DAYS_MESSAGE
from crmcore.config import load_settings
from crmcore.db import utcnow
from crmcore.importing import ImportOptions, import_file
from crmcore.permissions import Access
from crmcore.records import MAX_TAGS

FORMULAS = ['=HYPERLINK("https://evil.example","x")', "+1+1", "-2+3", "@SUM(A1)", "\tx"]


def test_rejected_rows_report_neutralises_formulas(crm: Any, tmp_path: Path) -> None:
    source = tmp_path / "in.csv"
    with open(source, "w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["First name", "E-mail", "=cmd|' /C calc'!A0"])
        for formula in FORMULAS:
            writer.writerow([formula, "not-an-email", formula])
    result = import_file(crm, Access.system(), source, ImportOptions(entity="contacts"))
    assert result.rejected == len(FORMULAS) and result.report_path is not None
    with open(result.report_path, encoding="utf-8-sig", newline="") as fh:
        report = list(csv.reader(fh))
    assert report[0][-1] == "'=cmd|' /C calc'!A0"
    for row, formula in zip(report[1:], FORMULAS, strict=True):
        assert row[2] == "'" + formula and row[4] == "'" + formula
        assert not any(cell[:1] in ("=", "+", "-", "@", "\t", "\r") for cell in row)


# tags ------------------------------------------------------------------------------------------


def test_tags_are_capped_per_record(api: Any, make_contact: Any) -> None:
    many = [f"t{i}" for i in range(20_000)]
    r = api.post("/api/v1/contacts", json={"last_name": "Tagged", "tags": many})
    assert r.status_code == 422, r.data[:300]
    assert r.get_json()["errors"]["tags"] == [f"Too many tags: a record has at most {MAX_TAGS}."]
    # duplicates collapse before counting; the cap itself is accepted
    ok = api.post(
        "/api/v1/contacts",
        json={"last_name": "Tagged", "tags": [f"t{i}" for i in range(MAX_TAGS)] + ["t0"] * 10},
    )
    assert ok.status_code == 201 and len(ok.get_json()["tags"]) == MAX_TAGS
    contact = make_contact(last_name="Patch")
    r = api.patch(f"/api/v1/contacts/{contact.id}", json={"tags": many[: MAX_TAGS + 1]})
    assert r.status_code == 422 and "tags" in r.get_json()["errors"]


def test_bulk_tagging_stops_at_the_cap(web: Any, records: Any) -> None:
    full = records.create(
        "contacts", {"last_name": "Full", "tags": [f"t{i}" for i in range(MAX_TAGS)]}
    )
    html = web.get("/contacts").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)  # type: ignore[union-attr]
    r = web.post(
        "/contacts/bulk",
        data={"csrf_token": token, "action": "tag", "tag": "one-more", "ids": [str(full.id)]},
    )
    assert r.status_code in (303, 422)
    records.session.expire_all()
    assert len(records.get("contacts", full.id).tags) == MAX_TAGS


# personal tokens -------------------------------------------------------------------------------


@pytest.mark.parametrize("days", [None, 0, 366, 3650])
def test_personal_tokens_cannot_outlive_the_cap(api: Any, days: Any) -> None:
    r = api.post("/api/v1/auth/tokens", json={"name": "forever", "expires_days": days})
    assert r.status_code == 422, r.data[:300]
    assert "expires_days" in r.get_json()["errors"]


def test_personal_token_lifetime_follows_token_max_days(
    api: Any, crm: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    r = api.post("/api/v1/auth/tokens", json={"name": "year", "expires_days": 365})
    assert r.status_code == 201
    r = api.post("/api/v1/auth/tokens", json={"name": "default"})
    expires = dt.datetime.fromisoformat(r.get_json()["expires_at"])
    assert expires - utcnow() <= dt.timedelta(days=90)
    monkeypatch.setattr(crm.settings, "token_max_days", 30)
    r = api.post("/api/v1/auth/tokens", json={"name": "long", "expires_days": 31})
    assert r.status_code == 422
    assert r.get_json()["errors"]["expires_days"] == [EXPIRES_DAYS_MESSAGE]
    spanish = api.post(
        "/api/v1/auth/tokens",
        json={"name": "long", "expires_days": 31},
        headers={"Accept-Language": "es"},
    )
    assert "token_max_days" in spanish.get_json()["errors"]["expires_days"][0]
    assert spanish.get_json()["errors"]["expires_days"] != [EXPIRES_DAYS_MESSAGE]


def test_token_page_offers_no_never(web: Any, crm: Any) -> None:
    html = web.get("/account/tokens").get_data(as_text=True)
    assert 'value="never"' not in html and 'value="365"' in html
    token = re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)  # type: ignore[union-attr]
    r = web.post(
        "/account/tokens", data={"csrf_token": token, "name": "x", "expires_days": "never"}
    )
    assert r.status_code == 422
    assert "every token expires within 365 days" in r.get_data(as_text=True)


def test_cli_token_needs_an_expiry_within_the_cap(cli: Any, make_user: Any) -> None:
    make_user("sales_rep", email="cap@example.com")
    for days in ("0", "366"):
        result = cli("tokens", "create", "cap@example.com", "--days", days)
        assert result.exit_code != 0 and "--days" in result.output
    assert cli("tokens", "create", "cap@example.com", "--days", "365").exit_code == 0


def test_token_max_days_is_configurable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CRM_TOKEN_MAX_DAYS", raising=False)
    assert load_settings(tmp_path).token_max_days == 365
    (tmp_path / "crm.toml").write_text("token_max_days = 30\n", encoding="utf-8")
    assert load_settings(tmp_path).token_max_days == 30
    monkeypatch.setenv("CRM_TOKEN_MAX_DAYS", "7")
    assert load_settings(tmp_path).token_max_days == 7


def test_a_tag_of_blanks_only_is_refused(api):
    """A form feed passes a length check of 1 and would be stored as an empty tag."""
    for tags in (["\f"], [" "], ["ok", "\t"]):
        r = api.post("/api/v1/contacts", json={"last_name": "Blank", "tags": tags})
        assert r.status_code == 422, (tags, r.get_json())
        assert "tags" in r.get_json()["errors"]
