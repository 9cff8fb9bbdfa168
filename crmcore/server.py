"""``crm serve`` on gunicorn, configured the way gunicorn itself is.

Settings are applied in gunicorn's own order, later ones winning: crmcore's defaults (2 workers
x 4 threads, the access log on standard output), a gunicorn configuration file (``--config``,
else ``--config`` in ``GUNICORN_CMD_ARGS``, else ``./gunicorn.conf.py``), then
``GUNICORN_CMD_ARGS``, then the options given to ``crm serve`` itself. The embedded job
consumer's hooks run after any hooks of the same name that the configuration sets.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from typing import Any

from gunicorn.app.base import Application
from gunicorn.config import get_default_config_file

#: crmcore's defaults, weaker than any gunicorn configuration.
DEFAULTS: dict[str, Any] = {"workers": 2, "threads": 4, "accesslog": "-"}


class CRMServer(Application):  # type: ignore[misc]
    """A gunicorn application serving one CRM app object.

    :param app: the Flask app.
    :param bind: ``host:port`` from ``crm serve``.
    :param options: gunicorn settings given on the ``crm serve`` command line (strongest).
    :param config_file: a gunicorn configuration file, or ``None`` to look as gunicorn does.
    :param hooks: server hooks crmcore needs (the embedded job consumer's), chained after the
        configuration's own.
    """

    def __init__(
        self,
        app: Any,
        bind: str,
        options: Mapping[str, Any],
        config_file: str | None = None,
        hooks: Mapping[str, Callable[..., Any]] | None = None,
    ) -> None:
        self.application = app
        self.bind = bind
        self.options = dict(options)
        self.config_file = config_file
        self.hooks = dict(hooks or {})
        super().__init__()

    def init(self, parser: Any, opts: Any, args: Any) -> None:  # gunicorn's abstract hook
        return None

    def load_config(self) -> None:
        self.cfg.set("bind", self.bind)
        for name, value in DEFAULTS.items():
            self.cfg.set(name, value)
        env_args = self.cfg.parser().parse_args(self.cfg.get_cmd_args_from_env())
        config_file = self.config_file or env_args.config or get_default_config_file()
        if config_file:
            self.load_config_from_file(config_file)
        for name, value in vars(env_args).items():
            if value is not None and name != "args":
                self.cfg.set(name.lower(), value)
        for name, value in self.options.items():
            self.cfg.set(name, value)
        for name, hook in self.hooks.items():
            self.cfg.set(name, _chained(self.cfg.settings[name], hook))

    def load(self) -> Any:
        return self.application


def _chained(setting: Any, ours: Callable[..., Any]) -> Callable[..., Any]:
    """``ours`` after the hook the configuration set, if it set one."""
    theirs = setting.get()
    if theirs is setting.default:
        return ours
    # gunicorn checks a hook's number of arguments, so the pair takes exactly as many
    if len(inspect.signature(ours).parameters) == 1:

        def one(a: Any) -> None:
            theirs(a)
            ours(a)

        return one

    def two(a: Any, b: Any) -> None:
        theirs(a, b)
        ours(a, b)

    return two


def effective_settings(server: CRMServer) -> dict[str, Any]:
    """The settings a server would run with (for ``crm serve --print-config`` and tests)."""
    names = ("bind", "workers", "threads", "timeout", "keepalive", "max_requests")
    out = {name: server.cfg.settings[name].get() for name in names}
    out["max_requests_jitter"] = server.cfg.settings["max_requests_jitter"].get()
    out["accesslog"] = server.cfg.settings["accesslog"].get()
    return out
