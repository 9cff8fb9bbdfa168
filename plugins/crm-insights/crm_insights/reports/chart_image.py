"""A report's chart as a PNG image, drawn on the server with matplotlib for scheduled e-mails.

It draws the data the report page hands to Chart.js (:func:`.present.chart`): the same kinds
(bar, line, pie; a funnel is a bar chart from the largest value down), series, labels and
colours. matplotlib runs headless (the Agg canvas, no ``pyplot``, no display) and is imported
only when an image is drawn.

Limits: at most :data:`MAX_CATEGORIES` categories and :data:`MAX_SERIES` series (the title says
how many were left out; the table in the message keeps every row), labels cut to
:data:`MAX_LABEL` characters, a fixed :data:`WIDTH` x :data:`HEIGHT` pixel image. Text from
users (the report's name, record titles, choice values) is never read as markup: ``$`` would
start matplotlib's mathtext, so it is escaped, and TeX rendering stays off.
"""

from __future__ import annotations

import io
import math
from typing import Any

from flask_babel import gettext as _

#: categories (bars, points, slices) drawn at most
MAX_CATEGORIES = 25
#: series (bars side by side, lines) drawn at most
MAX_SERIES = 7
#: characters of a label or title kept
MAX_LABEL = 40
#: the image's size in pixels
WIDTH, HEIGHT = 800, 450
_DPI = 100
#: the colours of ``crm.js`` (the page's chart), in the same order
PALETTE = ("#1f5fbf", "#e07b00", "#1a7f37", "#b42318", "#6e40c9", "#0e7c86", "#9a6700")


def plain(text: Any, limit: int = MAX_LABEL) -> str:
    """``text`` shown as written: cut to ``limit`` characters, ``$`` escaped for mathtext."""
    value = " ".join(str(text).split())
    if len(value) > limit:
        value = value[: limit - 1] + "…"
    return value.replace("\\", "\\\\").replace("$", r"\$")


def _value(v: Any) -> float:
    return float(v) if isinstance(v, int | float) and math.isfinite(v) else math.nan


def render_png(chart: dict[str, Any], title: str) -> bytes | None:
    """The PNG of ``chart`` (the dict of :func:`.present.chart`) under ``title``; ``None``
    when nothing can be drawn (no finite value; a pie without a positive one). Labels are
    drawn as given: call it inside the recipient's locale."""
    figure = draw(chart, title)
    if figure is None:
        return None
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=_DPI, metadata={"Software": None})
    return buffer.getvalue()


def draw(chart: dict[str, Any], title: str) -> Any:
    """The matplotlib ``Figure`` of :func:`render_png` (``None``: nothing to draw)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    kind = chart["type"]  # bar (funnels are sorted bars already), line or pie
    labels: list[str] = list(chart["data"]["labels"])
    datasets: list[dict[str, Any]] = list(chart["data"]["datasets"])
    hidden = max(0, len(labels) - MAX_CATEGORIES)
    labels = labels[:MAX_CATEGORIES]
    dropped_series = max(0, len(datasets) - MAX_SERIES)
    series = [
        (str(d["label"]), [_value(v) for v in d["data"][:MAX_CATEGORIES]])
        for d in datasets[:MAX_SERIES]
    ]
    if not labels or not any(not math.isnan(v) for _, data in series for v in data):
        return None
    heading = plain(title, 80)
    notes = []
    if hidden:
        notes.append(
            _("first %(shown)s of %(total)s", shown=len(labels), total=len(labels) + hidden)
        )
    if dropped_series:
        notes.append(_("%(count)s more series in the table", count=dropped_series))
    if notes:
        heading += " (" + "; ".join(plain(n, 80) for n in notes) + ")"
    figure = Figure(figsize=(WIDTH / _DPI, HEIGHT / _DPI), dpi=_DPI, layout="constrained")
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    axes.set_title(heading, fontsize=11, loc="left")
    names = [plain(label) for label in labels]
    if kind == "pie":
        data = series[0][1]
        slices = [(n, v) for n, v in zip(names, data, strict=False) if v > 0]
        if not slices:
            return None
        axes.pie(
            [v for _, v in slices],
            labels=[n for n, _ in slices],
            colors=[PALETTE[i % len(PALETTE)] for i in range(len(slices))],
            wedgeprops={"edgecolor": "#fff"},
            textprops={"fontsize": 8},
        )
        axes.set_aspect("equal")
    else:
        positions = list(range(len(names)))
        width = 0.8 / len(series)
        for i, (name, data) in enumerate(series):
            colour = PALETTE[i % len(PALETTE)]
            if kind == "line":
                axes.plot(positions, data, marker="o", color=colour, label=plain(name))
            else:
                offset = (i - (len(series) - 1) / 2) * width
                axes.bar([p + offset for p in positions], [0 if math.isnan(v) else v for v in data],
                         width=width, color=colour, label=plain(name))  # fmt: skip
        axes.set_xticks(positions, names, rotation=45 if len(names) > 6 else 0,
                        ha="right" if len(names) > 6 else "center", fontsize=8)  # fmt: skip
        axes.grid(axis="y", color="#ddd")
        axes.set_axisbelow(True)
        if len(series) == 1:
            axes.set_ylabel(plain(series[0][0]), fontsize=9)
        else:
            axes.legend(fontsize=8)
    return figure
