"""The words of notifications: each message and the consent text, in the ticket's language.

The catalogs are ``locales/<lang>.json`` (read by :mod:`cherga.i18n`), in the glossary's words; an
office corrects a word there. :data:`CONSENT_VERSION` names the consent text a citizen agreed to: it
is stored with each contact, and changes whenever the consent wording changes.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from cherga.i18n import Catalog, Catalogs

CATALOGS = Catalogs(Path(__file__).resolve().parent / "locales")
#: bump when the "consent" message changes in any language (stored with each contact)
CONSENT_VERSION = "2026-12-a"

KINDS = ("booking_confirmed", "reminder_day", "reminder_hour", "near", "called", "documents_ready")


def catalog(lang: str) -> Catalog:
    return CATALOGS.catalog(lang)


def message(kind: str, lang: str, **params: Any) -> str:
    """The text of a ``kind`` message in ``lang`` (``near`` without a forecast says only who is ahead)."""
    key = f"msg_{kind}"
    if kind == "near" and params.get("wait") is None:
        key = "msg_near_no_wait"
    return CATALOGS.text(lang, key, **params)


def consent_text(lang: str, *, office: str, days: int) -> str:
    return CATALOGS.text(lang, "consent", office=office, days=days)
