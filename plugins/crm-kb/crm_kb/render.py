"""Markdown to safe HTML: markdown-it-py renders, nh3 sanitises (a second line of defence)."""

from __future__ import annotations

import html
import re
import unicodedata

import nh3
from markdown_it import MarkdownIt

from crmcore import parsing

#: Tags an article may contain after sanitising; everything else is dropped.
TAGS = frozenset(
    {
        "a", "abbr", "b", "blockquote", "br", "code", "del", "em", "h1", "h2", "h3", "h4", "h5",
        "h6", "hr", "i", "img", "kbd", "li", "ol", "p", "pre", "s", "strong", "sub", "sup",
        "table", "tbody", "td", "th", "thead", "tr", "ul",
    }
)  # fmt: skip
ATTRIBUTES = {
    "a": {"href", "title"},
    "img": {"src", "alt", "title"},
    "ol": {"start"},
    "code": {"class"},
}
URL_SCHEMES = frozenset({"http", "https", "mailto"})
SUMMARY_LENGTH = 160


def _parser() -> MarkdownIt:
    # raw HTML in the source is shown as text, never interpreted
    return MarkdownIt("commonmark", {"html": False, "linkify": False}).enable("table")


def render(body: str) -> str:
    """The sanitised HTML of a Markdown ``body``: no script, style, iframe or unsafe links."""
    return nh3.clean(
        _parser().render(body or ""),
        tags=set(TAGS),
        attributes={k: set(v) for k, v in ATTRIBUTES.items()},
        url_schemes=set(URL_SCHEMES),
        link_rel="nofollow noopener noreferrer",
        strip_comments=True,
    )


def plain_text(body: str) -> str:
    """The words of a Markdown body without markup, on one line."""
    text = nh3.clean(_parser().render(body or ""), tags=set())
    return html.unescape(re.sub(r"\s+", " ", text).strip())


def summary(body: str, length: int = SUMMARY_LENGTH) -> str:
    """A meta description: the first ``length`` characters of the text, cut at a word."""
    text = plain_text(body)
    if len(text) <= length:
        return text
    cut = text[: length - 1].rsplit(" ", 1)[0]
    return f"{cut}…"


def slugify(value: str, max_length: int = 80) -> str:
    """``"¿Cómo cambio mi contraseña?"`` -> ``"como-cambio-mi-contrasena"``."""
    decomposed = unicodedata.normalize("NFKD", value)
    ascii_text = "".join(c for c in decomposed if not unicodedata.combining(c)).lower()
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_text).strip("-")[:max_length].strip("-")
    return slug or "article"


SLUG_RE = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")


def slug_problem(slug: str) -> str | None:
    """Why ``slug`` cannot be used in a URL, or ``None``."""
    if not SLUG_RE.match(slug):
        return "Use lower-case letters, digits and single hyphens."
    if parsing.is_whole(slug):
        return "A slug cannot be only digits (those are article ids)."
    return None
