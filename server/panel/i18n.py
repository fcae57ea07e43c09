"""The operator panel's words: its catalogs in ``server/panel/locales/`` (read by :mod:`cherga.i18n`).

An office may correct a word by editing the file; no text is hard-coded in the router or the
templates. Missing keys fall back to English, then to the key itself, so a half-translated
catalog still renders.
"""

from __future__ import annotations

from pathlib import Path

from cherga.broker_bridge.contract import LANGUAGES
from cherga.i18n import FALLBACK, Catalog, Catalogs

CATALOGS = Catalogs(Path(__file__).resolve().parent / "locales")
catalog = CATALOGS.catalog

__all__ = ["CATALOGS", "Catalog", "catalog", "pick_language"]


def pick_language(*candidates: str | None) -> str:
    """The first candidate the panel speaks; English when none does."""
    for c in candidates:
        if c in LANGUAGES:
            return c
    return FALLBACK
