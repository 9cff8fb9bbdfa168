"""E-mail templates: Jinja in an immutable sandbox, with an explicit context and bounded cost.

A template sees only plain values built here - ``contact``, ``company``, ``campaign`` and
``unsubscribe_url`` - never ORM objects, so nothing beyond them can be reached. On top of
Jinja's :class:`~jinja2.sandbox.ImmutableSandboxedEnvironment`:

- Unknown placeholders are errors: ``{{ contact.nickname }}`` is refused when the template
  is saved, with the list of fields there are, even in a branch the sample does not take.
  The one lenient mapping is ``contact.custom`` (custom fields): a field the contact has no
  value for renders empty. Checking is strict (``StrictUndefined``); sending is not
  (``strict=False``): a value missing for one contact (``contact.tags[0]``) renders empty.
- Names starting with ``_`` (``{{ ''.__class__ }}``), macros, includes, ``{% autoescape %}``
  and capturing blocks are refused before anything runs; the methods of text, lists and
  mappings are limited to harmless ones, the filters to a list of harmless ones.
- The cost of one rendering is bounded while it runs, not afterwards: at most
  :data:`MAX_LOOP` loop iterations in all, ``range()`` up to :data:`MAX_RANGE`, no value over
  :data:`MAX_VALUE` characters - list, tuple and dict literals, ``cycler()``, every call and
  filter result are measured deeply (a list holding the same list ten times counts it ten
  times, as printing would), and ``*``, ``+``, ``~``, ``join``, ``replace`` are checked
  before they allocate - so no value is ever too large to print; at most
  :data:`MAX_OUTPUT` characters of output; and at most :data:`MAX_SECONDS` seconds of the
  rendering thread's CPU time, checked at every loop step, call, filter, operator and output
  (CPU time, not the clock: a busy machine must not refuse a message a quiet one renders).

:func:`check` compiles a source and renders it once against :data:`SAMPLE` (so errors that
only show when running, such as a sandbox refusal, surface when the template is saved) and
raises :class:`crmcore.ValidationError` with the line of the problem. :func:`compile_source`
and :func:`render_compiled` are what sending uses (:mod:`crm_marketing.compose`).
"""

from __future__ import annotations

import contextvars
import functools
import time
import types
from collections.abc import Iterator, Mapping
from typing import Any

from jinja2 import meta, nodes, pass_context, pass_eval_context
from jinja2.exceptions import TemplateError, TemplateSyntaxError, UndefinedError
from jinja2.filters import FILTERS
from jinja2.nodes import EvalContext
from jinja2.runtime import (
    ChainableUndefined,
    Context,
    StrictUndefined,
    markup_join,
    str_join,
)
from jinja2.sandbox import ImmutableSandboxedEnvironment, SecurityError
from jinja2.utils import Cycler, Joiner
from jinja2.utils import missing as _MISSING
from jinja2.visitor import NodeTransformer

from crmcore import ValidationError

#: characters of template source
MAX_SOURCE = 500_000
#: characters a rendering may produce
MAX_OUTPUT = 1_000_000
#: characters (or items) of any one value computed while rendering
MAX_VALUE = 100_000
#: loop iterations of one rendering, all loops together
MAX_LOOP = 10_000
#: the longest ``range()``
MAX_RANGE = 1_000
#: seconds of its thread's CPU time one rendering may take
MAX_SECONDS = 2.0
_MAX_INT_BITS = 10_000

