"""Texts of actions (notification titles, e-mail subjects and bodies) as Jinja templates in an
immutable sandbox, with the record as the API dumps it and nothing else in the context.

A template that does not compile is refused when the rule is saved, naming the action and the
setting; at run time a template error fails the action (and is recorded), never the rule.
"""

from __future__ import annotations

from typing import Any

from crmcore import ValidationError
from jinja2 import StrictUndefined, TemplateError
from jinja2.sandbox import ImmutableSandboxedEnvironment

from .i18n import text as _

MAX_TEMPLATE = 20000
MAX_OUTPUT = 100_000


def environment(autoescape: bool = False) -> ImmutableSandboxedEnvironment:
    """A fresh sandbox; HTML bodies escape every value (``autoescape``)."""
    return ImmutableSandboxedEnvironment(autoescape=autoescape, undefined=StrictUndefined)


def check(text: Any, where: str) -> None:
    """Refuse a template that is not text, too long, or does not compile, naming ``where``."""
    if not isinstance(text, str):
        raise _refuse(where, _("must be text."))
    if len(text) > MAX_TEMPLATE:
        raise _refuse(where, _("at most %(size)s characters.", size=MAX_TEMPLATE))
    try:
        environment().parse(text)
    except TemplateError as exc:
        raise _refuse(where, _("the template does not compile: %(error)s", error=exc)) from None


def _refuse(where: str, message: str) -> ValidationError:
    return ValidationError({"actions": [f"{where}: {message}"]})


def context_of(entity: Any, record: Any, payload: Any = None) -> dict[str, Any]:
    """What templates see: ``record`` as the API returns it and the entity's names; ``payload``
    (the JSON body of the incoming webhook that fired the run) when there is one."""
    context = {
        "record": entity.dump_schema.dump(record),
        "entity": {"name": entity.name, "plural": entity.plural, "title": entity.title},
        "title": entity.display(record),
    }
    if payload is not None:
        context["payload"] = payload
    return context


def render(text: str, context: dict[str, Any], autoescape: bool = False) -> str:
    """Render in the sandbox; ``TemplateError`` (including sandbox refusals) on failure."""
    out = environment(autoescape).from_string(text).render(context)
    return out[:MAX_OUTPUT]
