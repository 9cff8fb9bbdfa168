"""Hostile templates: each is refused quickly, while it renders - not after its result was
turned into text - and the server keeps answering.

Before these limits, a template nesting list literals eight levels deep (ten items each)
made ``str()`` build a text of hundreds of megabytes: a worker stopped answering.
"""

from __future__ import annotations

import time

import pytest
from crm_marketing import templating
from crm_marketing.templating import RenderError, check, compile_source, render_compiled

from crmcore import ValidationError

pytestmark = pytest.mark.crm_plugins("marketing")

TEN = ",".join(["1"] * 10)


def _chain(levels: int, make: str) -> str:
    """``a`` holds ``a`` ten times, ``levels`` times over; ``make`` builds one level from
    ``a,a,...``."""
    out = "{% set a = [" + TEN + "] %}"
    for _ in range(levels):
        out += "{% set a = " + make.format(",".join(["a"] * 10)) + " %}"
    return out


HOSTILE = {
    "nested list literals": _chain(7, "[{}]") + "{{ a }}",
    "nested tuple literals": _chain(7, "({})") + "{{ a|length }}",
    "nested dict literals": _chain(7, "{{" + ",".join(f"{k}:a" for k in range(10)) + "}}")
    + "{{ a }}",
    "nested literals as text": _chain(7, "[{}]") + "{{ a|string|length }}",
    "nested literals joined": _chain(7, "[{}]") + "{{ a ~ '' }}",
    "nested literals replaced": _chain(7, "[{}]") + "{{ a|replace('1', '2')|length }}",
    "nested literals compared": _chain(7, "[{}]")
    + "{% set b = a %}"
    + _chain(7, "[{}]")
    + "{{ a == b }}",
    "nested literals in one expression": "{{ "
    + "[" * 6
    + ",".join(["1"] * 10)
    + "]*10" * 6
    + " }}",
    "huge range": "{{ range(10**9)|length }}",
    "huge range with a step": "{% for i in range(0, 10**18, 3) %}{% endfor %}",
    "ranges in a loop": "{% for i in range(999) %}{% for j in range(999) %}{{ i }}"
    "{% endfor %}{% endfor %}",
    "string multiplication": "{{ 'a' * 10**9 }}",
    "string multiplication in steps": "{{ ('a' * 1000) * 1000 }}",
    "list multiplication of a nested list": _chain(4, "[{}]") + "{{ [a] * 100 }}",
    "recursion via macros": "{% macro f(n) %}{{ f(n) }}{% endmacro %}{{ f(1) }}",
    "recursion via caller": "{% macro f() %}{{ caller() }}{% endmacro %}"
    "{% call f() %}{{ f() }}{% endcall %}",
    "recursive loop": "{% for x in [[1]] recursive %}{{ loop(x) }}{% endfor %}",
    "cycler of nested items": "{% set a = ["
    + TEN
    + "] %}"
    + "".join("{% set a = cycler(" + ",".join(["a"] * 10) + ").items %}" for _ in range(7))
    + "{{ a }}",
    "cycler of long text": "{% set c = cycler('x' * 99999) %}"
    "{% for i in range(1000) %}{{ c.next() }}{% endfor %}",
    "joiner of long text": "{% set j = joiner('x' * 99999) %}"
    "{% for i in range(1000) %}{{ j() }}{% endfor %}",
    "loop.cycle of nested items": _chain(7, "[{}]")
    + "{% for i in range(3) %}{{ loop.cycle(a, a) }}{% endfor %}",
}


@pytest.mark.parametrize("source", HOSTILE.values(), ids=list(HOSTILE))
def test_hostile_templates_are_refused_by_their_cost_while_they_render(source, monkeypatch):
    """Each is stopped by a limit on the work it does (loop steps, sizes of values, output),
    not by the clock: the time limit, a backstop, is set far off here, so that the test
    cannot pass because a limit was missing, nor fail because the machine was busy."""
    monkeypatch.setattr(templating, "MAX_SECONDS", 600.0)
    with pytest.raises(ValidationError) as caught:
        check(source, field="body_html")
    (message,) = caught.value.messages["body_html"]
    assert "not available" in message or "too costly" in message, message
    assert "took longer" not in message, message


