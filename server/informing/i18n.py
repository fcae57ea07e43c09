"""The informing pages' words: catalogs in ``server/informing/locales/`` (read by :mod:`cherga.i18n`).

Only the pages' own words live here ("Documents to bring", "Where to go"); what a service *is*,
what to bring and where to go is office content in the site config (``services[].info``).
The language names of the switch are the web pages' (:mod:`cherga.server.mirror.i18n`).
"""

from __future__ import annotations

from pathlib import Path

from cherga.i18n import Catalogs

CATALOGS = Catalogs(Path(__file__).resolve().parent / "locales")
catalog = CATALOGS.catalog
