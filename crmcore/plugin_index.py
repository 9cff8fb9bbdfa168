"""Plugins on a package index: ``crm plugins search | install | upgrade``.

A distribution is a crmcore plugin when its wheel declares the ``crmcore.plugins`` entry point
(the scaffold names distributions ``crm-<name>`` and adds the keyword ``crmcore-plugin``).
Search lists the index's projects named ``crm-*`` or ``crmcore-*`` (the Simple API, PEP 691
JSON or PEP 503 HTML), reads the newest wheel of each and keeps those with the entry point
whose name, summary or keywords contain the text.

Install and upgrade check before pip changes anything: the wheel's entry point, its
``crmcore`` requirement against the running core, and - by importing its ``PLUGIN`` in a
separate interpreter - the core range and the plugins it requires. A refused install leaves
the environment as it was; an accepted one runs pip for this interpreter.

The index is ``--index-url``, else ``CRM_PLUGIN_INDEX``, else pip's own (``PIP_INDEX_URL``
or pip's default).
"""

from __future__ import annotations

import importlib
import json
import os
import re
import subprocess
import sys
import tempfile
import urllib.parse
import urllib.request
import zipfile
from dataclasses import dataclass, field
from email.parser import Parser
from html.parser import HTMLParser
from importlib import metadata as importlib_metadata
from pathlib import Path

from packaging.requirements import InvalidRequirement, Requirement
from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.utils import canonicalize_name, parse_wheel_filename
from packaging.version import InvalidVersion, Version

from .plugins import ENTRY_POINT_GROUP, PluginError
from .version import __version__

INDEX_ENV = "CRM_PLUGIN_INDEX"
_JSON = "application/vnd.pypi.simple.v1+json"
_PREFIXES = ("crm-", "crmcore-")
_PROBE = """
import importlib, json, sys
meta = importlib.import_module(sys.argv[1]).PLUGIN
print(json.dumps({"name": meta.name, "core": meta.core, "requires": list(meta.requires)}))
"""


class PluginIndexError(PluginError):
    """The index cannot be read, or has no such plugin or version."""


def index_url(given: str | None = None) -> str:
    """The index to use: ``given``, ``CRM_PLUGIN_INDEX``, ``PIP_INDEX_URL`` or pip's default."""
    url = given or os.environ.get(INDEX_ENV) or os.environ.get("PIP_INDEX_URL")
    if not url:
        try:
            from pip._internal.models.index import PyPI  # pip's default, not written twice

            url = PyPI.simple_url
        except ImportError:
            message = f"no package index: pass --index-url or set {INDEX_ENV}"
            raise PluginIndexError(message) from None
    return url.rstrip("/") + "/"


@dataclass
class Release:
    """One wheel of a project on the index."""

    project: str
    version: Version
    url: str


@dataclass
class Candidate:
    """A plugin found on the index: its newest wheel, read."""

    project: str
    version: str
    summary: str
    plugin: str | None
    core: str
    compatible: bool
    keywords: list[str] = field(default_factory=list)


class _Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.links: list[tuple[str, str]] = []
        self._href: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "a":
            self._href = dict(attrs).get("href") or ""

    def handle_data(self, data: str) -> None:
        if self._href is not None:
            self.links.append((data.strip(), self._href))
            self._href = None


def _get(url: str) -> tuple[bytes, str]:
    if not url.startswith(("http://", "https://")):
        raise PluginIndexError(f"not an index address: {url}")
    accept = {"Accept": f"{_JSON}, text/html;q=0.5"}
    request = urllib.request.Request(url, headers=accept)  # noqa: S310 - http(s) only
    try:
        with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310 - http(s) only
            return response.read(), response.headers.get("Content-Type", "")
    except OSError as exc:
        raise PluginIndexError(f"cannot read {url}: {exc}") from None


def projects(index: str) -> list[str]:
    """The project names of the index."""
    body, kind = _get(index)
    if _JSON in kind:
        return [p["name"] for p in json.loads(body)["projects"]]
    parser = _Links()
    parser.feed(body.decode("utf-8", errors="replace"))
    return [text for text, _ in parser.links]


