"""``crm plugins new``: write a complete, pip-installable plugin distribution from templates.

The templates are package data in ``crmcore/scaffold/templates``: every file ends in ``.tmpl``
and holds ``string.Template`` placeholders (``${name}``, ``${package}`` ...); a ``$`` meant
literally is written ``$$``. Path parts ``__package__`` and ``__name__`` become the package and
the plugin name, ``gitignore`` becomes ``.gitignore`` and ``github`` ``.github``.
"""

from __future__ import annotations

import keyword
from collections.abc import Iterable
from importlib.resources import files
from importlib.resources.abc import Traversable
from pathlib import Path
from string import Template
from urllib.parse import quote

from ..parsing import is_whole
from ..plugins import PluginError
from ..version import __version__

#: Names a new plugin may not take: the built-ins, the core's own lineage and table prefix.
RESERVED = frozenset(
    {"core", "users", "contacts", "activities", "privacy", "crm", "crmcore", "test"}
)

#: The longest plugin name: it prefixes tables and the Alembic version table.
MAX_NAME_LENGTH = 30


def core_range(version: str = __version__) -> str:
    """The core range a new plugin declares: this major version, ``>=1.2,<2`` for 1.2.3."""
    parts = [int(p) if is_whole(p) else 0 for p in version.split(".")[:2]] + [0]
    return f">={parts[0]}.{parts[1]},<{parts[0] + 1}"


def validate_name(name: str, taken: Iterable[str] = ()) -> None:
    """Refuse a name that is not a lower-case identifier, is reserved or already installed."""
    if not name.isidentifier() or name != name.lower() or not name.isascii():
        raise PluginError(
            f"plugin name {name!r} must be a lower-case identifier (letters, digits, _)"
        )
    if name.startswith("_") or keyword.iskeyword(name):
        raise PluginError(f"plugin name {name!r} cannot start with _ or be a Python keyword")
    if len(name) > MAX_NAME_LENGTH:
        raise PluginError(f"plugin name {name!r} is longer than {MAX_NAME_LENGTH} characters")
    if name in RESERVED:
        raise PluginError(f"plugin name {name!r} is reserved")
    if name in set(taken):
        raise PluginError(f"a plugin called {name!r} is already installed")


def installed_names() -> set[str]:
    """Names of installed plugins, loadable or not, and the built-ins."""
    from importlib.metadata import entry_points

    from ..plugins import ENTRY_POINT_GROUP

    return {ep.name for ep in entry_points(group=ENTRY_POINT_GROUP)} | set(RESERVED)


def variables(name: str, title: str | None = None) -> dict[str, str]:
    """The values the templates are filled with."""
    return {
        "name": name,
        "package": f"crm_{name}",
        "dist": f"crm-{name.replace('_', '-')}",
        "title": title or name.replace("_", " ").title(),
        "plural": f"{name}_items",
        "core_range": core_range(),
        "core_oldest": core_range().split(",")[0].removeprefix(">="),
        # a static badge: label-message-colour, "-" doubled and the rest percent-encoded
        "core_badge": f"crmcore-{quote(core_range().replace('-', '--'), safe='')}-blue",
        "core_version": __version__,
    }


def _walk(
    folder: Traversable, parts: tuple[str, ...] = ()
) -> Iterable[tuple[tuple[str, ...], str]]:
    for entry in sorted(folder.iterdir(), key=lambda e: e.name):
        if entry.is_dir():
            yield from _walk(entry, (*parts, entry.name))
        elif entry.name.endswith(".tmpl"):
            yield (*parts, entry.name.removesuffix(".tmpl")), entry.read_text(encoding="utf-8")


def _target_path(parts: tuple[str, ...], values: dict[str, str]) -> Path:
    renamed = []
    for part in parts:
        part = part.replace("__package__", values["package"]).replace("__name__", values["name"])
        renamed.append({"gitignore": ".gitignore", "github": ".github"}.get(part, part))
    return Path(*renamed)


def generate(
    name: str,
    directory: str | Path = ".",
    *,
    title: str | None = None,
    taken: Iterable[str] | None = None,
) -> Path:
    """Write the distribution ``crm-<name>`` into ``directory``; returns its folder.

    :param taken: names that are in use (default: the installed plugins).
    :raises PluginError: for an invalid or taken name, or when the folder exists.
    """
    validate_name(name, installed_names() if taken is None else taken)
    values = variables(name, title)
    root = Path(directory) / values["dist"]
    if root.exists():
        raise PluginError(f"{root} already exists")
    templates = files(__package__).joinpath("templates")
    rendered = [
        (_target_path(parts, values), Template(text).substitute(values))
        for parts, text in _walk(templates)
    ]
    for relative, text in rendered:
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return root