#: filters a template may use; the others can allocate without bound (``center(10**9)``,
#: ``batch``, ``slice``, ``indent``, ``wordwrap``, ``tojson(indent=)``) or defeat escaping
#: (``safe``)
ALLOWED_FILTERS = frozenset(
    {
        "abs", "attr", "capitalize", "count", "d", "default", "dictsort", "e", "escape",
        "filesizeformat", "first", "float", "forceescape", "groupby", "int", "items", "join",
        "last", "length", "list", "lower", "map", "max", "min", "reject", "rejectattr",
        "replace", "reverse", "round", "select", "selectattr", "sort", "string", "striptags",
        "sum", "title", "trim", "truncate", "unique", "upper", "urlencode", "wordcount",
    }
)  # fmt: skip
#: methods of text a template may call (``ljust``, ``zfill``, ``format``... are refused)
_STR_METHODS = frozenset(
    {
        "capitalize", "casefold", "count", "endswith", "find", "index", "isalnum", "isalpha",
        "isdigit", "islower", "isnumeric", "isspace", "istitle", "isupper", "lower", "lstrip",
        "partition", "rfind", "rindex", "rpartition", "rsplit", "rstrip", "split", "splitlines",
        "startswith", "strip", "swapcase", "title", "upper",
    }
)  # fmt: skip
_SEQUENCE_METHODS = frozenset({"count", "index"})
_MAPPING_METHODS = frozenset({"get", "items", "keys", "values"})
#: statements refused, with the reason given to the author
_REFUSED_NODES: tuple[tuple[type[nodes.Node], str], ...] = (
    (nodes.Macro, "macros are not available in e-mail templates"),
    (nodes.CallBlock, "call blocks are not available in e-mail templates"),
    (nodes.Include, "templates cannot include other templates"),
    (nodes.Import, "templates cannot import other templates"),
    (nodes.FromImport, "templates cannot import other templates"),
    (nodes.Extends, "templates cannot extend other templates"),
    (nodes.Block, "blocks are not available in e-mail templates"),
    (nodes.AssignBlock, "{% set %} blocks are not available; use {% set x = ... %}"),
    (nodes.FilterBlock, "{% filter %} blocks are not available; apply the filter to a value"),
    (nodes.ScopedEvalContextModifier, "{% autoescape %} is not available: values are escaped"),
    (nodes.EvalContextModifier, "{% autoescape %} is not available: values are escaped"),
)

_budget: contextvars.ContextVar[list[int] | None] = contextvars.ContextVar(
    "marketing_template_budget", default=None
)
_deadline: contextvars.ContextVar[float | None] = contextvars.ContextVar(
    "marketing_template_deadline", default=None
)


class RenderLimit(SecurityError):
    """A template went over one of the limits of a rendering."""


