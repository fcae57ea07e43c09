"""The administration pages' words: catalogs in ``server/admin/locales/`` (read by :mod:`cherga.i18n`),
and each configuration problem told in the administrator's language by its key and parameters.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from cherga.broker_bridge.contract import LANGUAGES
from cherga.i18n import FALLBACK, Catalog, Catalogs
from cherga.server.siteconfig import Problem

CATALOGS = Catalogs(Path(__file__).resolve().parent / "locales")
catalog = CATALOGS.catalog

__all__ = ["CATALOGS", "Catalog", "catalog", "pick_language", "problem_text"]


def pick_language(*candidates: str | None) -> str:
    """The first candidate the pages speak; English when none does."""
    for c in candidates:
        if c in LANGUAGES:
            return c
    return FALLBACK


class _Params(dict[str, Any]):
    def __missing__(self, key: str) -> str:
        return ""


def problem_text(lang: str, problem: Problem) -> str:
    """``problem`` in ``lang``: the catalog's ``e_<key>`` with its parameters (a language code is
    named as people name it); a problem the catalog does not know is "this value is not accepted"."""
    t = catalog(lang)
    key = f"e_{problem.key}"
    if problem.loc and f"{key}__{problem.loc[-1]}" in t:
        key = f"{key}__{problem.loc[-1]}"  # a clearer word for this field ("one or two capital letters")
    elif key not in t:
        key = "e_invalid"
    params = _Params(problem.params)
    if "lang" in params:
        params["lang"] = catalog(lang).get(f"lang_in_{params['lang']}", params["lang"])
    if "expected" in params:
        params["expected"] = str(params["expected"]).replace("'", "")
    return t[key].format_map(params)
