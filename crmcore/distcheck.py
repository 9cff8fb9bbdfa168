"""``crm plugins check-dist DIST.whl``: is a built plugin wheel what the package index and
``crm plugins install`` expect?

Checked on the wheel alone, before it is published: the ``crmcore.plugins`` entry point and
the module it names; the metadata (name, version, a ``crmcore`` dependency with an upper
bound); the files the code needs packaged beside it - Alembic revisions when the plugin defines
tables, every template its views render, its translations when it has a catalogue; and, in a
separate interpreter with the wheel's files on the path, that the module imports and its
``PLUGIN`` agrees with the metadata. Importing runs the plugin's code: check your own wheels.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from email.parser import Parser
from pathlib import Path

from packaging.requirements import InvalidRequirement, Requirement

from .plugins import ENTRY_POINT_GROUP

_TEMPLATE_CALL = re.compile(r"""render_template\(\s*["']([^"']+\.html)["']""")
_TABLE = re.compile(r"__tablename__\s*=")
_PROBE = """
import importlib, json, sys
module = importlib.import_module(sys.argv[1])
meta = getattr(module, "PLUGIN", None)
print(json.dumps(None if meta is None else
      {"name": meta.name, "version": meta.version, "core": meta.core}))
"""


@dataclass(frozen=True)
class Finding:
    """One result of the check: ``ok`` or a problem, in words."""

    ok: bool
    text: str


def check_wheel(path: str | Path) -> list[Finding]:
    """Check the wheel at ``path``; every finding, good and bad, in order."""
    path = Path(path)
    if path.suffix != ".whl" or not path.is_file():
        return [Finding(False, f"{path} is not a wheel file (build one: python -m build)")]
    try:
        archive = zipfile.ZipFile(path)
    except zipfile.BadZipFile:
        return [Finding(False, f"{path.name} is not a valid wheel (not a zip archive)")]
    with archive:
        names = set(archive.namelist())
        info = next((n.split("/")[0] for n in names if n.endswith(".dist-info/METADATA")), None)
        if info is None:
            return [Finding(False, "no *.dist-info/METADATA: not a wheel built by a backend")]
        metadata = Parser().parsestr(archive.read(f"{info}/METADATA").decode("utf-8"))
        entry_text = (
            archive.read(f"{info}/entry_points.txt").decode("utf-8")
            if f"{info}/entry_points.txt" in names
            else ""
        )
        findings = _metadata(metadata)
        plugins = entry_points(entry_text)
        if not plugins:
            findings.append(
                Finding(False, f"no [{ENTRY_POINT_GROUP}] entry point: crm will not find it")
            )
            return findings
        with tempfile.TemporaryDirectory(prefix="crm-check-dist-") as folder:
            archive.extractall(folder)
            for name, module in plugins.items():
                findings += _plugin(Path(folder), names, name, module, metadata)
    return findings


def _metadata(metadata: object) -> list[Finding]:
    get = metadata.get  # type: ignore[attr-defined]
    findings = []
    name, version = get("Name"), get("Version")
    findings.append(Finding(bool(name and version), f"distribution {name or '?'} {version or '?'}"))
    requires = metadata.get_all("Requires-Dist") or []  # type: ignore[attr-defined]
    core = None
    for line in requires:
        try:
            requirement = Requirement(line)
        except InvalidRequirement:
            continue
        if requirement.name.lower() == "crmcore" and not requirement.marker:
            core = requirement
    if core is None:
        findings.append(
            Finding(False, "no dependency on crmcore (dependencies = ['crmcore>=1,<2'])")
        )
    elif not any(spec.operator in ("<", "<=", "~=", "==") for spec in core.specifier):
        findings.append(
            Finding(
                False, f"crmcore dependency {core} has no upper bound; declare '<' the next major"
            )
        )
    else:
        findings.append(Finding(True, f"depends on {core}"))
    if not get("Summary"):
        findings.append(
            Finding(False, "no description (Summary): the index listing would be empty")
        )
    return findings


def entry_points(text: str) -> dict[str, str]:
    found: dict[str, str] = {}
    section = None
    for raw in text.splitlines():
        line = raw.strip()
        if line.startswith("["):
            section = line.strip("[]").strip()
        elif section == ENTRY_POINT_GROUP and "=" in line:
            name, _, target = line.partition("=")
            found[name.strip()] = target.strip().split(":")[0]
    return found


def _plugin(root: Path, names: set[str], name: str, module: str, metadata: object) -> list[Finding]:
    findings = []
    module_file = module.replace(".", "/") + ".py"
    package = module.rpartition(".")[0] or module
    package_dir = package.replace(".", "/")
    if module_file not in names and f"{module.replace('.', '/')}/__init__.py" not in names:
        return [Finding(False, f"entry point {name} = {module}: {module_file} is not in the wheel")]
    sources = {n: "" for n in names if n.startswith(package_dir + "/") and n.endswith(".py")}
    for source in sources:
        sources[source] = (root / source).read_text(encoding="utf-8", errors="replace")
    code = {n: t for n, t in sources.items() if "/migrations/" not in n and "/tests/" not in n}
    if any(_TABLE.search(text) for text in code.values()):
        revisions = [n for n in sources if f"{package_dir}/migrations/versions/" in n]
        findings.append(
            Finding(
                bool(revisions),
                f"{len(revisions)} migration revision(s) packaged"
                if revisions
                else "the plugin defines tables but no migrations/versions/*.py is packaged "
                "(package-data)",
            )
        )
    wanted = {m for text in code.values() for m in _TEMPLATE_CALL.findall(text)}
    missing = sorted(t for t in wanted if f"{package_dir}/templates/{t}" not in names)
    if wanted:
        findings.append(
            Finding(
                not missing,
                f"{len(wanted)} template(s) packaged"
                if not missing
                else "templates rendered but not packaged (package-data): " + ", ".join(missing),
            )
        )
    if any(n.startswith(f"{package_dir}/translations/") and n.endswith(".po") for n in names):
        compiled = [
            n for n in names if n.startswith(f"{package_dir}/translations/") and n.endswith(".mo")
        ]
        findings.append(
            Finding(
                bool(compiled),
                "compiled translations packaged"
                if compiled
                else "translations (.po) without compiled .mo files",
            )
        )
    findings += _probe(root, name, module, metadata)
    return findings


def _probe(root: Path, name: str, module: str, metadata: object) -> list[Finding]:
    # imports the wheel's module, so it runs its code: a check for the author's own wheel
    done = subprocess.run(  # noqa: S603
        [sys.executable, "-c", _PROBE, module],
        capture_output=True,
        text=True,
        timeout=120,
        env={"PYTHONPATH": str(root), "PATH": "/usr/bin:/bin"},
    )
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["?"])[-1]
        return [Finding(False, f"{module} does not import: {last}")]
    meta = json.loads(done.stdout.strip().splitlines()[-1])
    if meta is None:
        return [Finding(False, f"{module} has no PLUGIN = Plugin(...)")]
    findings = [
        Finding(meta["name"] == name, f"PLUGIN.name {meta['name']!r}, entry point {name!r}")
    ]
    version = metadata.get("Version")  # type: ignore[attr-defined]
    findings.append(
        Finding(meta["version"] == version, f"PLUGIN.version {meta['version']}, wheel {version}")
    )
    findings.append(Finding(bool(meta["core"]), f"core range {meta['core'] or 'not declared'}"))
    return findings