@pytest.mark.parametrize(
    "name", ["nested list literals", "cycler of nested items", "loop.cycle of nested items"]
)
def test_sending_renders_within_the_limits_too(name, monkeypatch):
    """Sending compiles leniently (``strict=False``): the limits are the same."""
    monkeypatch.setattr(templating, "MAX_SECONDS", 600.0)  # the work limits, not the clock
    compiled = compile_source(HOSTILE[name], html=True, strict=False)
    with pytest.raises(RenderError, match="too costly") as caught:
        render_compiled(compiled, templating.SAMPLE)
    assert "took longer" not in str(caught.value)


def test_a_slow_template_stops_at_the_time_budget(monkeypatch):
    """Within every size and loop limit, yet slow: stopped when its time is up (the message
    says so; finished, the rendering would raise nothing)."""
    monkeypatch.setattr(templating, "MAX_SECONDS", 0.2)
    source = (
        "{% set s = 'ab' * 20000 %}{% for i in range(100) %}{% for j in range(99) %}"
        "{{ s|replace('a', 'c')|length }}{% endfor %}{% endfor %}"
    )
    with pytest.raises(RenderError, match=r"took longer than 0.2 s"):
        render_compiled(compile_source(source, html=True), templating.SAMPLE)


def test_the_time_budget_counts_cpu_time_not_the_clock(monkeypatch):
    """A rendering that waits - its thread left without a core on a busy server - is not
    refused: the budget is the rendering thread's CPU time."""
    monkeypatch.setattr(templating, "MAX_SECONDS", 0.2)

    class Waits:
        def __str__(self) -> str:
            time.sleep(0.15)  # off the CPU, as a thread is while others hold the cores
            return "x"

    contact = {"first_name": Waits(), "last_name": Waits(), "email": Waits()}
    source = "{{ contact.first_name }}{{ contact.last_name }}{{ contact.email }}"
    assert render_compiled(compile_source(source, html=False), {"contact": contact}) == "xxx"


def test_values_are_measured_all_the_way_down():
    """A list that holds the same list many times is as large as its printed text."""
    inner = list(range(10))
    nested = [inner] * 10
    for _ in range(6):
        nested = [nested] * 10
    assert templating._size(nested, templating.MAX_VALUE) > templating.MAX_VALUE
    assert templating._size([inner] * 10, templating.MAX_VALUE) < 300


def test_ordinary_literals_and_helpers_still_work():
    source = (
        "{% set xs = [1, 2, 3] %}{% set d = {'a': 1} %}{% set c = cycler('odd', 'even') %}"
        "{% set sep = joiner(', ') %}"
        "{% for x in xs %}{{ sep() }}{{ x }} {{ c.next() }}{% endfor %}|{{ d.a }}|"
        "{{ (1, 2)|length }}|{% for a, b in [(1, 2)] %}{{ a + b }}{% endfor %}"
    )
    check(source)
    assert templating.render(source, templating.SAMPLE) == "1 odd, 2 even, 3 odd|1|2|3"


def test_the_server_keeps_answering(api, monkeypatch):
    """Saving each hostile template through the API is a 422, stopped by the work limits
    (the clock's backstop set far off); the server answers the next request as usual."""
    monkeypatch.setattr(templating, "MAX_SECONDS", 600.0)
    for name, source in HOSTILE.items():
        r = api.post(
            "/api/v1/email_templates",
            json={"name": name, "subject": "Hi", "body_html": source},
        )
        assert r.status_code == 422, (name, r.get_json())
        assert "took longer" not in str(r.get_json()), name
        assert r.headers["Content-Type"].startswith("application/problem+json")
        assert api.get("/api/v1/email_templates").status_code == 200
