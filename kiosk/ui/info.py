"""The kiosk's "what do I need?" screen (issue 18): a service's documents and where to go.

Pure, no pygame: from the office config the server sent (``services[].info`` and a life
situation's ``about``/``documents``, :class:`cherga.broker_bridge.contract.ServiceText`) it makes
the lines the screen shows in the citizen's language, and pages them to fit.
:class:`~cherga.kiosk.ui.state.KioskState` puts them on its ``info`` screen with "get a ticket"
and "back".

What a line says, in order: where to go, then one line per document (``•``), then the fee and
the time to result. A life situation lists each of its services by name (``▸``), each followed by
its own place and documents, then the documents the situation itself adds. Spoken aloud:
:func:`speech` gives the same text as one string per screen, which a kiosk with a voice
(``hardware.voice``) reads with espeak-ng when "Listen" is tapped (``kiosk/speaker.py``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from cherga.broker_bridge.contract import NodeConfig, ServiceInfo
from cherga.kiosk.i18n import pick, text

# Each line may wrap to two: five fit an 800x480 panel, three its lower part in low-reach mode.
LINES_PER_PAGE = 5
LARGE_LINES_PER_PAGE = 3  # large-text and low-reach modes: bigger letters, or the lower part of the screen


def _service(config: NodeConfig, service_id: str) -> ServiceInfo | None:
    return next((s for s in config.services if s.id == service_id), None)


def has_info(config: NodeConfig, kind: str, choice_id: str, services: Sequence[str]) -> bool:
    """Whether the choice (a service, or a life situation of ``services``) has anything to show."""
    if kind == "bundle":
        bundle = next((b for b in config.bundles if b.id == choice_id), None)
        if bundle is not None and (bundle.documents or bundle.about):
            return True
    return any((s := _service(config, sid)) is not None and s.info is not None for sid in services)


def _said(names: Mapping[Any, str], lang: str) -> str:
    return pick(names, lang) if names else ""


def _service_lines(service: ServiceInfo, lang: str, *, facts: bool) -> list[str]:
    info = service.info
    if info is None:
        return []
    lines = []
    if where := _said(info.where, lang):
        lines.append(text(lang, "info_where", where=where))
    lines += [f"• {doc}" for d in info.documents if (doc := _said(d, lang))]
    if facts:
        if fee := _said(info.fee, lang):
            lines.append(text(lang, "info_fee", fee=fee))
        if duration := _said(info.duration, lang):
            lines.append(text(lang, "info_duration", duration=duration))
    return lines


def info_lines(config: NodeConfig, kind: str, choice_id: str, services: Sequence[str], lang: str) -> list[str]:
    """Everything the screen says about the choice, one line each, in ``lang``."""
    if kind == "service":
        service = _service(config, choice_id)
        return _service_lines(service, lang, facts=True) if service else []
    lines: list[str] = []
    for sid in services:
        service = _service(config, sid)
        if service is None:
            continue
        lines.append(f"▸ {pick(service.names, lang)}")
        # A life situation keeps to what to bring and where: fees and times are on each service's page.
        lines += _service_lines(service, lang, facts=False)
    bundle = next((b for b in config.bundles if b.id == choice_id), None)
    if bundle is not None:
        lines += [f"• {doc}" for d in bundle.documents if (doc := _said(d, lang))]
    return lines


def paged(lines: Sequence[str], large: bool) -> list[list[str]]:
    """The lines cut into screens; a service's line never splits across two."""
    size = LARGE_LINES_PER_PAGE if large else LINES_PER_PAGE
    return [list(lines[i:i + size]) for i in range(0, len(lines), size)] or [[]]


def speech(title: str, lines: Sequence[str]) -> str:
    """One screen as one text to read aloud (bullets dropped, sentences separated)."""
    parts = [title, *(line.lstrip("•▸ ").strip() for line in lines)]
    return ". ".join(p.rstrip(".") for p in parts if p) + "."
