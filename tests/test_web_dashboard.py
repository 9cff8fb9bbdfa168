"""The home page shows every widget value a plugin returns, empty ones included."""

import pytest


@pytest.mark.crm_plugins("widgets", "everyhook")
def test_home_page_shows_widgets_with_empty_lists(web, make_contact):
    make_contact(last_name="Counted")
    page = web.get("/")
    assert page.status_code == 200, page.get_data(as_text=True)[:500]
    html = page.get_data(as_text=True)
    assert "Contacts you can see" in html
    assert "bound method" not in html
