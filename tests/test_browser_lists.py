"""The import wizard and dashboard charts in a real browser (Debian's Chromium, `crm serve`).

Uses the server, browser and page fixtures of ``test_browser``: a fresh instance served with its
embedded job consumer, so the import really runs as a queued job.
"""

from __future__ import annotations

from typing import Any

from test_browser import (  # noqa: F401 - fixtures
    page,
    server,
    shot,
    sign_in,
)

CSV = (
    b"First name;Last name;E-mail;City\n"
    b"Imelda;Importada;imelda@example.com;Toledo\n"
    b"Wrong;Row;not-an-address;Cuenca\n"
    b"Iker;Importado;iker@example.com;Soria\n"
)

#: Collects Content-Security-Policy violations before any page script runs.
CSP_WATCH = (
    "window.__csp = [];"
    "document.addEventListener('securitypolicyviolation',"
    " function (e) { window.__csp.push(e.violatedDirective + ' ' + e.blockedURI); });"
)


def test_import_a_csv_through_the_wizard(page: Any) -> None:  # noqa: F811
    from playwright.sync_api import expect

    page.add_init_script(CSP_WATCH)
    sign_in(page, "admin@example.com")
    page.goto("/contacts")
    page.get_by_role("link", name="Import", exact=True).click()
    expect(page.get_by_role("heading", name="Import records from a CSV file")).to_be_visible()
    page.get_by_label("The file holds").select_option("contacts")
    page.get_by_label("CSV file").set_input_files(
        {"name": "people.csv", "mimeType": "text/csv", "buffer": CSV}
    )
    page.get_by_role("button", name="Upload and continue").click()

    expect(page.get_by_role("heading", name="Match the columns")).to_be_visible()
    mapping = page.locator("table.mapping")
    expect(mapping.get_by_label("First name", exact=True)).to_have_value("first_name")
    expect(mapping.get_by_label("E-mail", exact=True)).to_have_value("email")
    expect(mapping).to_contain_text("Importada")  # the preview
    mapping.get_by_label("City", exact=True).select_option("")  # the user leaves a column out
    shot(page, "import-mapping")
    page.get_by_role("button", name="Start the import").click()

    # the job runs in the embedded consumer; htmx polls the progress until it is done
    expect(page.get_by_text("Finished.")).to_be_visible(timeout=20_000)
    expect(page.locator("#import-progress")).to_contain_text("Rejected")
    expect(page.locator("progress#import-bar")).to_have_attribute("value", "100")
    with page.expect_download() as download:
        page.get_by_role("link", name="Download the rejected rows").click()
    report = download.value.path().read_text(encoding="utf-8-sig")
    assert "not-an-address" in report and "Importada" not in report
    shot(page, "import-progress")

    page.get_by_role("link", name="See the contacts").click()
    expect(page.get_by_role("link", name="Imelda")).to_be_visible()
    expect(page.get_by_role("link", name="Iker")).to_be_visible()
    page.get_by_role("link", name="Imelda").click()
    expect(page.locator("dl.fields")).not_to_contain_text("Toledo")
    assert page.evaluate("window.__csp") == []


def test_dashboard_chart_renders_without_csp_violations(page: Any) -> None:  # noqa: F811
    from playwright.sync_api import expect

    page.add_init_script(CSP_WATCH)
    sign_in(page, "admin@example.com")
    page.goto("/tasks/new")
    page.locator("#f-title").fill("Call back about the offer")
    page.locator("#f-priority").select_option("high")
    page.locator("form.record-form").get_by_role("button", name="Save").click()
    expect(page.get_by_role("heading", name="Call back about the offer")).to_be_visible()

    page.goto("/")
    canvas = page.locator("canvas[data-chart]")
    expect(canvas).to_have_attribute("data-drawn", "1")
    drawn = page.evaluate(
        "() => { const c = document.querySelector('canvas[data-chart]');"
        " const chart = window.Chart && window.Chart.getChart(c);"
        " return chart ? {type: chart.config.type, data: chart.data.datasets[0].data,"
        " width: c.clientWidth, height: c.clientHeight} : null; }"
    )
    assert drawn is not None, "Chart.js did not draw the chart"
    assert drawn["type"] == "bar" and drawn["data"][0] >= 1
    assert drawn["width"] > 100 and drawn["height"] > 100
    page.get_by_text("Show the figures").click()
    expect(page.locator("figure.chart table")).to_contain_text("High")
    shot(page, "dashboard")
    assert page.evaluate("window.__csp") == []
