"""Several server processes on one database: following the others' event log, and merging what they wrote.

Alone, a service trusts its in-memory view. Once it sees another process's events (or loses a
"next" race), it is *shared*: it re-reads the tickets the others touched before each choice and
refreshes the whole view on every sweep.
"""

from __future__ import annotations

import logging
import time

from cherga.broker_bridge.contract import CallEntry
from cherga.server.core.tickets import EventKind
from cherga.server.service.results import CounterView
from cherga.server.service.views import Views

_LOG_WINDOW = 500  # event seqs: how far back the log sync looks now and then, and how many it keeps

log = logging.getLogger("cherga.server.service")


class Sync(Views):
    """Extends :class:`Views` with loading from the store and following other processes' writes."""

    def reload(self) -> None:
        """Rebuild the in-memory view (open tickets, counters, recent calls) from the store."""
        with self._lock:
            self._known_seq = self.store.max_event_seq(self.office)
            self._view.clear()
            for rec in self.store.active_tickets(self.office):
                self._view.put(rec)
            for row in self.store.counter_rows(self.office):
                if row.counter in self._counters:
                    self._counters[row.counter] = CounterView.of(row)
            self._calls.clear()
            for e in reversed(self.store.recent_calls(self.office, self._calls.maxlen or 12)):
                d = e["data"]
                if "call_id" in d:
                    self._calls.appendleft(CallEntry(
                        call_id=d["call_id"], label=d["label"], counter=e["counter"],
                        counter_number=d["counter_number"], service=e["service"], called_at=e["at"],
                        recall=e["kind"] == EventKind.RECALLED))
            self._seed_predictor()

    def _sync_from_log(self) -> None:
        """Shared store only: re-read the tickets other processes touched since we last looked.

        The window starts a little before the highest sequence seen, because on PostgreSQL a
        sequence number taken earlier may commit later.
        """
        if not self._shared:
            return
        after = self._high_seq
        if time.monotonic() - self._last_wide > 0.5:
            # Now and then look back a little: on PostgreSQL a lower sequence may commit later.
            self._last_wide = time.monotonic()
            after = max(0, self._high_seq - _LOG_WINDOW)
        rows = self.store.recent_event_tickets(self.office, after)
        ids = {tid for seq, tid in rows if seq not in self._seen and tid}
        for seq, _ in rows:
            self._seen.add(seq)
            self._high_seq = max(self._high_seq, seq)
        if len(self._seen) > 4 * _LOG_WINDOW:
            floor = self._high_seq - 2 * _LOG_WINDOW
            self._seen = {s for s in self._seen if s > floor}
        if ids:
            for rec in self.store.tickets_by_id(sorted(ids)):
                known = self._view.get(rec.ticket.id)
                if known is None or known.version < rec.version:
                    self._view.put(rec)
                elif known.version == rec.version and rec.ticket.status.is_final:
                    self._view.remove(rec.ticket.id)

    def _become_shared(self) -> None:
        if not self._shared:
            log.info("office %s: another process writes to this store; following its event log", self.office)
            self._shared = True
            self._high_seq = self._known_seq

    def _foreign_changes(self) -> bool:
        """Has another process written to this office? Once seen, the view refreshes on every sweep."""
        if self._shared:
            return True
        if self.store.max_event_seq(self.office) > self._known_seq:
            self._become_shared()
        return self._shared

    def _refresh_from_store(self) -> None:
        """Merge what other processes committed: newer ticket versions, newer counter rows, recent calls."""
        self._last_refresh = time.monotonic()
        stored = {rec.ticket.id: rec for rec in self.store.active_tickets(self.office)}
        for tid, mine in list(self._view.active.items()):
            if tid not in stored:
                fresh = self.store.ticket(tid)
                if fresh is not None and fresh.version > mine.version:
                    self._view.put(fresh)
        for rec in stored.values():
            known = self._view.get(rec.ticket.id)
            if known is None or known.version < rec.version:
                self._view.put(rec)
        for row in self.store.counter_rows(self.office):
            cv = self._counters.get(row.counter)
            if cv is not None and row.seq > cv.seq:
                self._counters[row.counter] = CounterView.of(row)
        self._known_seq = max(self._known_seq, self.store.max_event_seq(self.office))
