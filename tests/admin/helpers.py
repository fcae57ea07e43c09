"""Reading an administration page's form the way a browser would post it (tests without a browser)."""

from __future__ import annotations

from html.parser import HTMLParser
from typing import Any
from urllib.parse import urlencode


class _Form(HTMLParser):
    def __init__(self, action: str) -> None:
        super().__init__()
        self.action = action
        self.inside = False
        self.fields: list[tuple[str, str]] = []
        self._select: str | None = None
        self._textarea: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "form":
            self.inside = a.get("action") == self.action
        if not self.inside:
            return
        if tag == "input" and a.get("name"):
            if a.get("type") in ("checkbox", "radio"):
                if "checked" in a:
                    self.fields.append((a["name"], a.get("value", "on")))
            elif a.get("type") != "file":
                self.fields.append((a["name"], a.get("value", "")))
        elif tag == "select":
            self._select = a.get("name")
        elif tag == "option" and self._select and "selected" in a:
            self.fields.append((self._select, a.get("value", "")))

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self.inside = False
        if tag == "select":
            self._select = None


def form_fields(html: str, action: str) -> list[tuple[str, str]]:
    """The name/value pairs the form posting to ``action`` would send as it stands."""
    parser = _Form(action)
    parser.feed(html)
    return parser.fields


def changed(fields: list[tuple[str, str]], **values: str) -> list[tuple[str, str]]:
    """``fields`` with some values replaced (names with dots: pass them as a dict via ``**{...}``)."""
    out = [(k, values.get(k, v)) for k, v in fields]
    out += [(k, v) for k, v in values.items() if k not in {name for name, _ in fields}]
    return out


def post_form(client: Any, action: str, fields: list[tuple[str, str]]) -> Any:
    return client.post(action, content=urlencode(fields), follow_redirects=False,
                       headers={"content-type": "application/x-www-form-urlencoded"})
