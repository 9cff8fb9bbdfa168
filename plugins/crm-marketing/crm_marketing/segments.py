"""Segments: which contacts a saved query, a company query and purchase-history conditions
choose, or the contacts listed in a static segment."""

from __future__ import annotations

from typing import Any

import click

from crmcore import ValidationError

from .models import Segment


def prepare_segment(values: dict[str, Any], record: Segment | None, service: Any) -> None:
    """Refuse queries the list language cannot read, and conditions that make no sense."""
    kind = values.get("kind", record.kind if record else "dynamic")
    if record is not None and "kind" in values and values["kind"] != record.kind:
        raise ValidationError({"kind": ["A segment cannot change kind."]})
    if kind == "static" and (values.get("query") or values.get("conditions")):
        raise ValidationError({"query": ["A static segment lists its contacts; it has no query."]})


@click.command("import-list")
def import_list_command() -> None:
    """Import a CSV into a static segment."""
