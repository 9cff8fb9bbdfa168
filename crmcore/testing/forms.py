"""Reading a page's form the way a browser submits it, for tests of generated forms.

``form_data(html)`` returns what pressing the form's submit button would send, unchanged:
text inputs with their values, checked checkboxes, each select's selected (else first) option,
textareas' text; inputs tied to another form, disabled ones, buttons and the inside of
``<template>`` elements are left out, as a browser does.
"""

from __future__ import annotations

from html.parser import HTMLParser
from typing import Any


class _FormReader(HTMLParser):
    def __init__(self, selector_class: str) -> None:
        super().__init__(convert_charrefs=True)
        self.selector_class = selector_class
        self.data: dict[str, str] = {}
        self.forms_seen = 0
        self.inside = False
        self.template_depth = 0
        self.select: str | None = None
        self.select_first: str | None = None
        self.select_chosen = False
        self.textarea: str | None = None
        self.in_option = False
        self.option_value: str | None = None
        self.option_selected = False
        self.option_text = ""

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v if v is not None else "" for k, v in attrs}
        if tag == "form":
            classes = a.get("class", "").split()
            if self.forms_seen == 0 and (not self.selector_class or self.selector_class in classes):
                self.inside = True
                self.forms_seen += 1
            return
        if not self.inside:
            return
        if tag == "template":
            self.template_depth += 1
            return
        if self.template_depth or "disabled" in a or "form" in a:
            return
        name = a.get("name")
        if tag == "input" and name:
            kind = a.get("type", "text").lower()
            if kind in ("submit", "button", "image", "reset", "file"):
                return
            if kind in ("checkbox", "radio"):
                if "checked" in a:
                    self.data[name] = a.get("value") or "on"
                return
            self.data[name] = a.get("value", "")
        elif tag == "select" and name:
            self.select, self.select_first, self.select_chosen = name, None, False
        elif tag == "option" and self.select:
            self._close_option()
            self.in_option = True
            self.option_value = a.get("value")
            self.option_selected = "selected" in a
            self.option_text = ""
        elif tag == "textarea" and name:
            self.textarea = name
            self.data[name] = ""

    def _close_option(self) -> None:
        if self.select is None or not self.in_option:
            return
        self.in_option = False
        value = self.option_value if self.option_value is not None else self.option_text.strip()
        if self.select_first is None:
            self.select_first = value
        if self.option_selected and not self.select_chosen:
            self.data[self.select] = value
            self.select_chosen = True
        self.option_value = None
        self.option_text = ""

    def handle_endtag(self, tag: str) -> None:
        if tag == "form" and self.inside:
            self.inside = False
        elif tag == "template" and self.template_depth:
            self.template_depth -= 1
        elif tag == "option":
            self._close_option()
        elif tag == "select" and self.select:
            self._close_option()
            if not self.select_chosen and self.select_first is not None:
                self.data[self.select] = self.select_first
            self.select = None
        elif tag == "textarea":
            self.textarea = None

    def handle_data(self, data: str) -> None:
        if self.textarea is not None:
            self.data[self.textarea] += data
        elif self.in_option and self.option_value is None:
            self.option_text += data


def form_data(html: str, form_class: str = "record-form") -> dict[str, Any]:
    """What the first form of class ``form_class`` (any form when empty) submits unchanged."""
    reader = _FormReader(form_class)
    reader.feed(html)
    reader.close()
    if not reader.forms_seen:
        raise AssertionError(f"no form of class {form_class!r} in the page")
    return reader.data
