"""The support dashboard widgets as charts: their data, and the dashboard page drawing them
from data attributes (no inline script, so the Content-Security-Policy holds)."""

from __future__ import annotations

import datetime as dt
import html
import json
import re

import pytest
from crm_support import reports
from crm_support.feedback import record_answer
from crm_support.jobs import check_slas

from crmcore.permissions import Access

pytestmark = pytest.mark.crm_plugins("support")
WIDGETS = ("support-backlog", "support-times", "support-sla", "support-satisfaction")


@pytest.fixture
def figures(app, records, session, desk):
    """Tickets in several states, an SLA breach, answered and solved ones, two ratings."""
    agent = desk["agents"][0]
    make = records.create
    urgent = make("tickets", {"subject": "Down", "priority": "urgent", "assignee_id": agent.id})
    make("tickets", {"subject": "Question", "status": "pending"})
    make("tickets", {"subject": "Later", "status": "on_hold"})
    solved = [make("tickets", {"subject": f"Done {n}"}) for n in range(2)]
    for n, ticket in enumerate(solved):
        records.update(
            "tickets",
            ticket,
            {"status": "solved"},
            internal={
                "first_responded_at": ticket.created_at + dt.timedelta(minutes=30 * (n + 1)),
                "solved_at": ticket.created_at + dt.timedelta(hours=2 * (n + 1)),
            },
        )
        record_answer(session, ticket, 5 - 2 * n, "")  # 5 and 3
    check_slas(app, urgent.first_response_due_at + dt.timedelta(minutes=1))
    return {"agent": agent}


def widget_data(crm, user):
    widgets = {w.name: w for _p, w in crm.collect("crm_dashboard_widgets")}
    records = crm.records(Access.for_user(user))
    return {name: widgets[name].render(user, records) for name in WIDGETS}


def test_widget_data_are_charts_of_the_reports(crm, records, figures, admin):
    data = widget_data(crm, admin)
    backlog = data["support-backlog"]
    assert backlog["chart"]["type"] == "bar"
    assert backlog["chart"]["labels"] == ["New", "Open", "Pending", "On hold"]
    assert backlog["chart"]["series"] == [{"label": "Tickets", "data": [1, 0, 1, 1]}]
    assert backlog["open"] == 3 and backlog["unassigned"] == 2

    times = data["support-times"]["chart"]
    assert times["labels"] == ["First response", "Resolution"]
    assert times["series"][0] == {"label": "Average (hours)", "data": [0.8, 3.0]}
    assert times["series"][1] == {"label": "Median (hours)", "data": [0.8, 3.0]}
    assert data["support-times"]["answered"] == 2 and data["support-times"]["solved"] == 2

    sla = data["support-sla"]
    report = reports.sla_compliance(records)
    assert sla["chart"]["type"] == "doughnut"
    assert sla["chart"]["series"][0]["data"] == [
        report["ok"],
        report["warning"],
        report["breached"],
    ]
    assert report["breached"] >= 1
    assert sla["compliance"] == f"{report['compliance_percent']:g} %"

    sat = data["support-satisfaction"]
    assert sat["chart"]["labels"] == ["1", "2", "3", "4", "5"]
    assert sat["chart"]["series"][0]["data"] == [0, 0, 1, 0, 1]
    assert sat["answers"] == 2 and sat["average"] == 4


def test_widgets_count_only_readable_tickets(crm, records, make_user, desk):
    rep = make_user("sales_rep")
    records.create("tickets", {"subject": "mine", "assignee_id": rep.id})
    records.create("tickets", {"subject": "not mine"})
    widgets = {w.name: w for _p, w in crm.collect("crm_dashboard_widgets")}
    rep_view = widgets["support-backlog"].render(rep, crm.records(Access.for_user(rep)))
    assert sum(rep_view["chart"]["series"][0]["data"]) == 1
    assert (
        sum(widget_data(crm, make_user("admin"))["support-backlog"]["chart"]["series"][0]["data"])
        == 2
    )


def charts_of(page: str) -> list[dict]:
    return [json.loads(html.unescape(m)) for m in re.findall(r"data-chart='([^']+)'", page)]


def test_dashboard_draws_the_charts_without_inline_script(web, figures):
    response = web.get("/")
    page = response.get_data(as_text=True)
    for title in ("Support backlog", "Response times", "SLA compliance", "Customer satisfaction"):
        assert f">{title}</h2>" in page
    charts = charts_of(page)
    types = [c["type"] for c in charts]
    assert types.count("doughnut") == 1 and types.count("bar") >= 3
    backlog = next(
        c for c in charts if c["data"]["labels"] == ["New", "Open", "Pending", "On hold"]
    )
    assert backlog["data"]["datasets"][0]["data"] == [1, 0, 1, 1]
    scripts = re.findall(r"<script\b[^>]*>", page)
    assert any("chart.umd.min.js" in s for s in scripts)  # the check sees script tags...
    assert all(" src=" in s for s in scripts)  # ...and none is inline
    assert not re.search(r"\son[a-z]+=", page)  # nor event-handler attributes
    csp = response.headers["Content-Security-Policy"]
    script_src = re.search(r"script-src[^;]*", csp).group(0)
    assert "unsafe-inline" not in script_src
    assert "Show the figures" in page  # the same figures as a table, without JavaScript


def test_dashboard_charts_in_spanish(app, make_user, web_as, figures):
    jefa = make_user("admin", locale="es")
    page = web_as(jefa).get("/").get_data(as_text=True)
    backlog = next(c for c in charts_of(page) if len(c["data"]["labels"]) == 4)
    assert backlog["data"]["labels"] == ["Nuevo", "Abierto", "Pendiente", "En espera"]
    assert ">Sin asignar<" in page or "Sin asignar" in page


def test_empty_desk_still_draws(web, desk):
    page = web.get("/").get_data(as_text=True)
    assert len([c for c in charts_of(page) if c["type"] in ("bar", "doughnut")]) >= 4
