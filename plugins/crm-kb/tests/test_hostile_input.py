"""The help centre and the kb API against hostile input (issue 17, findings 8 and 9): Unicode
digits, ids beyond the database, bodies that are not JSON, and a forged ``Host`` header that must
never reach a cached page or the suggestion links."""

from __future__ import annotations

from typing import Any

import pytest

from crmcore.links import base_url

pytestmark = pytest.mark.crm_plugins("kb")

JSON = {"Content-Type": "application/json"}
EVIL = "evil.example"


@pytest.mark.parametrize("ref", ["²", "2147483648", "9" * 40, "\u0661"])
def test_odd_article_refs_are_404(client: Any, make_article: Any, ref: str) -> None:
    make_article("Reset a password")
    assert client.get(f"/help/articles/{ref}").status_code == 404
    assert client.get(f"/help/articles/{ref}/feedback").status_code == 404


@pytest.mark.parametrize("limit", ["²", "٣", "9" * 5000, "-1", "1e3"])
def test_suggest_limit_must_be_ascii_digits(client: Any, limit: str) -> None:
    r = client.get(f"/api/v1/kb/suggest?q=password&limit={limit}")
    assert r.status_code == 422, r.data[:300]
    assert r.get_json()["errors"]["limit"] == ["Must be a whole number."]


@pytest.mark.parametrize(
    "body",
    ["{bad", "[" * 5000 + "]" * 5000, '{"article_id": 1, "query": "\\ud800"}', "x" * 10],
)
def test_deflections_refuse_bad_json(client: Any, body: str) -> None:
    r = client.post("/api/v1/kb/deflections", data=body, headers=JSON)
    assert r.status_code == 400, r.data[:300]
    assert r.mimetype == "application/problem+json" and r.get_json()["detail"]


@pytest.mark.parametrize("article_id", [2**31, -1, "1", 1.5])
def test_deflections_refuse_ids_the_database_cannot_hold(client: Any, article_id: Any) -> None:
    r = client.post("/api/v1/kb/deflections", json={"article_id": article_id})
    assert r.status_code == 422, r.data[:300]
    assert "article_id" in r.get_json()["errors"]


def _forged(client: Any, url: str) -> Any:
    return client.get(url, headers={"Host": EVIL, "X-Forwarded-Host": EVIL})


def test_forged_host_never_reaches_the_cached_article_page(client: Any, make_article: Any) -> None:
    article = make_article("Reset a password")
    make_article("Restablecer la contraseña", language="es", translation_of_id=article.id)
    response = _forged(client, "/help/articles/reset-a-password")
    assert response.status_code == 200 and "public" in response.headers["Cache-Control"]
    page = response.get_data(as_text=True)
    assert EVIL not in page
    base = base_url()  # not configured: the address crm serve listens on, or its default
    assert f'rel="canonical" href="{base}/help/articles/reset-a-password"' in page
    assert f'hreflang="es" href="{base}/help/articles/' in page


def test_configured_base_url_makes_every_link(
    client: Any, crm: Any, make_article: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(crm.settings, "base_url", "https://help.example.com/")
    make_article("Reset your password", body="forgot password")
    page = _forged(client, "/help/articles/reset-your-password").get_data(as_text=True)
    assert EVIL not in page
    assert 'rel="canonical" href="https://help.example.com/help/articles/reset-your' in page
    data = _forged(client, "/api/v1/kb/suggest?q=forgot password").get_json()["data"]
    assert data and data[0]["url"].startswith("https://help.example.com/help/articles/")
    assert data[0]["open_url"].startswith("https://help.example.com/help/")
    assert EVIL not in str(data)


def test_suggest_links_without_base_url_never_follow_the_request(
    client: Any, make_article: Any
) -> None:
    make_article("Reset your password", body="forgot password")
    data = _forged(client, "/api/v1/kb/suggest?q=forgot password").get_json()["data"]
    assert data[0]["url"] == f"{base_url()}/help/articles/reset-your-password"
    assert EVIL not in str(data)
