"""A report's rows as CSV or XLSX (openpyxl), with the same headings and labels as the page."""

from __future__ import annotations

import csv
import io
from typing import Any

from .present import table

#: Cell starts that spreadsheets read as formulas: prefixed with ' so no formula runs.
_FORMULA = ("=", "+", "-", "@", "\t", "\r")


def _safe(text: str) -> str:
    if text.startswith(_FORMULA) and not _is_number(text):
        return "'" + text
    return text


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def to_csv(result: dict[str, Any]) -> str:
    """The result as CSV text (UTF-8, a header row)."""
    head, body = table(result)
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(head)
    writer.writerows([[_safe(cell) for cell in row] for row in body])
    return out.getvalue()


def to_xlsx(result: dict[str, Any], title: str) -> bytes:
    """The result as an XLSX workbook; measures are numbers, not text."""
    from openpyxl import Workbook  # type: ignore[import-untyped]

    head, body = table(result)
    measures = [c["role"] == "measure" and c.get("kind") == "number" for c in result["columns"]]
    book = Workbook(write_only=True)
    sheet = book.create_sheet(title=_sheet_title(title))
    sheet.append(head)
    for row, raw in zip(body, result["rows"], strict=True):
        cells: list[Any] = []
        for i, cell in enumerate(row):
            value = raw.get(result["columns"][i]["key"])
            cells.append(float(value) if measures[i] and value is not None else _safe(cell))
        sheet.append(cells)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def _sheet_title(title: str) -> str:
    clean = "".join(ch for ch in title if ch not in "[]:*?/\\").strip()
    return (clean or "Report")[:31]
