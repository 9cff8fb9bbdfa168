import pytest


@pytest.fixture(scope="session")
def crm_extra_plugins():
    """Test plugins that live in tests/ rather than being installed."""
    return ["plugin_widgets", "plugin_everyhook"]
