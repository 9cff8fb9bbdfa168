"""``crm plugins search | install | upgrade`` against a package index served in the test: built
wheels of a scaffolded plugin (three versions, the newest for a core that does not exist yet)
and of a plugin requiring one that is not installed. Installs go into a throwaway environment,
never the test's own."""

from __future__ import annotations

import functools
import http.server
import os
import re
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from test_scaffold import _throwaway_venv, unique_name

from crmcore.scaffold import generate

pytestmark = [
    pytest.mark.crm_sqlite_only,  # packaging, not the database
    pytest.mark.skipif(not sys.platform.startswith("linux"), reason="POSIX venv layout"),
]


def _set_version(root: Path, package: str, version: str, core: str | None = None) -> None:
    pyproject = root / "pyproject.toml"
    text = re.sub(r'^version = ".*"$', f'version = "{version}"', pyproject.read_text(), flags=re.M)
    plugin = root / package / "plugin.py"
    code = re.sub(r'version="[^"]*"', f'version="{version}"', plugin.read_text())
    if core:
        text = re.sub(r'"crmcore[<>=~][^"]*"', f'"crmcore{core}"', text)
        code = re.sub(r'core="[^"]*"', f'core="{core}"', code)
    pyproject.write_text(text)
    plugin.write_text(code)


def _wheel(root: Path, out: Path) -> None:
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "build",
            "--wheel",
            "--no-isolation",
            "--outdir",
            str(out),
            str(root),
        ],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]


def _simple_index(files: Path, root: Path) -> None:
    """A PEP 503 index under ``root``: a page of projects, a page of wheels per project."""
    by_project: dict[str, list[str]] = {}
    for wheel in sorted(files.glob("*.whl")):
        by_project.setdefault(wheel.name.split("-")[0].replace("_", "-"), []).append(wheel.name)
    (root / "simple").mkdir(parents=True)
    links = "".join(f'<a href="{p}/">{p}</a>\n' for p in sorted(by_project))
    (root / "simple" / "index.html").write_text(f"<html><body>\n{links}</body></html>")
    for project, wheels in by_project.items():
        (root / "simple" / project).mkdir()
        anchors = "".join(f'<a href="../../files/{w}">{w}</a>\n' for w in wheels)
        (root / "simple" / project / "index.html").write_text(
            f"<html><body>\n{anchors}</body></html>"
        )
    shutil.copytree(files, root / "files")


@pytest.fixture(scope="module")
def index(tmp_path_factory):
    """The served index and the plugin names on it."""
    work = tmp_path_factory.mktemp("index")
    wheels = work / "wheels"
    name = unique_name()
    root = generate(name, work / "src", taken=())
    for version, core in (("0.1.0", None), ("0.2.0", None), ("0.3.0", ">=2,<3")):
        _set_version(root, f"crm_{name}", version, core)
        _wheel(root, wheels)
    needy = unique_name()
    needy_root = generate(needy, work / "src", taken=())
    plugin = needy_root / f"crm_{needy}" / "plugin.py"
    plugin.write_text(plugin.read_text().replace("requires=[]", 'requires=["nosuchplugin"]'))
    _wheel(needy_root, wheels)
    _simple_index(wheels, work / "site")
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(work / "site"))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield {"url": f"http://127.0.0.1:{server.server_address[1]}/simple/", "name": name,
           "needy": needy}  # fmt: skip
    server.shutdown()


@pytest.fixture
def env(tmp_path):
    """``run(*args)``: `crm` of a throwaway environment with an instance of its own."""
    python = _throwaway_venv(tmp_path / "venv")
    environ = {k: v for k, v in os.environ.items() if not k.startswith(("CRM_", "PYTEST_"))}
    environ["CRM_INSTANCE_PATH"] = str(tmp_path / "instance")

    def run(*args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(python), "-c", "from crmcore.cli import main; main()", *args],
            capture_output=True, text=True, env=environ, input=stdin, timeout=300,
        )  # fmt: skip

    run.python = python  # type: ignore[attr-defined]
    assert run("init").returncode == 0
    return run


def _version_in(run, dist):
    done = subprocess.run(
        [str(run.python), "-c", f"import importlib.metadata as m; print(m.version({dist!r}))"],
        capture_output=True, text=True,
    )  # fmt: skip
    return done.stdout.strip() if done.returncode == 0 else None


def test_search_finds_the_plugins_and_tells_which_fit(index, env):
    name = index["name"]
    found = env("plugins", "search", "--index-url", index["url"])
    assert found.returncode == 0, found.stderr
    line = next(ln for ln in found.stdout.splitlines() if ln.startswith(f"crm-{name} "))
    assert "0.3.0" in line and "needs crmcore" in line  # the newest is for a future core
    assert f"crm-{index['needy']}" in found.stdout
    narrowed = env("plugins", "search", name, "--index-url", index["url"])
    assert f"crm-{name}" in narrowed.stdout and index["needy"] not in narrowed.stdout
    none = env("plugins", "search", "no-such-thing-at-all", "--index-url", index["url"])
    assert "no plugin found" in none.stdout


def test_install_checks_then_installs_enables_and_upgrades(index, env):
    name, dist, url = index["name"], f"crm-{index['name']}", index["url"]
    refused = env("plugins", "install", f"{dist}==0.3.0", "--index-url", url)
    assert refused.returncode == 1
    assert "needs crmcore" in refused.stderr and "nothing was changed" in refused.stderr
    assert _version_in(env, dist) is None  # the environment is as it was

    done = env("plugins", "install", f"{dist}==0.1.0", "--index-url", url, "--enable")
    assert done.returncode == 0, done.stdout + done.stderr
    assert _version_in(env, dist) == "0.1.0"
    listed = env("plugins", "list").stdout
    assert re.search(rf"^{name}\s+0\.1\.0\s+enabled", listed, re.M), listed
    again = env("plugins", "install", dist, "--index-url", url)
    assert again.returncode == 1 and "use crm plugins upgrade" in again.stderr

    upgraded = env("plugins", "upgrade", dist, "--index-url", url)
    assert upgraded.returncode == 0, upgraded.stdout + upgraded.stderr
    assert _version_in(env, dist) == "0.2.0"  # 0.3.0 does not fit this core
    assert "migrating" in upgraded.stdout
    newest = env("plugins", "upgrade", dist, "--index-url", url)
    assert newest.returncode == 1 and "needs crmcore" in newest.stderr


def test_install_refuses_a_plugin_whose_requirements_are_missing(index, env):
    dist = f"crm-{index['needy']}"
    refused = env("plugins", "install", dist, "--index-url", index["url"], "--no-enable")
    assert refused.returncode == 1
    assert "nosuchplugin" in refused.stderr and "nothing was changed" in refused.stderr
    assert _version_in(env, dist) is None
    unknown = env("plugins", "install", "crm-nothing-here", "--index-url", index["url"])
    assert unknown.returncode == 1 and "cannot read" in unknown.stderr
