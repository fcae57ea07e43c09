"""The kiosk's message catalogs: one JSON file per language in ``kiosk/locales/``.

An office corrects a word by editing ``locales/<lang>.json``; no code holds citizen-facing text.
:func:`text` looks a key up in the chosen language and falls back to English, then to the key
itself, so a missing word shows up as an obvious key rather than a crash.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

LOCALE_DIR = Path(__file__).resolve().parent / "locales"
LANGUAGES: tuple[str, ...] = ("uk", "ru", "ky", "kk", "en")
FALLBACK = "en"


@functools.cache
def catalog(lang: str) -> dict[str, str]:
    """The whole catalog of ``lang`` (empty for an unknown language)."""
    path = LOCALE_DIR / f"{lang}.json"
    if not path.is_file():
        return {}
    data = json.loads(path.read_text(encoding="utf-8"))
    return {str(k): str(v) for k, v in data.items()}


def text(lang: str, key: str, **values: Any) -> str:
    """The message ``key`` in ``lang`` with ``{name}`` placeholders filled from ``values``."""
    template = catalog(lang).get(key) or catalog(FALLBACK).get(key) or key
    return template.format(**values) if values else template


def reason_text(lang: str, reason: str | None) -> str:
    """The citizen's words for a server refusal key; unknown keys get the generic message."""
    key = f"reason.{reason}"
    if reason and key in catalog(lang):
        return catalog(lang)[key]
    return text(lang, "reason.generic")


def pick(names: Mapping[Any, str], lang: str, fallbacks: tuple[str, ...] = ("en", "ru", "uk")) -> str:
    """A configured per-language name (service, office, footer) in ``lang``, or the nearest one."""
    for candidate in (lang, *fallbacks):
        if names.get(candidate):
            return names[candidate]
    return next(iter(names.values()), "")
