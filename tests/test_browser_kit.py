"""The browser the tests drive (``crmcore.testing.browser.chromium``): launched as configured."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from crmcore.testing.browser import DISABLED_FEATURES, chromium

pytestmark = pytest.mark.crm_sqlite_only  # no database involved


def _descendants(pid: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:  # ended meanwhile
                continue
            parent = int(stat.rsplit(")", 1)[1].split()[1])
            children.setdefault(parent, []).append(int(entry.name))
    found, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def _browser_arguments() -> list[str]:
    """The command line of the Chromium browser process this test's process launched."""
    for pid in _descendants(os.getpid()):
        try:
            arguments = Path(f"/proc/{pid}/cmdline").read_bytes().decode().split("\0")
        except OSError:
            continue
        if "chromium" in arguments[0] and not any(a.startswith("--type=") for a in arguments):
            if any(a.startswith("--disable-features=") for a in arguments):
                return arguments
    raise AssertionError("no Chromium browser process among this process's descendants")


def test_the_browser_keeps_playwright_s_disabled_features_and_loads_no_address_bar_pages() -> None:
    with chromium() as browser:
        arguments = _browser_arguments()
        flag = "--disable-features="
        lists = [a[len(flag) :].split(",") for a in arguments if a.startswith(flag)]
        # Chromium takes the last one: ours, which must keep every feature Playwright's turns off
        assert lists[-1] == list(DISABLED_FEATURES)
        for earlier in lists[:-1]:
            assert not set(filter(None, earlier)) - set(lists[-1]), earlier
        context = browser.new_context()
        page = context.new_page()
        page.set_content("<p>idle</p>")
        targets = browser.new_browser_cdp_session().send("Target.getTargets")["targetInfos"]
        context.close()
    assert [t["url"] for t in targets if t["type"] == "page"] == ["about:blank"]
    assert not [t["url"] for t in targets if "omnibox" in t["url"]], targets
