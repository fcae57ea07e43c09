"""The live ticket page's words: its catalogs in ``server/ticketpage/locales/`` over the kiosk's.

The page says what the printed ticket says ("People ahead of you", "Estimated wait", "≈ 12 min,
at most 25", "Please wait to be called"), so those words are the kiosk's, written once in
``kiosk/locales/``; this folder holds only the page's own words. Read by :mod:`cherga.i18n`; an
office corrects a word by editing ``locales/<lang>.json``.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from cherga.i18n import Catalogs

KIOSK_WORDS = Catalogs(Path(str(resources.files("cherga.kiosk") / "locales")))
CATALOGS = Catalogs(Path(__file__).resolve().parent / "locales", base=KIOSK_WORDS)
catalog = CATALOGS.catalog
