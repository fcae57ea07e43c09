"""The one loader of message catalogs: every word a citizen or a member of staff reads.

Each component keeps its words in ``locales/<lang>.json`` next to its code (kiosk, display, the
web pages, the operator panel, the analytics pages), one flat ``{"key": "text"}`` object per
language. An office corrects a word by editing the file; no code holds the text.

A missing key falls back to English, then to the key itself, so a half-translated catalog still
renders (and the catalog tests catch the gap). This module imports only the standard library, so
a node or the server may use it alone; which languages exist is the contract's fact
(:data:`cherga.broker_bridge.contract.LANGUAGES`).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

FALLBACK = "en"


class Catalog(dict[str, str]):
    """One language's messages, English filled in; a missing key answers itself.

    Templates may write ``t.key`` as well as ``t["key"]``.
    """

    def __missing__(self, key: str) -> str:
        return key

    def __getattr__(self, key: str) -> str:
        if key.startswith("__"):
            raise AttributeError(key)
        return self[key]


class Catalogs:
    """The catalogs of one component: the JSON files in ``folder``, read once each.

    ``base``: another component's catalogs this one builds on (the web kiosk says what the kiosk
    says, so it keeps only its own words); its keys fill in under this folder's, language by language.
    """

    def __init__(self, folder: Path, base: Catalogs | None = None) -> None:
        self.folder = folder
        self.base = base
        self._loaded: dict[str, Catalog] = {}
        self._languages: list[str] | None = None

    def languages(self) -> list[str]:
        """The languages this component has a file for."""
        if self._languages is None:
            self._languages = sorted(p.stem for p in self.folder.glob("*.json"))
        return self._languages

    def own(self, lang: str) -> dict[str, str]:
        """What ``lang``'s file itself says (empty when there is no file): for the catalog tests."""
        if lang not in self.languages():  # never a path built from an unchecked request value
            return {}
        data = json.loads((self.folder / f"{lang}.json").read_text(encoding="utf-8"))
        return {str(k): str(v) for k, v in data.items()}

    def catalog(self, lang: str) -> Catalog:
        """The messages of ``lang`` over English (English alone for a language without a file)."""
        found = self._loaded.get(lang)
        if found is None:
            if lang not in self.languages():
                return self.catalog(FALLBACK)
            found = Catalog({**self._layered(FALLBACK), **self._layered(lang)})
            self._loaded[lang] = found
        return found

    def _layered(self, lang: str) -> dict[str, str]:
        return {**(self.base._layered(lang) if self.base else {}), **self.own(lang)}

    def text(self, lang: str, key: str, **values: Any) -> str:
        """The message ``key`` in ``lang`` with ``{name}`` placeholders filled from ``values``."""
        template = self.catalog(lang)[key]
        return template.format(**values) if values else template


def browser_language(accept_language: str | None, among: Iterable[str]) -> str | None:
    """The first language of an ``Accept-Language`` header that is in ``among`` (by its two-letter
    code, in the browser's order; weights are not re-sorted), or None."""
    allowed = set(among)
    for part in (accept_language or "").split(","):
        code = part.split(";")[0].strip().lower()[:2]
        if code in allowed:
            return code
    return None
