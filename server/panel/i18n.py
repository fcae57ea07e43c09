"""The operator panel's message catalogs: one JSON file per language in ``locales/``.

An office may correct a word by editing the file; no text is hard-coded in the router or the
templates. Missing keys fall back to English, then to the key itself, so a half-translated
catalog still renders.
"""

from __future__ import annotations

import functools
import json
from pathlib import Path

LOCALES = Path(__file__).resolve().parent / "locales"
PANEL_LANGUAGES: tuple[str, ...] = ("uk", "ru", "ky", "kk", "en")
FALLBACK = "en"


class Catalog(dict[str, str]):
    """A language's messages; ``catalog.key`` in templates, a missing key answers itself."""

    def __missing__(self, key: str) -> str:
        return key

    def __getattr__(self, key: str) -> str:
        if key.startswith("__"):
            raise AttributeError(key)
        return self[key]


@functools.cache
def catalog(lang: str) -> Catalog:
    """The messages of ``lang`` (English for a language the panel has no catalog for)."""
    base: dict[str, str] = json.loads((LOCALES / f"{FALLBACK}.json").read_text(encoding="utf-8"))
    if lang != FALLBACK and lang in PANEL_LANGUAGES:
        base.update(json.loads((LOCALES / f"{lang}.json").read_text(encoding="utf-8")))
    return Catalog(base)


def pick_language(*candidates: str | None) -> str:
    """The first candidate the panel speaks; English when none does."""
    for c in candidates:
        if c in PANEL_LANGUAGES:
            return c
    return FALLBACK
