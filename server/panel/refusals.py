"""A refusal of the service in the reader's language: ``error_<key>`` of the panel's catalog.

The service raises :class:`~cherga.server.errors.ServiceError` with a stable ``key`` and ``params``
holding ids (``counter``, ``service``) and plain facts (``ticket`` label, ``minutes``). Here the ids
become what staff read: a counter's number, a service's name in their language. The English
``message`` (for logs and API clients) never reaches the page: a key without a message reads
"The action was refused" in the reader's language (the catalog tests keep every key covered).
"""

from __future__ import annotations

from typing import Any

from cherga.server.errors import ServiceError
from cherga.server.panel.i18n import catalog

__all__ = ["refusal_text"]


class _Values(dict[str, str]):
    """Placeholder values; a placeholder the refusal did not fill reads as empty, never a KeyError."""

    def __missing__(self, key: str) -> str:
        return ""


def _readable(config: Any, lang: str, name: str, value: str | int) -> str:
    text = str(value)
    if config is None:
        return text
    try:
        if name == "service":
            return str(config.service(text).names.get(lang))
        if name == "counter":  # an id (or already a number): what the counter's sign says
            return str(config.counter(text).number)
    except KeyError:
        pass
    return text


def refusal_text(config: Any, lang: str, exc: ServiceError) -> str:
    """What staff read for ``exc`` in ``lang``, with names (not ids) of ``config``'s services and counters."""
    t = catalog(lang)
    key = f"error_{exc.key}"
    if key not in t:
        return f"{t['error_generic']}."
    values = _Values({name: _readable(config, lang, name, value) for name, value in exc.params.items()})
    return t[key].format_map(values)
