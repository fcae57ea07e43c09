"""The web pages' words (web kiosk, hall mirror, booking page): catalogs in ``server/mirror/locales/``.

Read by :mod:`cherga.i18n`; an office corrects a word by editing ``locales/<lang>.json``. The
web kiosk and the hall mirror get the whole catalog of each language embedded in the page.

The web kiosk says what the touchscreen kiosk says: the kiosk's catalog files (data, not the kiosk's
code) lie under these, so a word both show ("Choose a service", the purposes, the refusals) is
written once, in ``kiosk/locales/``; this folder holds only the pages' own words.
"""

from __future__ import annotations

import datetime as dt
from importlib import resources
from pathlib import Path

from cherga.broker_bridge.contract import LANGUAGES
from cherga.i18n import Catalog, Catalogs

KIOSK_WORDS = Catalogs(Path(str(resources.files("cherga.kiosk") / "locales")))
CATALOGS = Catalogs(Path(__file__).resolve().parent / "locales", base=KIOSK_WORDS)
catalog = CATALOGS.catalog
#: each language's name in itself, for the language switches
LANGUAGE_NAMES = {lang: catalog(lang)["language_name"] for lang in LANGUAGES}
_WEEKDAY_KEYS = ("day_mon", "day_tue", "day_wed", "day_thu", "day_fri", "day_sat", "day_sun")


def weekday(t: Catalog, day: dt.date) -> str:
    """The short name of ``day``'s weekday in the catalog ``t``."""
    return t[_WEEKDAY_KEYS[day.weekday()]]
