"""Templates in the sandbox: placeholders, escaping, refusals with their line, cost limits;
the sanitiser and the plain-text part."""

from __future__ import annotations

import types

import pytest
from crm_marketing import htmlmail, templating
from crm_marketing.templating import RenderError, check, render

from crmcore import ValidationError


def _contact(**fields):
    values = {
        "first_name": "Ada",
        "last_name": "Lovelace",
        "email": "ada@example.com",
        "title": "Analyst",
        "city": "London",
        "country": "GB",
        "tags": ["vip"],
        "custom_fields": {"shoe_size": 38},
    }
    values.update(fields)
    return types.SimpleNamespace(**values)


def _context(**fields):
    company = types.SimpleNamespace(name="Engines & Co")
    return templating.message_context(
        _contact(**fields), company, "Spring", "https://crm.example.com/m/u/abc"
    )


def _refusal(source, html=True):
    with pytest.raises(ValidationError) as caught:
        check(source, field="body_html", html=html)
    (message,) = caught.value.messages["body_html"]
    return message


# -- placeholders and escaping -----------------------------------------------------------------


def test_placeholders_are_rendered():
    source = (
        "Hi {{ contact.first_name }} {{ contact.last_name }} ({{ contact.email }}, "
        "{{ contact.title }}, {{ contact.city }}, {{ contact.country }}) of {{ company.name }}, "
        "{{ campaign.name }}: {{ unsubscribe_url }} {{ contact.custom.shoe_size }}"
        "{{ contact.custom.unknown_field }} {{ contact.tags|join(',') }} {{ contact.name }}"
    )
    assert render(source, _context(), html=False) == (
        "Hi Ada Lovelace (ada@example.com, Analyst, London, GB) of Engines & Co, Spring: "
        "https://crm.example.com/m/u/abc 38 vip Ada Lovelace"
    )


def test_missing_values_render_empty_and_fall_back():
    context = templating.message_context(
        _contact(first_name="", title=None), None, "Spring", "https://x.example/u"
    )
    source = "{{ contact.first_name or 'friend' }}|{{ contact.title }}|{{ company.name }}"
    assert render(source, context) == "friend||"


def test_contact_data_is_escaped_in_html():
    context = _context(first_name="<script>alert(1)</script>", last_name='"><img src=x>')
    html = render("<p>Hello {{ contact.first_name }} {{ contact.last_name }}</p>", context)
    assert "<script>" not in html and "<img" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "&#34;&gt;&lt;img src=x&gt;" in html
    # the subject and plain text are not HTML: the same values stay as they are
    assert render("{{ contact.first_name }}", context, html=False) == "<script>alert(1)</script>"


def test_the_context_holds_plain_values_only():
    context = _context()
    assert type(context["contact"]).__mro__[1] is dict
    assert all(isinstance(v, (str, list, dict)) for v in context["contact"].values())


# -- refused at save time ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "source",
    [
        "{{ ''.__class__ }}",
        "{{ contact.__class__.__mro__ }}",
        "{% for x in ().__class__.__base__.__subclasses__() %}{{ x }}{% endfor %}",
        "{{ contact['__class__'] }}",
        "{{ contact|attr('__class__') }}",
        "{{ cycler.__init__.__globals__ }}",
        "{{ __builtins__ }}",
        "{{ contact.tags|map(attribute='__class__')|list }}",
    ],
)
def test_sandbox_escapes_are_refused_statically(source):
    message = _refusal(source)
    assert message.startswith("Line 1: ") and "is not available" in message, message


def test_escape_built_at_run_time_is_refused_by_the_sandbox():
    message = _refusal("{% set a = '_' ~ '_class_' ~ '_' %}{{ contact|attr(a) }}")
    assert message.startswith("Line 1: not allowed: access to attribute '__class__'"), message
    # through a filter the refused attribute is undefined: nothing leaks
    source = "{% set a = '_' ~ '_class_' ~ '_' %}{{ contact.tags|map(attribute=a)|list }}"
    assert render(source, _context()) == "[Undefined]"


def test_unsafe_methods_are_refused():
    assert "'format' of 'str'" in _refusal("{{ '{0.__class__}'.format(contact) }}")
    assert "'ljust' of 'str'" in _refusal("{{ 'x'.ljust(10) }}")
    assert "'to_bytes' of 'int'" in _refusal("{{ (1).to_bytes(4, 'big') }}")
    assert "'append' of 'list'" in _refusal("{{ contact.tags.append('x') }}")
    assert "unknown placeholder contact.update" in _refusal("{{ contact.update({'a': 1}) }}")


