"""Amounts are shown as money in the record's currency, formatted for the reader's language."""

import pytest

pytestmark = pytest.mark.crm_plugins("sales")


@pytest.mark.parametrize(
    "locale, shown",
    [("en", "€1,234.50"), ("es", "1.234,50\u00a0€")],
)
def test_deal_amount_in_the_readers_locale(web_as, make_user, records, stages, locale, shown):
    deal = records.create("deals", {"title": "Big one", "amount": "1234.50", "currency": "EUR"})
    reader = make_user("manager", locale=locale)
    html = web_as(reader).get(f"/deals/{deal.id}").get_data(as_text=True)
    assert shown in html
