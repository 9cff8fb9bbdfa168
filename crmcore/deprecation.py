"""Deprecations of the plugin API, announced before anything is removed.

The promise (docs/plugin-guide/compatibility.md): the public API - ``crmcore.__all__``, the
hooks, the REST API ``v1`` and the ``crm`` commands - changes incompatibly only in a new major
version. Whatever is to go is first *deprecated* in a minor version: it keeps working, and each
use warns with a :class:`CRMDeprecationWarning` naming the replacement and the version that will
remove it. ``crmcore.testing`` reports those warnings at the end of a plugin's test run (and
fails it with ``--crm-deprecations=error``), so a plugin author learns of them from their tests.
"""

from __future__ import annotations

import functools
import warnings
from collections.abc import Callable
from typing import Any, TypeVar

F = TypeVar("F", bound=Callable[..., Any])


class CRMDeprecationWarning(DeprecationWarning):
    """A deprecated part of the crmcore plugin API was used."""


def warn_deprecated(
    what: str, *, since: str, removed_in: str, use: str, stacklevel: int = 2
) -> None:
    """Warn that ``what`` is deprecated since ``since`` and goes in ``removed_in``; ``use``
    names the replacement. ``stacklevel`` points the warning at the caller's line."""
    warnings.warn(
        f"{what} is deprecated since crmcore {since} and will be removed in {removed_in}; "
        f"use {use}",
        CRMDeprecationWarning,
        stacklevel=stacklevel + 1,
    )


def deprecated(*, since: str, removed_in: str, use: str) -> Callable[[F], F]:
    """Mark a public function or method deprecated: each call warns (at the caller's line)."""

    def decorate(func: F) -> F:
        name = f"{func.__module__}.{func.__qualname__}"

        @functools.wraps(func)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            warn_deprecated(name, since=since, removed_in=removed_in, use=use, stacklevel=2)
            return func(*args, **kwargs)

        wrapper.__deprecated__ = {"since": since, "removed_in": removed_in, "use": use}  # type: ignore[attr-defined]
        return wrapper  # type: ignore[return-value]

    return decorate
