"""The follower: reads the office's event log after the queue has committed it, and queues messages.

The queue path is untouched: a call, a check-in, a finished ticket are committed as always; the
follower (its own thread) reads the new events from the store, asks :mod:`.plan` what they cause
and inserts outbox rows under their unique keys, with its new place in the log (``notify_cursor``)
in the same transaction. Were the place lost, the events read again would find their unique keys
taken: still one message each. Several server processes may each follow the log; the keys make that harmless too.

"Your turn is near" is not an event: after each pass the follower asks the service for the
forecast of each waiting ticket that has a contact (the same estimate the ticket prints) and
queues the message once the office's threshold is reached.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

from cherga.server.errors import ServiceError
from cherga.server.notify import plan, texts
from cherga.server.notify.outbox import Outbox
from cherga.server.siteconfig import SiteConfig

log = logging.getLogger("cherga.server.notify")

_DONE = frozenset({"finished", "no_show", "cancelled"})


class Follower:
    def __init__(self, service: Any, outbox: Outbox, clock: Callable[[], dt.datetime], *, page: int = 500,
                 near_every_s: float = 0.0) -> None:
        self.service = service
        self.near_every_s = near_every_s
        self._near_at = float("-inf")
        self.outbox = outbox
        self.config: SiteConfig = service.config
        self.clock = clock
        self.page = page
        self._watch: dict[str, None] = {}  # waiting tickets with a contact (near not yet sent)
        self._lock = threading.Lock()
        self._cursor: int | None = None

    def start(self) -> None:
        """Resume where the last run stopped; on first start, from now (old history sends nothing)."""
        cursor = self.outbox.cursor()
        if cursor is None:
            cursor = self.service.store.max_event_seq(self.outbox.office)
            self.outbox.set_cursor(cursor)
        self._cursor = cursor
        waiting = [t.ticket_id for t in self.service.waiting_overview(limit=100_000)]
        for tid in self.outbox.ticket_ids_with_contacts(waiting):
            self._watch[tid] = None

    def watch(self, ticket_id: str) -> None:
        with self._lock:
            self._watch[ticket_id] = None

    def run_once(self) -> int:
        """Read the new events, queue what they cause, check the watched tickets; the events read."""
        with self._lock:
            if self._cursor is None:
                self.start()
            assert self._cursor is not None
            events = self.service.store.events(self.outbox.office, since_seq=self._cursor, limit=self.page)
            planned: list[plan.Planned] = []
            for event in events:
                planned += self._handle(event)
            if events:
                # The page's messages and the new place in the log in one transaction (one fsync).
                self.queue(planned, cursor=int(events[-1]["seq"]))
                self._cursor = int(events[-1]["seq"])
            if time.monotonic() - self._near_at >= self.near_every_s:
                # Each check takes the office lock for a forecast: not more often than this, however busy.
                self._near_at = time.monotonic()
                self._check_near()
            return len(events)

    # --- events -----------------------------------------------------------------------------------

    def _handle(self, event: dict[str, Any]) -> list[plan.Planned]:
        kind, tid = event["kind"], event.get("ticket_id")
        data = event.get("data") or {}
        if kind == "issued" and tid and data.get("appointment"):
            self.outbox.link_booking(str(data["appointment"]), tid)
            if self.outbox.contacts_for(ticket_id=tid):
                self._watch[tid] = None
        elif kind in ("called", "recalled") and tid:
            self._watch.pop(tid, None)
            contacts = self.outbox.contacts_for(ticket_id=tid)
            return plan.messages_for_event(event, contacts)
        elif kind in _DONE and tid:
            self._watch.pop(tid, None)
        elif kind in ("transferred", "returned") and tid and self.outbox.contacts_for(ticket_id=tid):
            self._watch[tid] = None  # waiting again, for another service: near may come again later
        return []

    def _check_near(self) -> None:
        cfg = self.config.notify
        for tid in list(self._watch):
            try:
                info = self.service.ticket(tid)
            except ServiceError:
                self._watch.pop(tid, None)
                continue
            if info.status != "waiting":
                continue
            if plan.is_near(info.people_ahead, info.wait_min, near_people=cfg.near_people,
                            near_minutes=cfg.near_minutes):
                self._watch.pop(tid, None)
                contacts = self.outbox.contacts_for(ticket_id=tid)
                now = self.clock()
                self.queue([plan.near_message(c, ticket_id=f"{tid}:{info.service}", label=info.label,
                                              people_ahead=info.people_ahead, wait_min=info.wait_min, now=now)
                            for c in contacts], ticket_id=tid)

    # --- rendering --------------------------------------------------------------------------------

    def queue(self, planned: Sequence[plan.Planned], *, ticket_id: str | None = None,
              booking_code: str | None = None, cursor: int | None = None) -> int:
        """Word each planned message in its contact's language and put it in the outbox."""
        bodies = [texts.message(p.kind, p.contact.language, **self._words(p)) for p in planned]
        return self.outbox.enqueue(planned, bodies, self.clock(), ticket_id=ticket_id, booking_code=booking_code,
                                   cursor=cursor)

    def _words(self, p: plan.Planned) -> dict[str, Any]:
        """The planned values with ids turned into names in the contact's language."""
        lang = p.contact.language
        out = dict(p.params)
        if "service" in out:
            with contextlib.suppress(KeyError):
                out["service"] = self.config.service(str(out["service"])).names.get(lang)
        if "office" in out:
            out["office"] = self.config.office.names.get(lang)
        return out