def releases(index: str, project: str) -> list[Release]:
    """The wheels of ``project``, oldest first."""
    page = urllib.parse.urljoin(index, canonicalize_name(project) + "/")
    body, kind = _get(page)
    if _JSON in kind:
        files = [(f["filename"], f["url"]) for f in json.loads(body)["files"]]
    else:
        parser = _Links()
        parser.feed(body.decode("utf-8", errors="replace"))
        files = parser.links
    found = []
    for filename, href in files:
        if not filename.endswith(".whl"):
            continue
        try:
            _, version, _, _ = parse_wheel_filename(filename)
        except ValueError:
            continue
        url = urllib.parse.urljoin(page, href).split("#", 1)[0]
        found.append(Release(project, version, url))
    return sorted(found, key=lambda r: r.version)


@dataclass
class WheelInfo:
    """What a wheel says about itself."""

    metadata: object
    plugins: dict[str, str]
    path: Path

    def core_requirement(self) -> Requirement | None:
        for line in self.metadata.get_all("Requires-Dist") or []:  # type: ignore[attr-defined]
            try:
                requirement = Requirement(line)
            except InvalidRequirement:
                continue
            if canonicalize_name(requirement.name) == "crmcore" and not requirement.marker:
                return requirement
        return None

    def fits_this_core(self) -> bool:
        requirement = self.core_requirement()
        return requirement is None or requirement.specifier.contains(__version__, prereleases=True)


def read_wheel(release: Release, folder: Path) -> WheelInfo:
    """Download ``release`` into ``folder`` and read its metadata and entry points."""
    body, _ = _get(release.url)
    path = folder / Path(urllib.parse.urlparse(release.url).path).name
    path.write_bytes(body)
    try:
        with zipfile.ZipFile(path) as archive:
            names = archive.namelist()
            info = next(n.split("/")[0] for n in names if n.endswith(".dist-info/METADATA"))
            meta = Parser().parsestr(archive.read(f"{info}/METADATA").decode("utf-8"))
            entry = f"{info}/entry_points.txt"
            text = archive.read(entry).decode("utf-8") if entry in names else ""
    except (zipfile.BadZipFile, StopIteration):
        raise PluginIndexError(f"{path.name} is not a valid wheel") from None
    from .distcheck import entry_points

    return WheelInfo(meta, entry_points(text), path)


def search(text: str, index: str) -> list[Candidate]:
    """Plugins on ``index`` whose name, summary or keywords contain ``text``."""
    needle = text.lower()
    found = []
    with tempfile.TemporaryDirectory(prefix="crm-search-") as folder:
        for project in projects(index):
            if not canonicalize_name(project).startswith(_PREFIXES):
                continue
            wheels = releases(index, project)
            if not wheels:
                continue
            info = read_wheel(wheels[-1], Path(folder))
            if not info.plugins:
                continue
            meta = info.metadata
            summary = meta.get("Summary") or ""  # type: ignore[attr-defined]
            keywords = re.split(r"[,\s]+", meta.get("Keywords") or "")  # type: ignore[attr-defined]
            haystack = " ".join([project, summary, *keywords]).lower()
            if needle and needle not in haystack:
                continue
            core = info.core_requirement()
            found.append(
                Candidate(
                    project=project,
                    version=str(wheels[-1].version),
                    summary=summary,
                    plugin=next(iter(info.plugins)),
                    core=str(core.specifier) if core else "",
                    compatible=info.fits_this_core(),
                    keywords=[k for k in keywords if k],
                )
            )
    return sorted(found, key=lambda c: c.project)


@dataclass
class Plan:
    """A release that passed the checks, ready for pip."""

    project: str
    version: str
    plugin: str
    requires: list[str]


