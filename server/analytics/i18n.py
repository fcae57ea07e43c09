"""The analytics message catalogs: one JSON file per language in ``locales/`` (uk, ru, ky, kk, en).

Column keys of report tables are catalog keys, so the same table is labelled in any language;
an office corrects a word by editing the JSON file, not the code.
"""

from __future__ import annotations

import functools
import json
import re
from pathlib import Path

LANGS: tuple[str, ...] = ("uk", "ru", "ky", "kk", "en")
PAGE_LANGS: tuple[str, ...] = ("uk", "ru", "ky", "en")  # the manager's page language switch
LOCALES = Path(__file__).with_name("locales")


@functools.cache
def catalog(lang: str) -> dict[str, str]:
    if lang not in LANGS:
        lang = "en"
    data: dict[str, str] = json.loads((LOCALES / f"{lang}.json").read_text(encoding="utf-8"))
    return data


def text(lang: str, key: str) -> str:
    """The text for ``key`` in ``lang``, else English, else the key itself."""
    found = catalog(lang).get(key) or catalog("en").get(key)
    if found:
        return found
    score = re.fullmatch(r"score_(\d+)", key)
    if score:
        return (catalog(lang).get("score_n") or "{n}").format(n=score.group(1))
    return key


def pick_lang(requested: str | None, accept_language: str | None = None, default: str = "uk") -> str:
    """The page language: ``?lang=``, else the browser's first known language, else the office's."""
    if requested in LANGS:
        return str(requested)
    for part in (accept_language or "").split(","):
        code = part.split(";")[0].strip().lower()[:2]
        if code in LANGS:
            return code
    return default if default in LANGS else "uk"
