"""Plugin discovery, metadata, dependency order and the pluggy manager of one app."""

from __future__ import annotations

import importlib
import logging
import traceback
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from pathlib import Path
from types import ModuleType
from typing import Any, Protocol, TypeVar

import pluggy

from . import hookspecs
from .version import __version__

log = logging.getLogger(__name__)

ENTRY_POINT_GROUP = "crmcore.plugins"
hookimpl = pluggy.HookimplMarker("crmcore")


class PluginError(Exception):
    """A plugin cannot be loaded or enabled; the message names the plugin and the reason."""


class PluginConflictError(PluginError):
    """Two plugins claim the same name (entity, route prefix, permission or table)."""


@dataclass(frozen=True)
class Plugin:
    """What a plugin module declares as ``PLUGIN``.

    :param name: short identifier, also the entry-point name and the table/permission prefix.
    :param requires: names of plugins that must be enabled first.
    :param core: the ``crmcore`` versions this plugin works with (a PEP 440 specifier).
    """

    name: str
    title: str
    version: str
    requires: tuple[str, ...] | list[str] = ()
    core: str = ">=1,<2"
    description: str = ""
    builtin: bool = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "requires", tuple(self.requires))
        if not self.name.isidentifier() or self.name != self.name.lower():
            raise PluginError(f"plugin name {self.name!r} must be a lower-case identifier")


#: Core features, built as plugins that cannot be disabled; loaded before any other plugin.
#: Each module's ``PLUGIN`` is the declaration here, so that ``crm plugins list`` can name them
#: without importing their modules (and with them every model and schema of the core).
BUILTINS: dict[str, Plugin] = {
    "crmcore.users.plugin": Plugin(
        name="users", title="Users, roles and teams", version=__version__, builtin=True
    ),
    "crmcore.contacts.plugin": Plugin(
        name="contacts",
        title="Contacts and companies",
        version=__version__,
        builtin=True,
        requires=["users"],
    ),
    "crmcore.activities.plugin": Plugin(
        name="activities",
        title="Notes, tasks and activities",
        version=__version__,
        builtin=True,
        requires=["users", "contacts"],
    ),
    "crmcore.privacy.plugin": Plugin(
        name="privacy",
        title="Personal data: export, erasure, trash retention",
        version=__version__,
        builtin=True,
        requires=["users", "contacts", "activities"],
    ),
}
BUILTIN_MODULES = tuple(BUILTINS)


@dataclass
class LoadedPlugin:
    """An installed plugin whose module imported and whose metadata is valid."""

    meta: Plugin
    module: ModuleType
    distribution: str | None = None

    @property
    def name(self) -> str:
        return self.meta.name

    @property
    def path(self) -> Path | None:
        """The package directory, where templates, static files, translations and migrations
        are found; ``None`` for a module without files (built in memory, as tests do)."""
        file = getattr(self.module, "__file__", None)
        return Path(file).resolve().parent if file else None

    @property
    def table_prefix(self) -> str:
        return "core_" if self.meta.builtin else f"{self.meta.name}_"

    @property
    def source(self) -> str:
        """The module holding ``PLUGIN`` and the hooks."""
        return self.module.__name__


@dataclass
class DeclaredPlugin:
    """A plugin known by its ``PLUGIN`` alone, its module not imported: a built-in plugin as
    ``crm plugins list`` shows it."""

    meta: Plugin
    source: str

    @property
    def name(self) -> str:
        return self.meta.name


class _Candidate(Protocol):
    @property
    def meta(self) -> Plugin: ...

    @property
    def name(self) -> str: ...

    @property
    def source(self) -> str: ...


_P = TypeVar("_P", bound=_Candidate)


@dataclass
class UnavailablePlugin:
    """An installed plugin that could not be loaded, and why (shown by ``crm plugins list``)."""

    name: str
    source: str
    error: str
    details: str = ""


def _load_module(name: str, target: str | ModuleType) -> LoadedPlugin:
    module = importlib.import_module(target) if isinstance(target, str) else target
    meta = getattr(module, "PLUGIN", None)
    if not isinstance(meta, Plugin):
        raise PluginError(f"{module.__name__} has no PLUGIN = crmcore.Plugin(...)")
    if name and meta.name != name:
        raise PluginError(f"entry point {name!r} names a plugin called {meta.name!r}")
    return LoadedPlugin(meta=meta, module=module)


