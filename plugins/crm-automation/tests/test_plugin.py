"""The plugin's migrations match its models, and disabling it keeps its rows."""

from __future__ import annotations

import pytest
from crmcore.testing import assert_plugin_migrates_and_survives_disable

pytestmark = pytest.mark.crm_plugins("automation")


def test_migrations_match_the_models_and_disabling_keeps_rules(crm, make_rule, make_contact):
    make_rule({"type": "created"}, [{"type": "add_tags", "tags": ["x"]}])
    assert_plugin_migrates_and_survives_disable(crm, "automation")
