"""Scheduled report e-mails carry the report's chart as an inline PNG drawn on the server, in
the recipient's language, within limits, with no text from users read as markup."""

from __future__ import annotations

import datetime as dt
import io
import math
from typing import Any

import pytest
from flask_babel import force_locale

from crm_insights.reports import chart_image, present
from crm_insights.reports.schedule import send_scheduled_reports

pytestmark = pytest.mark.crm_plugins("sales", "insights")
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
NOW = dt.datetime(2026, 3, 2, 7, 0, tzinfo=dt.UTC)


def png_size(data: bytes) -> tuple[int, int]:
    """Width and height of a PNG, read by Pillow (which also checks the whole file)."""
    from PIL import Image

    assert data[:8] == PNG_SIGNATURE
    with Image.open(io.BytesIO(data)) as image:
        image.verify()
    with Image.open(io.BytesIO(data)) as image:
        image.load()
        assert image.format == "PNG"
        return image.size


def schedule(api: Any, recipient: Any, chart: str, name: str = "Deals by probability") -> int:
    response = api.post(
        "/api/v1/reports",
        json={
            "name": name,
            "definition": {"entity": "deals", "group_by": ["probability"], "measures": ["count"]},
            "chart": chart,
            "schedule": "daily",
            "visibility": "role",
            "role_id": recipient.role_id,
            "recipients": [recipient.email],
        },
    )
    assert response.status_code == 201, response.get_json()
    return int(response.get_json()["id"])


def inline_image(message: Any) -> tuple[str, bytes] | None:
    """The html body and the bytes of the image it shows by ``cid:``, if any."""
    html = message.get_body(("html",)).get_content()
    for part in message.walk():
        if part.get_content_type() == "image/png":
            cid = part["Content-ID"].strip("<>")
            assert f'src="cid:{cid}"' in html
            assert part.get_content_disposition() == "inline"
            return html, part.get_payload(decode=True)
    return None


def test_the_mail_shows_the_chart_inline_beside_the_table(
    app: Any, api: Any, make_user: Any, make_deal: Any, smtp_peer: Any
) -> None:
    rep = make_user("sales_rep", locale="es")
    for probability in (10, 10, 40, 90):
        make_deal("Mine", owner_id=rep.id, probability=probability)
    make_deal("Not theirs", probability=70)
    schedule(api, rep, "bar", name="Ofertas $\\frac{1}{0}$ <b>")
    assert send_scheduled_reports(app, NOW) == 1
    [message] = smtp_peer.parsed()
    assert message["To"] == rep.email
    found = inline_image(message)
    assert found is not None
    html, png = found
    assert png_size(png) == (chart_image.WIDTH, chart_image.HEIGHT)
    # the table beside it, escaped, in Spanish, with the rep's rows only
    assert "<th>Recuento</th>" in html
    assert "<td>10</td><td>2</td>" in html and "<td>70</td>" not in html
    assert 'alt="Gráfico del informe Ofertas $\\frac{1}{0}$ &lt;b&gt;"' in html
    assert "<b>" not in html
    # the CSV attachment stays
    [csv_part] = [p for p in message.iter_attachments() if p.get_filename().endswith(".csv")]
    assert csv_part.get_content().splitlines()[1:] == ["10,2", "40,1", "90,1"]


def test_a_report_shown_as_a_table_mails_no_image(
    app: Any, api: Any, make_user: Any, make_deal: Any, smtp_peer: Any
) -> None:
    rep = make_user("sales_rep")
    make_deal("Mine", owner_id=rep.id, probability=10)
    schedule(api, rep, "table")
    assert send_scheduled_reports(app, NOW) == 1
    [message] = smtp_peer.parsed()
    assert inline_image(message) is None
    assert "<table>" in message.get_body(("html",)).get_content()


@pytest.mark.crm_sqlite_only
@pytest.mark.parametrize("kind", ["bar", "line", "pie", "funnel"])
def test_each_kind_is_drawn_like_the_page(app: Any, kind: str) -> None:
    result = {
        "columns": [
            {"key": "stage", "role": "group", "field": "stage", "kind": "text"},
            {"key": "count", "role": "measure", "op": "count", "kind": "number"},
        ],
        "rows": [
            {"stage": "a", "count": 1},
            {"stage": "b", "count": 5},
            {"stage": None, "count": 3},
        ],
    }
    with app.test_request_context(), force_locale("es"):
        chart = present.chart(result, kind)
        assert chart is not None
        figure = chart_image.draw(chart, "Etapas")
        axes = figure.axes[0]
        if kind == "pie":
            labels = [t.get_text() for t in axes.texts]
        else:
            labels = [t.get_text() for t in axes.get_xticklabels()]
            assert axes.get_ylabel() == "Recuento"  # the measure's heading, translated
        expected = ["b", "(vacío)", "a"] if kind == "funnel" else ["a", "b", "(vacío)"]
        assert labels == expected
        assert axes.get_title(loc="left") == "Etapas"
        png = chart_image.render_png(chart, "Etapas")
    assert png is not None and png_size(png) == (800, 450)


@pytest.mark.crm_sqlite_only
def test_limits_and_markup(app: Any) -> None:
    labels = [f"${i}$ \\bad{{" for i in range(300)]
    chart = {
        "type": "bar",
        "data": {
            "labels": labels,
            "datasets": [{"label": f"s{i}", "data": list(range(300))} for i in range(12)],
        },
    }
    with app.test_request_context():
        figure = chart_image.draw(chart, "$\\undefined{x}$ " + "long " * 50)
        axes = figure.axes[0]
        ticks = [t.get_text() for t in axes.get_xticklabels()]
        assert len(ticks) == chart_image.MAX_CATEGORIES
        assert ticks[0] == r"\$0\$ \\bad{"  # shown as typed, not as mathtext
        assert len(axes.get_legend().get_texts()) == chart_image.MAX_SERIES
        title = axes.get_title(loc="left")
        assert "first 25 of 300" in title and "5 more series in the table" in title
        # unescaped, this title and these labels would stop mathtext with a parse error
        png = chart_image.render_png(chart, "$\\undefined{x}$")
    assert png is not None and png_size(png) == (800, 450)


@pytest.mark.crm_sqlite_only
def test_nothing_to_draw(app: Any) -> None:
    empty = {"type": "bar", "data": {"labels": ["a"], "datasets": [{"label": "x", "data": [None]}]}}
    negative = {
        "type": "pie",
        "data": {"labels": ["a"], "datasets": [{"label": "x", "data": [-1]}]},
    }
    nan = {
        "type": "line",
        "data": {"labels": ["a"], "datasets": [{"label": "x", "data": [math.nan]}]},
    }
    with app.test_request_context():
        assert chart_image.render_png(empty, "t") is None
        assert chart_image.render_png(negative, "t") is None
        assert chart_image.render_png(nan, "t") is None
