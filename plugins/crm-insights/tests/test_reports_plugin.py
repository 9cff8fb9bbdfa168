"""The report tables: migrations match the models, disabling the plugin keeps every row."""

from __future__ import annotations

from typing import Any

import pytest
from crmcore.testing import assert_plugin_migrates_and_survives_disable


@pytest.mark.crm_plugins("insights")
def test_migrates_and_survives_disable(crm: Any, records: Any) -> None:
    records.create(
        "reports", {"name": "Contacts", "definition": {"entity": "contacts", "measures": ["count"]}}
    )
    assert_plugin_migrates_and_survives_disable(crm, "insights")