def discover() -> tuple[list[LoadedPlugin], list[UnavailablePlugin]]:
    """Import every plugin registered under the ``crmcore.plugins`` entry-point group."""
    loaded: list[LoadedPlugin] = []
    failed: list[UnavailablePlugin] = []
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        try:
            plugin = _load_module(ep.name, ep.value)
            plugin.distribution = ep.dist.name if ep.dist else None
            loaded.append(plugin)
        except Exception as exc:  # a broken plugin must never stop the CRM
            failed.append(
                UnavailablePlugin(
                    ep.name, ep.value, f"failed to import: {exc}", traceback.format_exc()
                )
            )
    return loaded, failed


def load_order(plugins: Iterable[_P]) -> tuple[list[_P], list[UnavailablePlugin]]:
    """Sort plugins so that each comes after those it requires.

    Plugins with a missing requirement, an incompatible core range or in a dependency cycle are
    returned as unavailable, with a reason naming the plugins involved.
    """
    # here rather than at the top: `crm --help` imports this module and needs no version check
    from packaging.specifiers import InvalidSpecifier, SpecifierSet

    by_name: dict[str, _P] = {}
    unavailable: list[UnavailablePlugin] = []
    for plugin in plugins:
        if plugin.name in by_name:
            other = by_name[plugin.name]
            raise PluginConflictError(
                f"two plugins are called {plugin.name!r}: {other.source} and {plugin.source}"
            )
        by_name[plugin.name] = plugin
    for plugin in list(by_name.values()):
        try:
            spec = SpecifierSet(plugin.meta.core)
        except InvalidSpecifier:
            reason = f"invalid core version range {plugin.meta.core!r}"
        else:
            reason = (
                ""
                if spec.contains(__version__, prereleases=True)
                else (f"needs crmcore {plugin.meta.core}, this is {__version__}")
            )
        if reason:
            unavailable.append(UnavailablePlugin(plugin.name, plugin.source, reason))
            del by_name[plugin.name]

    order: list[_P] = []
    status: dict[str, str | None] = {u.name: u.error for u in unavailable}  # None: loaded

    def resolve(name: str, stack: list[str]) -> str | None:
        if name in status:
            return status[name]
        if name in stack:
            raise _Cycle([*stack[stack.index(name) :], name])
        plugin = by_name[name]
        reason = None
        for dep in plugin.meta.requires:
            if dep not in by_name and dep not in status:
                reason = f"requires {dep!r}, which is not installed"
            elif resolve(dep, [*stack, name]) is not None:
                reason = f"requires {dep!r}, which is unavailable"
            if reason:
                unavailable.append(UnavailablePlugin(name, plugin.source, reason))
                break
        else:
            order.append(plugin)
        status[name] = reason
        return reason

    # builtins first, then the rest by name, so the order is the same on every machine
    for name in sorted(by_name, key=lambda n: (not by_name[n].meta.builtin, n)):
        while True:
            try:
                resolve(name, [])
                break
            except _Cycle as cycle:
                text = " -> ".join(cycle.names)
                reason = f"dependency cycle: {text}"
                for member in dict.fromkeys(cycle.names):
                    status[member] = reason
                    unavailable.append(UnavailablePlugin(member, by_name[member].source, reason))
    return order, unavailable


def installed_plugins() -> tuple[list[LoadedPlugin | DeclaredPlugin], list[UnavailablePlugin]]:
    """The plugins ``PluginSet.build()`` would load, in the same order, and those unavailable,
    without what an app needs of them: installed plugins' modules are imported (one that fails
    to import is unavailable), the built-in plugins' are not."""
    builtins: list[LoadedPlugin | DeclaredPlugin] = [
        DeclaredPlugin(meta, module) for module, meta in BUILTINS.items()
    ]
    found, failed = discover()
    order, unavailable = load_order([*builtins, *found])
    return order, failed + unavailable


class _Cycle(Exception):
    def __init__(self, names: list[str]) -> None:
        super().__init__(names)
        self.names = names


