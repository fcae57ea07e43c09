"""The kiosk's words: its catalogs in ``kiosk/locales/`` (read by :mod:`cherga.i18n`).

An office corrects a word by editing ``locales/<lang>.json``; no code holds citizen-facing text.
:func:`text` looks a key up in the chosen language and falls back to English, then to the key
itself, so a missing word shows up as an obvious key rather than a crash.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from cherga.i18n import Catalogs

CATALOGS = Catalogs(Path(__file__).resolve().parent / "locales")
catalog = CATALOGS.catalog
text = CATALOGS.text


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


def wait_line(lang: str, minutes: int | None, most: int | None = None) -> str:
    """The forecast as the kiosk prints it: "Estimated wait: ≈ 12 min, at most 25" (the point alone
    when there is no bound, "estimate unavailable" when there is no estimate)."""
    t = CATALOGS.catalog(lang)
    if minutes is None:
        return t["estimate_unavailable"]
    if most is not None and most > minutes:
        return f"{t['estimated_wait']}: {t['wait_range_minutes'].format(n=minutes, m=most)}"
    return f"{t['estimated_wait']}: {t['wait_minutes'].format(n=minutes)}"
