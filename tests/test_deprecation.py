"""Deprecations of the plugin API: a warning at the caller's line naming the replacement, and
the test kit's report of them at the end of a plugin's test run (or a failure on request)."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import warnings

import pytest

from crmcore.deprecation import CRMDeprecationWarning, deprecated

pytestmark = pytest.mark.crm_sqlite_only  # no database involved


@deprecated(since="1.1", removed_in="2.0", use="new_total()")
def old_total(a: int, b: int) -> int:
    """Add two numbers (the old way)."""
    return a + b


def test_a_deprecated_call_warns_at_the_callers_line_and_still_works():
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert old_total(1, 2) == 3  # the line the warning names
    (warning,) = caught
    assert issubclass(warning.category, CRMDeprecationWarning)
    assert warning.filename == __file__
    message = str(warning.message)
    assert "old_total is deprecated since crmcore 1.1" in message
    assert "removed in 2.0; use new_total()" in message
    assert old_total.__doc__ == "Add two numbers (the old way)."
    assert old_total.__deprecated__["removed_in"] == "2.0"


PLUGIN_TEST = """
from crmcore.deprecation import deprecated


@deprecated(since="1.1", removed_in="2.0", use="crmcore.new_thing()")
def old_thing():
    return 42


def test_uses_old_api():
    assert old_thing() == 42
    assert old_thing() == 42
"""


def _run(tmp_path, *options):
    (tmp_path / "test_plugin_uses_old_api.py").write_text(textwrap.dedent(PLUGIN_TEST))
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *options, str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
    )


def test_the_test_kit_lists_deprecated_uses_at_the_end(tmp_path):
    done = _run(tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "crmcore deprecations" in done.stdout
    assert "test_plugin_uses_old_api.py:11: " in done.stdout  # the plugin's own line
    assert "use crmcore.new_thing()" in done.stdout


def test_the_test_kit_fails_on_deprecated_uses_when_asked(tmp_path):
    done = _run(tmp_path, "--crm-deprecations=error")
    assert done.returncode == 1, done.stdout + done.stderr
    assert "CRMDeprecationWarning" in done.stdout