def test_syntax_errors_name_their_line():
    assert _refusal("<p>one</p>\n<p>{{ contact.first_name }</p>") == "Line 2: unexpected '}'"
    message = _refusal("a\nb\n{% if contact.first_name %}never closed")
    assert message.startswith("Line 3: Unexpected end of template"), message
    assert _refusal("{% for %}").startswith("Line 1: ")


def test_unknown_placeholders_are_refused_even_in_untaken_branches():
    message = _refusal("\n{% if contact.first_name == 'Bob' %}{{ contact.nickname }}{% endif %}")
    assert message.startswith("Line 2: unknown placeholder contact.nickname; contact has "), message
    assert "first_name" in message
    message = _refusal("{{ customer.name }}")
    assert message == (
        "Line 1: unknown placeholder 'customer'; the placeholders are campaign, company, "
        "contact, unsubscribe_url"
    )


def test_run_time_errors_name_their_line():
    assert _refusal("ok\nok\n{{ 1 / 0 }}") == "Line 3: ZeroDivisionError: division by zero"


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("{% macro f() %}x{% endmacro %}{{ f() }}", "macros are not available"),
        ("{% include 'other.html' %}", "cannot include other templates"),
        ("{% extends 'base.html' %}", "cannot extend other templates"),
        ("{% autoescape false %}{{ contact.first_name }}{% endautoescape %}", "{% autoescape %}"),
        ("{{ contact.first_name|safe }}", "the filter 'safe' is not available"),
        ("{{ 'a'|center(1000000000) }}", "the filter 'center' is not available"),
        ("{% set x %}{{ contact.name }}{% endset %}{{ x }}", "{% set %} blocks"),
        ("{% for x in [1] recursive %}{{ loop([]) }}{% endfor %}", "recursive loops"),
    ],
)
def test_refused_constructs(source, expected):
    message = _refusal(source)
    assert message.startswith("Line 1: ") and expected in message, message


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("{{ 'a' * 10000000 }}", "repeating would exceed"),
        ("{{ ['a'] * 10000000 }}", "repeating would exceed"),
        ("{% for i in range(100000) %}{% endfor %}", "range() is limited to 1,000"),
        (
            "{% for i in range(1000) %}{% for j in range(1000) %}{% endfor %}{% endfor %}",
            "loops are limited to 10,000 iterations",
        ),
        ("{% set s = 'a' * 60000 %}{{ s ~ s }}", "joining with ~ would exceed"),
        ("{% set s = 'a' * 60000 %}{{ s + s }}", "adding would exceed"),
        ("{{ range(100)|join('x' * 2000) }}", "join would exceed"),
        ("{{ 'ab'|replace('', 'y' * 60000) }}", "replace would exceed"),
        ("{{ '%999999999d' % 1 }}", "formatting text with % is not available"),
        ("{{ 9 ** 999999 }}", "the number is too large"),
        (
            "{% for i in range(1000) %}{% for j in range(9) %}{{ 'x' * 99999 }}"
            "{% endfor %}{% endfor %}",
            "the result is longer than 1,000,000 characters",
        ),
    ],
)
def test_costly_templates_are_refused_by_their_cost(source, expected, monkeypatch):
    """Each is stopped by the limit its message names, while it renders; the clock's backstop
    is set far off, so that only that limit can stop it (and a busy machine cannot)."""
    monkeypatch.setattr(templating, "MAX_SECONDS", 600.0)
    message = _refusal(source)
    assert "too costly: " in message and expected in message, message


def test_limits_leave_ordinary_templates_alone():
    source = (
        "{% for t in contact.tags %}{{ loop.index }}. {{ t|upper }}{% if not loop.last %}, "
        "{% endif %}{% endfor %}|{{ contact.first_name ~ ' ' ~ contact.last_name }}|"
        "{{ (contact.first_name * 3)|length }}|{{ range(3)|join('-') }}|{{ 2 ** 10 }}|"
        "{{ contact.email.split('@')[1] }}|{{ 'a b'|replace(' ', '_') }}"
    )
    check(source)
    assert render(source, _context()) == "1. VIP|Ada Lovelace|9|0-1-2|1024|example.com|a_b"


def test_too_long_source_is_refused():
    with pytest.raises(RenderError, match="longer than 500,000 characters"):
        templating.compile_source("x" * (templating.MAX_SOURCE + 1), html=True)


# -- sanitising --------------------------------------------------------------------------------


