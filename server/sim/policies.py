"""Policies to compare with the core's :func:`server.core.scheduling.choose_next`.

They share the core's first two rules (a ticket reserved for the counter, then a due booked
visitor), so a comparison isolates how walk-ins are ordered:

* :func:`fifo_per_service` — the classic e-queue: each desk works through its services in order of
  their weight at the desk (its main service first), first come first served within a service,
  priority categories ignored.
* :func:`fifo` — the oldest waiting walk-in among all the desk's services, priority ignored.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

from cherga.server.core.scheduling import Decision, PolicySettings, eligible
from cherga.server.core.tickets import Ticket
from cherga.server.siteconfig import Counter


def _common(counter: Counter, waiting: Iterable[Ticket], now: dt.datetime,
            settings: PolicySettings) -> tuple[Decision | None, list[Ticket]]:
    candidates = [t for t in waiting if eligible(t, counter, now)]
    reserved = [t for t in candidates if t.target_counter == counter.id]
    if reserved:
        t = min(reserved, key=lambda t: (t.waiting_since, t.number))
        return Decision(t, f"{t.label}: reserved for this counter", "reserved"), []
    window = dt.timedelta(seconds=settings.call_window_s)
    due = [t for t in candidates if t.appointment_at is not None and t.appointment_at - window <= now]
    if due:
        t = min(due, key=lambda t: (t.appointment_at or now, t.number))
        return Decision(t, f"{t.label}: appointment", "appointment"), []
    return None, [t for t in candidates if t.appointment_at is None]


def fifo_per_service(counter: Counter, waiting: Iterable[Ticket], now: dt.datetime,
                     settings: PolicySettings) -> Decision | None:
    decision, walk_ins = _common(counter, waiting, now, settings)
    if decision is not None or not walk_ins:
        return decision
    order = sorted(range(len(counter.services)), key=lambda i: (-counter.services[i].weight, i))
    for i in order:
        sid = counter.services[i].id
        pool = [t for t in walk_ins if t.service == sid]
        if pool:
            t = min(pool, key=lambda t: (t.waiting_since, t.number))
            return Decision(t, f"{t.label}: first in line for {sid}", "fifo")
    return None


def fifo(counter: Counter, waiting: Iterable[Ticket], now: dt.datetime,
         settings: PolicySettings) -> Decision | None:
    decision, walk_ins = _common(counter, waiting, now, settings)
    if decision is not None or not walk_ins:
        return decision
    t = min(walk_ins, key=lambda t: (t.waiting_since, t.number))
    return Decision(t, f"{t.label}: longest wait", "fifo")
