"""The service's in-memory view of one office's open tickets (waiting, called, serving).

Rebuilt from the store at start-up and kept in step after every commit, so choosing the next
ticket never scans the database. Waiting walk-ins are kept per (service, priority class) group,
sorted by :func:`server.core.scheduling.queue_key`: :meth:`WaitingView.candidates` offers the core
only the first eligible walk-in of each group, plus every reserved and booked ticket, which gives
:func:`server.core.scheduling.choose_next` the same decision as offering it everything.
"""

from __future__ import annotations

import bisect
import datetime as dt
from collections import defaultdict
from collections.abc import Container

from cherga.server.core.scheduling import queue_key
from cherga.server.core.tickets import Ticket, TicketStatus
from cherga.server.siteconfig import Counter
from cherga.server.store import TicketRecord

_Key = tuple[float, float, int, str]


class WaitingView:
    """Open tickets by id, and the waiting ones indexed the way the scheduler asks for them."""

    def __init__(self) -> None:
        self.active: dict[str, TicketRecord] = {}
        self.by_token: dict[str, str] = {}
        self._groups: dict[str, dict[str | None, list[_Key]]] = defaultdict(dict)
        self._keys: dict[str, _Key] = {}
        self._reserved: dict[str, set[str]] = defaultdict(set)  # counter -> waiting ids reserved for it
        self._booked: dict[str, set[str]] = defaultdict(set)  # service -> waiting booked ids
        self._where: dict[str, tuple[str, str, str | None]] = {}  # id -> (kind, service|counter, priority)
        self.waiting_by_service: dict[str, set[str]] = defaultdict(set)
        self._sum_ts: dict[str, float] = defaultdict(float)  # sum of waiting_since, for average waits

    def __len__(self) -> int:
        return len(self.active)

    def clear(self) -> None:
        self.__init__()  # type: ignore[misc]

    def get(self, ticket_id: str) -> TicketRecord | None:
        return self.active.get(ticket_id)

    def put(self, rec: TicketRecord) -> None:
        """Insert or replace a ticket; a final one (done, no-show, cancelled) leaves the view."""
        self.remove(rec.ticket.id)
        t = rec.ticket
        if t.status.is_final:
            return
        self.active[t.id] = rec
        self.by_token[t.token] = t.id
        if t.status is not TicketStatus.WAITING:
            return
        self.waiting_by_service[t.service].add(t.id)
        self._sum_ts[t.service] += t.waiting_since.timestamp()
        if t.target_counter is not None:
            self._reserved[t.target_counter].add(t.id)
            self._where[t.id] = ("reserved", t.target_counter, None)
        elif t.appointment_at is not None:
            self._booked[t.service].add(t.id)
            self._where[t.id] = ("booked", t.service, None)
        else:
            key = (*queue_key(t), t.id)
            self._keys[t.id] = key
            bisect.insort(self._groups[t.service].setdefault(t.priority, []), key)
            self._where[t.id] = ("group", t.service, t.priority)

    def remove(self, ticket_id: str) -> None:
        old = self.active.pop(ticket_id, None)
        if old is None:
            return
        t = old.ticket
        self.by_token.pop(t.token, None)
        where = self._where.pop(ticket_id, None)
        if where is None:
            return
        self.waiting_by_service[t.service].discard(ticket_id)
        self._sum_ts[t.service] -= t.waiting_since.timestamp()
        kind, place, priority = where
        if kind == "reserved":
            self._reserved[place].discard(ticket_id)
        elif kind == "booked":
            self._booked[place].discard(ticket_id)
        else:
            key = self._keys.pop(ticket_id)
            group = self._groups[place][priority]
            i = bisect.bisect_left(group, key)
            if i < len(group) and group[i] == key:
                del group[i]

    def candidates(self, counter: Counter, now: dt.datetime, exclude: Container[str] = ()) -> list[Ticket]:
        """What the core needs to decide for ``counter``: reserved, booked, and each group's head.

        ``exclude``: tickets to pass over (another process holds them right now).
        """
        out = [self.active[i].ticket for i in self._reserved.get(counter.id, ()) if i not in exclude]
        for cs in counter.services:
            out.extend(self.active[i].ticket for i in self._booked.get(cs.id, ()) if i not in exclude)
            for group in self._groups.get(cs.id, {}).values():
                for key in group:
                    if key[3] in exclude:
                        continue
                    t = self.active[key[3]].ticket
                    if t.not_before is None or t.not_before <= now:
                        out.append(t)
                        break
        return out

    def waiting_for(self, service: str) -> list[Ticket]:
        return [self.active[i].ticket for i in self.waiting_by_service.get(service, ())]

    def waiting_count(self, counter: Counter) -> int:
        """Tickets ``counter`` could call (ignoring postponements not yet due)."""
        n = len(self._reserved.get(counter.id, ()))
        for cs in counter.services:
            n += len(self._booked.get(cs.id, ()))
            n += sum(len(g) for g in self._groups.get(cs.id, {}).values())
        return n

    def service_stats(self, service: str) -> tuple[int, float]:
        """(how many wait for ``service``, the mean of their waiting_since as a timestamp)."""
        n = len(self.waiting_by_service.get(service, ()))
        return n, (self._sum_ts[service] / n if n else 0.0)