def test_sanitiser_removes_scripts_handlers_and_javascript_urls():
    dirty = (
        '<table width="600" cellpadding="4" style="color: red; position: fixed">'
        '<tr><td bgcolor="#eeeeee">Hi<script>alert(1)</script>'
        '<img src="https://img.example.com/a.png" onerror="alert(2)" alt="A">'
        '<a href="javascript:alert(3)">bad</a><a href="https://ok.example/">ok</a>'
        '<a href="mailto:x@example.com" onclick="alert(4)">mail</a>'
        "<style>body{}</style><iframe src='https://evil.example/'></iframe>"
        '<form action="https://evil.example/"><input name="q"></form>'
        '<div id="x" class="y">text</div></td></tr></table>'
    )
    clean = htmlmail.sanitize(dirty)
    for gone in (
        "script", "alert", "onerror", "onclick", "javascript:", "style>", "iframe", "form",
        "input", "position", 'id="x"', 'class="y"',
    ):  # fmt: skip
        assert gone not in clean, (gone, clean)
    for kept in (
        'width="600"', 'cellpadding="4"', 'style="color:red"', 'bgcolor="#eeeeee"',
        'src="https://img.example.com/a.png"', 'href="https://ok.example/"',
        'href="mailto:x@example.com"', "<div>text</div>",
    ):  # fmt: skip
        assert kept in clean, (kept, clean)


def test_sanitiser_rewrites_only_links_it_is_asked_to():
    html = '<a href="https://a.example/?x=1&amp;y=2">A</a> <a href="https://b.example/">B</a>'
    seen = []

    def rewrite(href):
        seen.append(href)
        return "https://track.example/1" if href.startswith("https://a.") else None

    clean = htmlmail.sanitize(html, rewrite)
    assert seen == ["https://a.example/?x=1&y=2", "https://b.example/"]
    assert 'href="https://track.example/1"' in clean
    assert 'href="https://b.example/"' in clean


# -- the plain-text part -----------------------------------------------------------------------


def test_plain_text_keeps_structure_and_links():
    html = (
        "<h1>Spring   sale</h1><p>Hello <b>Ada</b>,<br>see "
        '<a href="https://shop.example/?a=1&amp;b=2">our shop</a>.</p>'
        "<ul><li>One</li><li>Two</li></ul><ol><li>First</li><li>Second</li></ol>"
        "<table><tr><td>Left</td><td>Right</td></tr></table>"
        '<p><a href="mailto:help@example.com">help@example.com</a> '
        '<a href="https://x.example/"><img src="https://x.example/l.png" alt="Logo"></a> '
        '<a href="#top">top</a> <a href="https://bare.example/">https://bare.example/</a></p>'
        "<style>p{color:red}</style><script>alert(1)</script><p>Tom &amp; Jerry</p>"
    )
    assert htmlmail.to_text(html) == (
        "Spring sale\n\n"
        "Hello Ada,\nsee our shop (https://shop.example/?a=1&b=2).\n\n"
        "- One\n- Two\n1. First\n2. Second\n\n"
        "Left Right\n\n"
        "help@example.com Logo (https://x.example/) top https://bare.example/\n\n"
        "Tom & Jerry\n"
    )


def test_plain_text_shows_original_addresses_of_tracked_links():
    html = '<p><a href="https://crm.example/m/c/tok">Shop</a></p>'
    text = htmlmail.to_text(html, {"https://crm.example/m/c/tok": "https://shop.example/"})
    assert text == "Shop (https://shop.example/)\n"


def test_link_rewriting_sees_only_real_hrefs():
    html = (
        '<a title="x>y" href="https://a.example/">A</a>'
        '<a title=\'q" href="https://evil.example/\' href="https://b.example/">B</a>'
        "<img alt='<a href=\"https://c.example/\">'>"
        '<p>&lt;a href="https://d.example/"&gt;</p>'
    )
    seen = []
    clean = htmlmail.sanitize(html, lambda href: seen.append(href) or "https://t.example/")
    assert seen == ["https://a.example/", "https://b.example/"]
    assert clean.count('href="https://t.example/"') == 2
    assert "evil.example" in clean  # still there, as text of the title, not as a link
    assert 'href="https://evil' not in clean


def test_text_template_keeps_placeholders():
    source = (
        "<h1>Hi {{ contact.first_name }}</h1><p>{% if contact.city %}In {{ contact.city }}"
        '{% endif %}</p><p><a href="{{ unsubscribe_url }}">Leave</a> '
        '<a href="https://x.example/">X</a></p><script>{{ contact.email }}</script>'
    )
    assert htmlmail.text_template(source) == (
        "Hi {{ contact.first_name }}\n\n{% if contact.city %}In {{ contact.city }}{% endif %}\n\n"
        "Leave ({{ unsubscribe_url }}) X (https://x.example/)\n"
    )
    # braces written as entities would turn into template syntax: no text template then
    assert htmlmail.text_template("<p>&#123;&#123; contact.email &#125;&#125;</p>") is None
