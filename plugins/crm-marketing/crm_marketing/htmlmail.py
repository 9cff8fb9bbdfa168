"""The HTML of a message: sanitising with nh3, and the plain-text part derived from it.

What a message may contain (see "Templates and content" in docs/user-guide/marketing.md):
the tags and attributes of table-based e-mail layouts, inline ``style`` attributes limited to
:data:`CSS_PROPERTIES`, images, and links to ``http``, ``https``, ``mailto`` and ``tel``.
No ``<script>``, ``<style>``, forms, frames, event handlers (``onerror=``...), ``id``/``class``
or ``javascript:`` URLs: they are removed, with their content for scripts and styles.

The plain-text part is derived by :func:`to_text`, a small converter on the standard
library's HTML parser: paragraphs, line breaks, list items, table rows, and links written as
``text (url)``. (html2text is GPL-licensed, the other converters bring a second HTML stack;
this one is a hundred lines and tested.)
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Mapping
from html import escape, unescape
from html.parser import HTMLParser

import nh3

TAGS = frozenset(
    {
        "a", "abbr", "address", "b", "big", "blockquote", "br", "caption", "center", "cite",
        "code", "col", "colgroup", "dd", "del", "div", "dl", "dt", "em", "font", "h1", "h2",
        "h3", "h4", "h5", "h6", "hr", "i", "img", "ins", "kbd", "li", "ol", "p", "pre", "q",
        "s", "small", "span", "strike", "strong", "sub", "sup", "table", "tbody", "td",
        "tfoot", "th", "thead", "tr", "tt", "u", "ul",
    }
)  # fmt: skip
#: removed together with everything inside them
CLEAN_CONTENT_TAGS = frozenset(
    {
        "script", "style", "title", "template", "noscript", "iframe", "object", "embed",
        "textarea", "select", "svg", "math",
    }
)  # fmt: skip
_TABLE = {"align", "bgcolor", "border", "cellpadding", "cellspacing", "height", "role", "width"}
_CELL = {"align", "bgcolor", "colspan", "height", "nowrap", "rowspan", "valign", "width"}
ATTRIBUTES: dict[str, set[str]] = {
    "*": {"style", "title", "dir", "lang", "align"},
    "a": {"href", "name", "target"},
    "img": {"src", "alt", "width", "height", "border", "hspace", "vspace"},
    "table": _TABLE,
    "tbody": {"valign"},
    "thead": {"valign"},
    "tfoot": {"valign"},
    "tr": {"bgcolor", "valign", "height"},
    "td": _CELL,
    "th": _CELL,
    "col": {"span", "width"},
    "colgroup": {"span", "width"},
    "font": {"color", "face", "size"},
    "ol": {"start", "type"},
    "ul": {"type"},
    "li": {"value"},
    "div": {"bgcolor"},
    "hr": {"width", "size", "color", "noshade"},
}
#: CSS properties allowed in ``style`` attributes: what e-mail layouts use
CSS_PROPERTIES = frozenset(
    {
        "background", "background-color", "border", "border-bottom", "border-collapse",
        "border-color", "border-left", "border-radius", "border-right", "border-spacing",
        "border-style", "border-top", "border-width", "color", "direction", "display",
        "font", "font-family", "font-size", "font-style", "font-weight", "height",
        "letter-spacing", "line-height", "list-style-type", "margin", "margin-bottom",
        "margin-left", "margin-right", "margin-top", "max-width", "min-width", "mso-hide",
        "mso-line-height-rule", "padding", "padding-bottom", "padding-left", "padding-right",
        "padding-top", "table-layout", "text-align", "text-decoration", "text-transform",
        "vertical-align", "white-space", "width", "word-break",
    }
)  # fmt: skip
URL_SCHEMES = frozenset({"http", "https", "mailto", "tel"})

#: an ``<a ...href="...">`` in nh3's output, where every attribute value is double-quoted and
#: a ``"`` inside one is written ``&quot;``: ``"[^"]*"`` spans exactly one value
_LINK = re.compile(r'(<a(?:\s+[^\s="/>]+(?:="[^"]*")?)*?\s+href=")([^"]*)(")')


@functools.cache
def _cleaner() -> nh3.Cleaner:
    """The sanitiser, configured once (configuration only, the same for every app)."""
    return nh3.Cleaner(
        tags=set(TAGS),
        clean_content_tags=set(CLEAN_CONTENT_TAGS),
        attributes=ATTRIBUTES,
        url_schemes=set(URL_SCHEMES),
        filter_style_properties=set(CSS_PROPERTIES),
        link_rel="noopener",
        strip_comments=True,
    )


def sanitize(html: str, rewrite_link: Callable[[str], str | None] | None = None) -> str:
    """``html`` with everything outside the allowed tags, attributes, styles and URL schemes
    removed. ``rewrite_link(href)`` may replace the target of each ``<a href>`` (return
    ``None`` to keep it); it sees the address as written, entities decoded."""
    clean = _cleaner().clean(html)
    if rewrite_link is None or "<a " not in clean:
        return clean

    def replace(found: re.Match[str]) -> str:
        new = rewrite_link(unescape(found.group(2)))
        if new is None:
            return found.group(0)
        return f"{found.group(1)}{escape(new)}{found.group(3)}"

    return _LINK.sub(replace, clean)


def document(body: str, title: str = "", lang: str = "") -> str:
    """A complete HTML document around a sanitised fragment."""
    lang_attr = f' lang="{escape(lang)}"' if lang else ""
    return (
        f"<!DOCTYPE html>\n<html{lang_attr}>\n<head>\n"
        '<meta http-equiv="Content-Type" content="text/html; charset=utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{escape(title)}</title>\n</head>\n<body>\n{body}\n</body>\n</html>\n"
    )


# -- plain text --------------------------------------------------------------------------------

_BLOCK = frozenset(
    {
        "address", "article", "aside", "blockquote", "caption", "center", "dd", "div", "dl",
        "dt", "figcaption", "figure", "footer", "form", "header", "main", "nav", "ol",
        "section", "table", "tbody", "tfoot", "thead", "tr", "ul",
    }
)  # fmt: skip
_PARAGRAPH = frozenset({"p", "h1", "h2", "h3", "h4", "h5", "h6", "pre", "blockquote", "table"})
_SKIP = frozenset({"script", "style", "head", "title", "template", "noscript"})
_SPACES = re.compile(r"[ \t\r\n\f\v]+")
_BLANK_LINES = re.compile(r"\n{3,}")


class _TextParser(HTMLParser):
    def __init__(self, urls: Mapping[str, str]) -> None:
        super().__init__(convert_charrefs=True)
        self.urls = urls
        self.out: list[str] = []
        self.skip = 0
        self.pre = 0
        self.links: list[tuple[str | None, int]] = []
        self.lists: list[list[int]] = []  # per open list: [next number] (ol) or [] (ul)
        self.cells = 0

    # output helpers
    def text(self, data: str) -> None:
        if self.skip:
            return
        if not self.pre:
            data = _SPACES.sub(" ", data)
            if data == " " and (not self.out or self.out[-1].endswith((" ", "\n"))):
                return
            if self.out and self.out[-1].endswith((" ", "\n")):
                data = data.lstrip(" ")
        self.out.append(data)

    def newline(self, count: int = 1) -> None:
        if not self.out:
            return
        # trailing spaces of the line go
        while self.out and self.out[-1].endswith(" "):
            self.out[-1] = self.out[-1].rstrip(" ")
            if not self.out[-1]:
                self.out.pop()
        have = 0
        for part in reversed(self.out):
            stripped = part.rstrip("\n")
            have += len(part) - len(stripped)
            if stripped:
                break
        if have < count:
            self.out.append("\n" * (count - have))

    # parser callbacks
    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _SKIP:
            self.skip += 1
            return
        if self.skip:
            return
        attributes = dict(attrs)
        if tag in _PARAGRAPH:
            self.newline(2)
        elif tag in _BLOCK:
            self.newline()
        if tag == "br":
            self.out.append("\n")
        elif tag == "hr":
            self.newline()
            self.out.append("-" * 40)
            self.newline()
        elif tag == "pre":
            self.pre += 1
        elif tag in ("ul", "ol"):
            self.lists.append([int(attributes.get("start") or 1)] if tag == "ol" else [])
        elif tag == "li":
            self.newline()
            depth = max(len(self.lists) - 1, 0)
            current = self.lists[-1] if self.lists else []
            if current:
                bullet = f"{current[0]}. "
                current[0] += 1
            else:
                bullet = "- "
            self.out.append("  " * depth + bullet)
        elif tag == "tr":
            self.cells = 0
        elif tag in ("td", "th"):
            if self.cells:
                self.text(" ")
            self.cells += 1
        elif tag == "a":
            self.links.append((attributes.get("href"), len(self.out)))
        elif tag == "img":
            alt = (attributes.get("alt") or "").strip()
            if alt:
                self.text(alt)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_starttag(tag, attrs)
        if tag not in ("br", "hr", "img"):
            self.handle_endtag(tag)

    def handle_endtag(self, tag: str) -> None:
        if tag in _SKIP:
            self.skip = max(self.skip - 1, 0)
            return
        if self.skip:
            return
        if tag == "a" and self.links:
            href, start = self.links.pop()
            self._close_link(href, start)
        elif tag == "pre":
            self.pre = max(self.pre - 1, 0)
        elif tag in ("ul", "ol") and self.lists:
            self.lists.pop()
        if tag in _PARAGRAPH:
            self.newline(2)
        elif tag in _BLOCK or tag == "li":
            self.newline()

    def _close_link(self, href: str | None, start: int) -> None:
        if not href:
            return
        href = self.urls.get(href.strip(), href.strip())
        label = "".join(self.out[start:]).strip()
        scheme = href.split(":", 1)[0].lower() if ":" in href else ""
        if scheme not in ("http", "https", "mailto", "tel") and _MARK_OPEN not in href:
            return
        shown = href[7:] if scheme == "mailto" else href
        if label in (href, shown):
            return
        if not label:
            self.text(shown)
        else:
            self.text(f" ({shown})")

    def handle_data(self, data: str) -> None:
        self.text(data)

    def result(self) -> str:
        text = "".join(self.out)
        lines = [line.rstrip() for line in text.split("\n")]
        return _BLANK_LINES.sub("\n\n", "\n".join(lines)).strip("\n") + "\n"


def to_text(html: str, urls: Mapping[str, str] | None = None) -> str:
    """The plain-text rendering of ``html``: one paragraph per block, list items with ``-``
    or numbers, table cells side by side, links as ``text (url)``.

    ``urls`` maps hrefs found in the HTML to the address to show instead (the original
    address of a tracked link)."""
    parser = _TextParser(urls or {})
    parser.feed(html)
    parser.close()
    return parser.result()


# -- the plain-text template of an HTML template ---------------------------------------------

_JINJA = re.compile(r"\{\{.*?\}\}|\{%.*?%\}|\{#.*?#\}", re.DOTALL)
_MARK_OPEN, _MARK_CLOSE = "\ue000", "\ue001"
_MARK = re.compile("\ue000(\\d+)\ue001")


def text_template(source: str) -> str | None:
    """The plain-text counterpart of an HTML *template*: its placeholders and tags kept,
    the HTML around them converted as :func:`to_text` would, so that a message's text part
    is one quick rendering instead of a conversion per recipient.

    ``None`` when it cannot be made safely (the caller then converts each message).
    Placeholders inside tags (``<td {% if %}...>``) may get lost: the caller must check the
    result compiles and gives the same text as the conversion (see
    :func:`crm_marketing.compose.compiled`)."""
    if _MARK_OPEN in source or _MARK_CLOSE in source:
        return None
    found: list[str] = []

    def protect(match: re.Match[str]) -> str:
        found.append(match.group(0))
        return f"{_MARK_OPEN}{len(found) - 1}{_MARK_CLOSE}"

    text = to_text(sanitize(_JINJA.sub(protect, source)))
    if "{{" in text or "{%" in text or "{#" in text:
        return None  # written as entities in the HTML, they would become template syntax
    return _MARK.sub(lambda match: found[int(match.group(1))], text)