class RenderError(Exception):
    """A template could not be rendered; ``line`` is its line when known."""

    def __init__(self, message: str, line: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.line = line

    def __str__(self) -> str:
        return f"Line {self.line}: {self.message}" if self.line else self.message


class Fields(dict[str, Any]):
    """The fields of one context object (``contact``, ``company``...): a plain mapping that
    names itself in error messages."""

    __slots__ = ("_label",)

    def __init__(self, label: str, values: Mapping[str, Any]) -> None:
        super().__init__(values)
        self._label = label


class Lenient(dict[str, Any]):
    """``contact.custom``: a custom field without a value renders empty."""

    def __missing__(self, key: str) -> str:
        return ""


class _Undefined(StrictUndefined):
    """Strict, with messages that name the context object and its fields."""

    __slots__ = ()

    @property
    def _undefined_message(self) -> str:
        obj = self._undefined_obj
        if self._undefined_hint is None and isinstance(obj, Fields):
            return (
                f"unknown placeholder {obj._label}.{self._undefined_name}; "
                f"{obj._label} has {', '.join(sorted(obj))}"
            )
        if self._undefined_hint is None and obj is _MISSING:
            return (
                f"unknown placeholder {self._undefined_name!r}; the placeholders are "
                f"{', '.join(sorted(SAMPLE))}"
            )
        return super()._undefined_message


# -- the context -------------------------------------------------------------------------------

CONTACT_FIELDS = (
    "first_name", "last_name", "name", "email", "title", "phone", "mobile", "street", "city",
    "region", "postal_code", "country",
)  # fmt: skip
COMPANY_FIELDS = (
    "name", "domain", "website", "phone", "industry", "street", "city", "region",
    "postal_code", "country",
)  # fmt: skip


def _text(value: Any) -> str:
    return "" if value is None else str(value)


def contact_context(contact: Any, company: Any) -> dict[str, Any]:
    """``contact`` and ``company`` as plain mappings of text (``""`` for a missing value).

    ``contact`` also has ``tags`` (a list of text) and ``custom`` (its custom fields).
    ``company`` may be ``None``: every field is then empty.
    """
    values = {
        name: _text(getattr(contact, name, None)) for name in CONTACT_FIELDS if name != "name"
    }
    values["name"] = " ".join(p for p in (values["first_name"], values["last_name"]) if p)
    values["tags"] = [str(t) for t in (getattr(contact, "tags", None) or [])]
    custom = getattr(contact, "custom_fields", None) or {}
    values["custom"] = Lenient({str(k): _text(v) for k, v in custom.items()})
    company_values = {name: _text(getattr(company, name, None)) for name in COMPANY_FIELDS}
    return {"contact": Fields("contact", values), "company": Fields("company", company_values)}


def message_context(
    contact: Any, company: Any, campaign_name: str, unsubscribe_url: str
) -> dict[str, Any]:
    """Everything a template sees for one recipient."""
    context = contact_context(contact, company)
    context["campaign"] = Fields("campaign", {"name": campaign_name or ""})
    context["unsubscribe_url"] = unsubscribe_url
    return context


def _sample() -> dict[str, Any]:
    contact = types.SimpleNamespace(
        first_name="Ada",
        last_name="Lovelace",
        email="ada@example.com",
        title="Analyst",
        phone="+44 20 7946 0000",
        mobile="+44 7700 900000",
        street="12 St James's Square",
        city="London",
        region="Greater London",
        postal_code="SW1Y 4JH",
        country="GB",
        tags=["vip", "newsletter"],
        custom_fields={},
    )
    company = types.SimpleNamespace(
        name="Analytical Engines Ltd",
        domain="example.com",
        website="https://example.com",
        phone="+44 20 7946 0001",
        industry="Computing",
        street="12 St James's Square",
        city="London",
        region="Greater London",
        postal_code="SW1Y 4JH",
        country="GB",
    )
    return message_context(
        contact, company, "Spring newsletter", "https://crm.example.com/m/u/sample"
    )


#: the context of previews without a contact and of the trial rendering at save time
SAMPLE: dict[str, Any] = _sample()


# -- limits ------------------------------------------------------------------------------------


def _size(value: Any, cap: int = MAX_OUTPUT) -> int:
    """Roughly how many characters ``value`` takes when printed, all the way down: a part
    held twice counts twice, as ``str()`` would print it twice. Counting stops soon after
    ``cap``, so measuring a huge value costs no more than ``cap`` steps."""
    total = 0
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            total += len(item)
        elif isinstance(item, bool) or item is None:
            total += 1
        elif isinstance(item, int):
            total += item.bit_length() // 3 + 1
        elif isinstance(item, (list, tuple)):
            total += len(item) + 1
            if total <= cap:
                stack.extend(item)
        elif isinstance(item, dict):
            total += len(item) + 1
            if total <= cap:
                stack.extend(item.keys())
                stack.extend(item.values())
        elif isinstance(item, Cycler):
            total += len(item.items) + 1
            if total <= cap:
                stack.extend(item.items)
        else:
            total += 8
        if total > cap:
            break
    return total


def _limit(size: int, what: str = "a value") -> None:
    if size > MAX_VALUE:
        raise RenderLimit(f"{what} would exceed {MAX_VALUE:,} characters")


def _tick() -> None:
    """Stop a rendering that ran out of time (checked wherever a template does work)."""
    deadline = _deadline.get()
    if deadline is not None and time.thread_time() > deadline:
        raise RenderLimit(f"the rendering took longer than {MAX_SECONDS:g} s")


def _bounded(value: Any, what: str) -> Any:
    """``value`` when it is small enough to print; checked as soon as it is made."""
    _tick()
    _limit(_size(value, MAX_VALUE), what)
    return value


def _literal(value: Any) -> Any:
    """Wrapped around every list, tuple and dict literal: ``[a, a, a]`` where ``a`` is
    large is refused when it is made, not when it is printed."""
    return _bounded(value, "a literal")


def _finalize(value: Any) -> Any:
    """Every ``{{ value }}``: measured before ``str()`` turns it into text."""
    _tick()
    if _size(value, MAX_OUTPUT) > MAX_OUTPUT:
        raise RenderLimit(f"the result is longer than {MAX_OUTPUT:,} characters")
    return value


def _guarded_filter(name: str) -> Any:
    """The filter ``name``, refusing a result too large to print and a rendering out of
    time (a generator, as from ``map``, is measured when it is made into a value)."""
    original = FILTERS[name]

    @functools.wraps(original)
    def guarded(*args: Any, **kwargs: Any) -> Any:
        _tick()
        return _bounded(original(*args, **kwargs), f"the filter {name!r}")

    return guarded


def _safe_range(*args: int) -> range:
    result = range(*args)
    if len(result) > MAX_RANGE:
        raise RenderLimit(f"range() is limited to {MAX_RANGE:,} items")
    return result


@pass_context
def _loop_budget(context: Context, value: Any) -> Iterator[Any]:
    """Wrapped around every ``{% for %}``'s iterable: counts iterations against the budget."""
    counter = _budget.get()
    for item in value:
        _tick()
        if counter is not None:
            counter[0] -= 1
            if counter[0] < 0:
                raise RenderLimit(f"loops are limited to {MAX_LOOP:,} iterations in all")
        yield item


@pass_eval_context
def _concat(eval_ctx: EvalContext, values: list[Any]) -> str:
    """``a ~ b``, with its length checked first."""
    _tick()
    _limit(sum(_size(v, MAX_VALUE) for v in values), "joining with ~")
    parts = [v if isinstance(v, str) else str(v) for v in values]
    _limit(sum(len(p) for p in parts), "joining with ~")
    return markup_join(parts) if eval_ctx.autoescape else str_join(parts)


def _join(eval_ctx: EvalContext, value: Any, d: str = "", attribute: Any = None) -> str:
    items = list(value)
    _limit(_size(items) + len(str(d)) * len(items), "join")
    return FILTERS["join"](eval_ctx, items, d, attribute)  # type: ignore[no-any-return]


def _replace(eval_ctx: EvalContext, s: str, old: str, new: str, count: int | None = None) -> str:
    _limit(_size(s, MAX_VALUE), "replace")
    text = str(s)
    hits = text.count(str(old)) if old else len(text) + 1
    if count is not None and count >= 0:
        hits = min(hits, count)
    _limit(len(text) + hits * len(str(new)), "replace")
    return FILTERS["replace"](eval_ctx, s, old, new, count)  # type: ignore[no-any-return]


class MailEnvironment(ImmutableSandboxedEnvironment):
    """The immutable sandbox with the limits of this module."""

    intercepted_binops = frozenset({"+", "*", "**", "%"})

    def is_safe_attribute(self, obj: Any, attr: str, value: Any) -> bool:
        if isinstance(obj, str):
            allowed = attr in _STR_METHODS
        elif isinstance(obj, (list, tuple)):
            allowed = attr in _SEQUENCE_METHODS
        elif isinstance(obj, dict):
            allowed = attr in _MAPPING_METHODS
        elif isinstance(obj, (int, float, complex, bytes, bytearray, range, set, frozenset)):
            allowed = False
        else:
            allowed = True
        return allowed and super().is_safe_attribute(obj, attr, value)

    def wrap_str_format(self, value: Any) -> Any:
        # str.format / format_map are refused outright (by is_safe_attribute): a width such
        # as {:>999999999} would allocate without bound
        return None

    def call(
        __self,  # named as in jinja: a template may pass ``self=`` as an argument
        __context: Context,
        __obj: Any,
        *args: Any,
        **kwargs: Any,
    ) -> Any:
        _tick()
        result = super().call(__context, __obj, *args, **kwargs)
        return _bounded(result, "a call")

    def getattr(self, obj: Any, attribute: str) -> Any:
        _tick()
        return super().getattr(obj, attribute)

    def getitem(self, obj: Any, argument: Any) -> Any:
        _tick()
        return super().getitem(obj, argument)

    def call_binop(self, context: Context, operator: str, left: Any, right: Any) -> Any:
        _tick()
        if operator == "%" and isinstance(left, str):
            raise RenderLimit("formatting text with % is not available; use ~ to join text")
        if operator == "*":
            if isinstance(left, int) and isinstance(right, int):
                if left.bit_length() + right.bit_length() > _MAX_INT_BITS:
                    raise RenderLimit("the number is too large")
            else:
                count = right if isinstance(right, int) else left if isinstance(left, int) else 1
                sequence = left if isinstance(right, int) else right
                if isinstance(sequence, (str, list, tuple)):
                    _limit(_size(sequence) * max(int(count), 0), "repeating")
        if operator == "+" and isinstance(left, (str, list, tuple)):
            _limit(_size(left) + _size(right), "adding")
        if operator == "**" and isinstance(left, int) and isinstance(right, int) and right > 0:
            if max(left.bit_length(), 1) * right > _MAX_INT_BITS:
                raise RenderLimit("the number is too large")
        return super().call_binop(context, operator, left, right)


@functools.cache
def environment(html: bool, strict: bool = True) -> MailEnvironment:
    """The environment of HTML bodies (``html=True``: values escaped) or of subjects and
    plain-text bodies; ``strict``: an undefined value is an error (saving, previews), else
    it renders empty (sending). Configuration only, the same for every app."""
    undefined = _Undefined if strict else ChainableUndefined
    env = MailEnvironment(
        autoescape=html, undefined=undefined, auto_reload=False, finalize=_finalize
    )
    env.filters = {name: _guarded_filter(name) for name in ALLOWED_FILTERS}
    env.filters["join"] = pass_eval_context(_join)
    env.filters["replace"] = pass_eval_context(_replace)
    env.filters["_loop_budget"] = _loop_budget
    env.filters["_concat"] = _concat
    env.filters["_literal"] = _literal
    env.globals = {"range": _safe_range, "cycler": Cycler, "joiner": Joiner}
    return env


# -- checking and compiling --------------------------------------------------------------------


def _private(name: Any) -> str:
    return f"{name!r} is not available (names starting with _ are private)"


def _static_problems(tree: nodes.Template) -> Iterator[tuple[int, str]]:
    """Problems found without running: private names, refused statements and filters."""
    for node in tree.find_all(nodes.Node):
        line = getattr(node, "lineno", 0) or 0
        for kind, message in _REFUSED_NODES:
            if isinstance(node, kind):
                yield line, message
        if isinstance(node, nodes.Getattr) and node.attr.startswith("_"):
            yield line, _private(node.attr)
        elif isinstance(node, nodes.Getitem) and isinstance(node.arg, nodes.Const):
            if isinstance(node.arg.value, str) and node.arg.value.startswith("_"):
                yield line, _private(node.arg.value)
        elif isinstance(node, nodes.Name) and node.name.startswith("_"):
            yield line, _private(node.name)
        elif isinstance(node, nodes.Filter):
            if node.name not in ALLOWED_FILTERS:
                yield line, f"the filter {node.name!r} is not available"
            named = [arg for arg in node.args if node.name == "attr"] + [
                pair.value for pair in node.kwargs if pair.key == "attribute"
            ]
            for arg in named:
                if isinstance(arg, nodes.Const) and str(arg.value).startswith("_"):
                    yield line, _private(arg.value)
        elif isinstance(node, nodes.For) and node.recursive:
            yield line, "recursive loops are not available in e-mail templates"
        if isinstance(node, (nodes.Getattr, nodes.Getitem)):
            unknown = _unknown_field(node)
            if unknown:
                yield line, unknown
    env_globals = environment(True).globals
    for name in sorted(meta.find_undeclared_variables(tree)):
        if name not in SAMPLE and name not in env_globals and not name.startswith("_"):
            yield (
                _first_line(tree, name),
                f"unknown placeholder {name!r}; the placeholders are {', '.join(sorted(SAMPLE))}",
            )


def _unknown_field(node: nodes.Getattr | nodes.Getitem) -> str | None:
    """``contact.nickname``: a field of a context object that does not exist (caught even in
    a branch that the trial rendering does not take)."""
    target = node.node
    if not isinstance(target, nodes.Name) or target.ctx != "load":
        return None
    fields = SAMPLE.get(target.name)
    if not isinstance(fields, Fields):
        return None
    if isinstance(node, nodes.Getattr):
        name: Any = node.attr
    elif isinstance(node.arg, nodes.Const):
        name = node.arg.value
    else:
        return None
    if name in fields or (isinstance(node, nodes.Getattr) and name in _MAPPING_METHODS):
        return None
    return (
        f"unknown placeholder {target.name}.{name}; {target.name} has {', '.join(sorted(fields))}"
    )


def _first_line(tree: nodes.Template, name: str) -> int:
    for found in tree.find_all(nodes.Name):
        if found.name == name:
            return found.lineno
    return 0


class _Bounded(NodeTransformer):
    """Every loop counts its iterations, every ``~`` checks its length first, every literal
    is measured when it is made."""

    def _measured(self, node: nodes.Expr) -> nodes.Node:
        visited = self.generic_visit(node)
        if getattr(visited, "ctx", "load") != "load":
            return visited  # a target: ``{% for a, b in ... %}``
        return nodes.Filter(visited, "_literal", [], [], None, None, lineno=node.lineno)

    def visit_List(self, node: nodes.List) -> nodes.Node:
        return self._measured(node)

    def visit_Tuple(self, node: nodes.Tuple) -> nodes.Node:
        return self._measured(node)

    def visit_Dict(self, node: nodes.Dict) -> nodes.Node:
        return self._measured(node)

    def visit_For(self, node: nodes.For) -> nodes.Node:
        node = self.generic_visit(node)
        node.iter = nodes.Filter(node.iter, "_loop_budget", [], [], None, None, lineno=node.lineno)
        return node

    def visit_Concat(self, node: nodes.Concat) -> nodes.Node:
        node = self.generic_visit(node)
        items = nodes.List(node.nodes, lineno=node.lineno)
        return nodes.Filter(items, "_concat", [], [], None, None, lineno=node.lineno)


def _error_line(exc: BaseException) -> int | None:
    """The template line where a rendering failed, from the rewritten traceback."""
    line = None
    tb = exc.__traceback__
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == "<template>":
            line = tb.tb_lineno
        tb = tb.tb_next
    return line


def compile_source(source: str, *, html: bool, strict: bool = True) -> Any:
    """A compiled template, or :class:`RenderError` for a syntax error or a refused
    construct (naming the line). Not ``strict``: what is undefined for one contact (the
    first tag of a contact without tags) renders empty instead of failing; for sending,
    once :func:`check` passed."""
    if len(source) > MAX_SOURCE:
        raise RenderError(f"the template is longer than {MAX_SOURCE:,} characters")
    env = environment(html, strict)
    try:
        tree = env.parse(source)
    except TemplateSyntaxError as exc:
        raise RenderError(exc.message or "syntax error", exc.lineno) from None
    for line, message in _static_problems(tree):
        raise RenderError(message, line)
    try:
        tree = _Bounded().visit(tree)
        tree.set_environment(env)
        return env.from_string(tree)
    except TemplateSyntaxError as exc:
        raise RenderError(exc.message or "syntax error", exc.lineno) from None
    except TemplateError as exc:
        raise RenderError(str(exc)) from None


def render_compiled(template: Any, context: Mapping[str, Any]) -> str:
    """Render a compiled template within the limits; :class:`RenderError` when it fails."""
    token = _budget.set([MAX_LOOP])
    clock = _deadline.set(time.thread_time() + MAX_SECONDS)
    try:
        parts: list[str] = []
        total = 0
        for part in template.generate(context):
            _tick()
            total += len(part)
            if total > MAX_OUTPUT:
                raise RenderLimit(f"the result is longer than {MAX_OUTPUT:,} characters")
            parts.append(part)
        return "".join(parts)
    except RenderLimit as exc:
        raise RenderError(f"too costly: {exc}", _error_line(exc)) from None
    except SecurityError as exc:
        raise RenderError(f"not allowed: {exc}", _error_line(exc)) from None
    except UndefinedError as exc:
        raise RenderError(str(exc), _error_line(exc)) from None
    except RecursionError as exc:
        raise RenderError("too deeply nested", _error_line(exc)) from None
    except MemoryError:
        raise RenderError("too costly: out of memory") from None
    except Exception as exc:  # a template's own error: 1/0, int('x')...
        raise RenderError(f"{type(exc).__name__}: {exc}", _error_line(exc)) from None
    finally:
        _budget.reset(token)
        _deadline.reset(clock)


def render(source: str, context: Mapping[str, Any], *, html: bool = True) -> str:
    """Render ``source`` with ``context`` (see :func:`message_context`); HTML-escaped values
    when ``html``. Raises :class:`RenderError`."""
    return render_compiled(compile_source(source, html=html), context)


def check(source: str, *, field: str = "_schema", html: bool = True) -> None:
    """Refuse a template that does not compile, uses what the sandbox refuses, or fails on
    the sample context: :class:`crmcore.ValidationError` on ``field``, naming the line."""
    try:
        render_compiled(compile_source(source, html=html), SAMPLE)
    except RenderError as exc:
        raise ValidationError({field: [str(exc)]}) from None


__all__ = [
    "MAX_LOOP",
    "MAX_OUTPUT",
    "MAX_RANGE",
    "MAX_SECONDS",
    "MAX_SOURCE",
    "MAX_VALUE",
    "SAMPLE",
    "Fields",
    "RenderError",
    "check",
    "compile_source",
    "contact_context",
    "environment",
    "message_context",
    "render",
    "render_compiled",
]
