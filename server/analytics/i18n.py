"""The analytics pages' words: catalogs in ``server/analytics/locales/`` (read by :mod:`cherga.i18n`).

Column keys of report tables are catalog keys, so the same table is labelled in any language;
an office corrects a word by editing the JSON file, not the code.
"""

from __future__ import annotations

import re
from pathlib import Path

from cherga.broker_bridge.contract import LANGUAGES
from cherga.i18n import Catalogs, browser_language

CATALOGS = Catalogs(Path(__file__).resolve().parent / "locales")
catalog = CATALOGS.catalog


def text(lang: str, key: str) -> str:
    """The text for ``key`` in ``lang``, else English, else the key itself."""
    found = catalog(lang)[key]
    if found != key:
        return found
    score = re.fullmatch(r"score_(\d+)", key)
    if score:
        return catalog(lang)["score_n"].format(n=score.group(1))
    return key


def pick_lang(requested: str | None, accept_language: str | None = None, default: str = "uk") -> str:
    """The page language: ``?lang=``, else the browser's first known language, else the office's."""
    if requested in LANGUAGES:
        return str(requested)
    browser = browser_language(accept_language, LANGUAGES)
    if browser is not None:
        return browser
    return default if default in LANGUAGES else "uk"