@dataclass
class PluginSet:
    """The plugins of one app: a pluggy manager holding every available plugin in load order."""

    plugins: dict[str, LoadedPlugin]
    unavailable: list[UnavailablePlugin] = field(default_factory=list)
    pm: pluggy.PluginManager = field(init=False)

    def __post_init__(self) -> None:
        self.pm = pluggy.PluginManager("crmcore")
        self.pm.add_hookspecs(hookspecs)
        # pluggy calls the most recently registered implementation first: register in reverse
        # so hooks run in load order (dependencies before dependents).
        for plugin in reversed(list(self.plugins.values())):
            self.pm.register(plugin.module, name=plugin.name)

    @classmethod
    def build(
        cls, extra: Iterable[str | ModuleType] = (), discover_installed: bool = True
    ) -> PluginSet:
        """Builtins + installed plugins (entry points) + ``extra`` modules, in load order."""
        candidates = [_load_module("", module) for module in BUILTIN_MODULES]
        failed: list[UnavailablePlugin] = []
        if discover_installed:
            found, failed = discover()
            candidates += found
        for module in extra:
            try:
                candidates.append(_load_module("", module))
            except Exception as exc:
                name = module if isinstance(module, str) else module.__name__
                failed.append(UnavailablePlugin(name, name, f"failed to import: {exc}"))
        order, unavailable = load_order(candidates)
        return cls(plugins={p.name: p for p in order}, unavailable=failed + unavailable)

    def __iter__(self) -> Iterator[LoadedPlugin]:
        return iter(self.plugins.values())

    def __contains__(self, name: object) -> bool:
        return name in self.plugins

    def get(self, name: str) -> LoadedPlugin:
        try:
            return self.plugins[name]
        except KeyError:
            bad = next((u for u in self.unavailable if u.name == name), None)
            if bad:
                raise PluginError(f"plugin {name!r} is unavailable: {bad.error}") from None
            raise PluginError(f"no plugin called {name!r} is installed") from None

    def dependents(self, name: str) -> list[str]:
        """Plugins that require ``name``, directly or not."""
        out: list[str] = []
        for plugin in self.plugins.values():
            if name in plugin.meta.requires:
                # each once, though it may need ``name`` both directly and through another
                for found in (plugin.name, *self.dependents(plugin.name)):
                    if found not in out:
                        out.append(found)
        return out

    def collect(
        self, hook: str, enabled: Iterable[str] | None = None, **kwargs: Any
    ) -> list[tuple[str, Any]]:
        """Call a registration hook plugin by plugin, in load order.

        Returns ``(plugin_name, item)`` pairs, flattening iterables, so every contribution is
        attributed to the plugin that made it.
        """
        allowed = set(enabled) if enabled is not None else None
        by_plugin: dict[str, Callable[..., Any]] = {}
        for impl in getattr(self.pm.hook, hook).get_hookimpls():
            by_plugin[impl.plugin_name] = impl.function
        out: list[tuple[str, Any]] = []
        for name in self.plugins:
            fn = by_plugin.get(name)
            if fn is None or (allowed is not None and name not in allowed):
                continue
            argnames = fn.__code__.co_varnames[: fn.__code__.co_argcount]
            result = fn(**{k: v for k, v in kwargs.items() if k in argnames})
            if result is None:
                continue
            items = (
                result
                if isinstance(result, (list, tuple, set)) or hasattr(result, "__next__")
                else [result]
            )
            out.extend((name, item) for item in items)
        return out

    def hook(self, name: str, disabled: Iterable[str]) -> Any:
        """The caller of an event hook that skips the plugins in ``disabled``."""
        remove = [self.plugins[n].module for n in disabled if n in self.plugins]
        caller = getattr(self.pm.hook, name)
        return self.pm.subset_hook_caller(name, remove) if remove else caller


def repeated_caller(caller: Any) -> Callable[..., Any]:
    """``caller`` for many calls in a row while no plugin comes or goes (an import batch's veto,
    once per record): its implementations are taken once. At each call pluggy's own caller
    checks the arguments against the specification and, when it skips disabled plugins,
    filters the implementations again (~2 % of an import's time). The same implementations
    are called in the same order, wrappers included, with the same results and errors; the
    arguments are keywords, all given."""
    spec = getattr(caller, "spec", None)
    hookexec = getattr(caller, "_hookexec", None)
    if (
        spec is None
        or hookexec is None
        or caller.is_historic()
        or getattr(spec, "kwargdefaults", None)  # pluggy fills those in for each call
    ):
        return caller  # type: ignore[no-any-return]
    name, impls = caller.name, caller.get_hookimpls()
    firstresult = bool(spec.opts.get("firstresult", False))

    def call(**kwargs: Any) -> Any:
        return hookexec(name, impls, kwargs, firstresult)

    return call
