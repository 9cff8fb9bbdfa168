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


def test_header_shows_the_company_name_escaped(web, crm):
    from crmcore.settings import Setting

    crm.session.add(Setting(key="company_name", value="Acme <b>& Sons</b>"))
    crm.session.commit()
    html = web.get("/").get_data(as_text=True)
    assert "Acme &lt;b&gt;&amp; Sons&lt;/b&gt;" in html
    assert "brand-logo" not in html  # no logo uploaded