def check_release(
    project: str, version: str | None, index: str, *, newer_than: str | None = None
) -> Plan:
    """The release of ``project`` to install: ``version``, else the newest that fits this core
    (newer than ``newer_than`` for an upgrade); its entry point, core range and required
    plugins checked. Raises :class:`PluginIndexError` or :class:`PluginError` with the reason."""
    wheels = releases(index, project)
    if not wheels:
        raise PluginIndexError(f"{project} is not on the index {index}")
    if version is not None:
        try:
            wanted = Version(version)
        except InvalidVersion:
            raise PluginIndexError(f"{version!r} is not a version") from None
        wheels = [w for w in wheels if w.version == wanted]
        if not wheels:
            raise PluginIndexError(f"{project} {version} is not on the index")
    if newer_than is not None:
        wheels = [w for w in wheels if w.version > Version(newer_than)]
        if not wheels:
            raise PluginIndexError(f"{project} {newer_than} is the newest on the index")
    refusals = []
    with tempfile.TemporaryDirectory(prefix="crm-install-") as folder:
        for release in reversed(wheels):
            info = read_wheel(release, Path(folder))
            if not info.plugins:
                raise PluginError(f"{project} {release.version} is not a crmcore plugin "
                                  f"(no [{ENTRY_POINT_GROUP}] entry point)")  # fmt: skip
            if not info.fits_this_core():
                refusals.append(
                    f"{project} {release.version} needs {info.core_requirement()}, "
                    f"this is crmcore {__version__}"
                )
                continue
            plugin, module = next(iter(info.plugins.items()))
            meta = _probe(info.path, module)
            installed = installed_plugins()
            missing = [name for name in meta["requires"] if name not in installed]
            if missing:
                raise PluginError(
                    f"{project} {release.version} requires the plugin(s) {', '.join(missing)}, "
                    "which are not installed; install them first"
                )
            return Plan(project, str(release.version), plugin, list(meta["requires"]))
    raise PluginError("; ".join(refusals) or f"no release of {project} fits")


def _probe(wheel: Path, module: str) -> dict[str, object]:
    with tempfile.TemporaryDirectory(prefix="crm-probe-") as folder:
        with zipfile.ZipFile(wheel) as archive:
            archive.extractall(folder)
        env = {**os.environ, "PYTHONPATH": folder}
        done = subprocess.run(  # noqa: S603 - imports the plugin about to be installed
            [sys.executable, "-c", _PROBE, module], capture_output=True, text=True, env=env,
            timeout=120,
        )  # fmt: skip
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["?"])[-1]
        raise PluginError(f"{module} does not import: {last}")
    result: dict[str, object] = json.loads(done.stdout.strip().splitlines()[-1])
    try:
        fits = SpecifierSet(str(result["core"])).contains(__version__, prereleases=True)
    except InvalidSpecifier:
        fits = False
    if not fits:
        raise PluginError(f"{result['name']} declares core {result['core']}, "
                          f"this is crmcore {__version__}")  # fmt: skip
    return result


def pip_install(plan: Plan, index: str, *, upgrade: bool = False) -> None:
    """Install the checked release with pip, for this interpreter."""
    command = [sys.executable, "-m", "pip", "install", "--disable-pip-version-check",
               "--index-url", index, f"{plan.project}=={plan.version}"]  # fmt: skip
    if upgrade:
        command.insert(4, "--upgrade")
    done = subprocess.run(command, capture_output=True, text=True)  # noqa: S603
    if done.returncode != 0:
        raise PluginError(f"pip could not install {plan.project} {plan.version}:\n"
                          + done.stderr.strip()[-2000:])  # fmt: skip
    importlib.invalidate_caches()


def installed_plugins() -> dict[str, str]:
    """Plugins installed in this environment now (read afresh): entry point name -> version of
    its distribution."""
    importlib.invalidate_caches()
    found = {}
    for entry in importlib_metadata.entry_points(group=ENTRY_POINT_GROUP):
        dist = getattr(entry, "dist", None)
        found[entry.name] = dist.version if dist is not None else ""
    return found


def installed_version(project: str) -> str | None:
    """The installed version of the distribution ``project``, or ``None``."""
    importlib.invalidate_caches()
    try:
        return importlib_metadata.version(project)
    except importlib_metadata.PackageNotFoundError:
        return None
