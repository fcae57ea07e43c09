"""The event record the report engine reads: one row of the store's append-only event log.

Reports are pure functions over a sequence of :class:`EventRecord` (see :mod:`server.analytics.engine`);
the store adapter (:mod:`server.analytics.store`) turns database rows into these records and
nothing else does any bookkeeping of its own.

``kind`` is one of :class:`server.core.tickets.EventKind`'s values. ``data`` holds the kind's
details; the engine reads these keys when present:

=====================  ===================================================================
kind                   data keys read
=====================  ===================================================================
``issued``             ``origin``; ``slot`` (or ``appointment_at``) and ``check_in`` of a booked
                       visitor; ``issued_at`` of an offline ticket (logged when synced)
``transferred``        ``to_service`` (the service the ticket now waits for), ``bundle``
``returned``           ``to_service`` (the service it returns to; else the event's service)
``rated``              ``score`` (1 = best face)
``counter_paused``     ``reason`` / ``pause_reason``
``counter_closed``     nothing (the counter and the time: closed by the hall manager until
                       ``counter_opened``)
=====================  ===================================================================
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any, NamedTuple

_EMPTY: Mapping[str, Any] = {}


class EventRecord(NamedTuple):
    """One event of the log, as the report engine sees it. ``at`` is timezone-aware (UTC).

    A named tuple rather than a dataclass: a month of a large office is ~200,000 of these, and a
    tuple is the cheapest immutable record to build.
    """

    kind: str
    at: dt.datetime
    ticket_id: str | None = None
    office: str = ""
    service: str | None = None
    counter: str | None = None
    operator: str | None = None
    data: Mapping[str, Any] = _EMPTY


def parse_time(value: Any) -> dt.datetime | None:
    """An aware datetime from a datetime or an ISO string (naive values are taken as UTC)."""
    if value is None or value == "":
        return None
    if isinstance(value, dt.datetime):
        moment = value
    else:
        try:
            moment = dt.datetime.fromisoformat(str(value))
        except ValueError:
            return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    return moment
