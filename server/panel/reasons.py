""""Why this ticket" in the reader's language: the scheduler's facts (``TicketInfo.why``) worded from
the panel's catalog (``why_*`` keys), naming the service and the priority category by their
configured names. The English ``reason`` (logs, API clients) is never shown on a page."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from cherga.server.panel.i18n import Catalog


def _number(value: Any) -> str:
    return f"{float(value):g}"


def why_text(config: Any, lang: str, t: Catalog, why: Mapping[str, Any] | None) -> str:
    """The reason in ``lang``; empty when the call carries no facts (e.g. a ticket called before they were kept)."""
    if not why:
        return ""
    rule = why.get("rule")
    if rule in ("returns", "transferred"):
        return str(t[f"why_{rule}"])
    if rule == "appointment":
        try:
            at = dt.datetime.fromisoformat(str(why["at"])).astimezone(config.office.tz).strftime("%H:%M")
        except (KeyError, ValueError):
            return str(t["why_appointment_due"])
        return str(t["why_appointment"]).format(time=at)
    if rule != "score":
        return ""
    parts = [str(t["why_waited"]).format(minutes=int(why.get("minutes", 0)))]
    if why.get("category"):
        cid = str(why["category"])
        name = next((str(c.names.get(lang)) for c in config.priority_categories if c.id == cid), str(t["why_a_category"]))
        parts.append(str(t["why_category"]).format(category=name, weight=_number(why.get("category_weight", 1))))
    if why.get("service"):
        try:
            name = str(config.service(str(why["service"])).names.get(lang))
        except KeyError:
            name = str(t["why_a_service"])
        parts.append(str(t["why_service"]).format(service=name, weight=_number(why.get("service_weight", 1))))
    parts.append(str(t["why_longest"]).format(count=int(why.get("candidates", 1))))
    if why.get("walk_in_bound_min") is not None:
        parts.append(str(t["why_walk_ins_first"]).format(minutes=int(why["walk_in_bound_min"])))
    return ", ".join(parts)
