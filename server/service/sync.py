"""Several server processes on one database: following the others' event log, and merging what they wrote.

Alone, a service trusts its in-memory view. Once it sees another process's events (or loses a
"next" race), it is *shared*: it re-reads the tickets the others touched before each choice and
refreshes the whole view on every sweep.
"""

from __future__ import annotations

import collections
import logging
import time
from collections.abc import Iterable

from cherga.broker_bridge.contract import CallEntry
from cherga.server.core.tickets import EventKind
from cherga.server.service.results import CounterView
from cherga.server.service.views import Views
from cherga.server.siteconfig import SiteConfig
from cherga.server.store import TicketRecord

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
            rows = {row.counter: row for row in self.store.counter_rows(self.office)}
            for counter in self._counters:
                # A counter with no stored row was never pressed durably (a failed batch's press is
                # undone here too).
                self._counters[counter] = (CounterView.of(rows[counter]) if counter in rows
                                           else CounterView(updated_at=self.now()))
            self._calls.clear()
            for e in reversed(self.store.recent_calls(self.office, self._calls.maxlen or 12)):
                d = e["data"]
                if "call_id" in d:
                    self._calls.appendleft(CallEntry(
                        call_id=d["call_id"], label=d["label"], counter=e["counter"],
                        counter_number=d["counter_number"], service=e["service"], called_at=e["at"],
                        recall=e["kind"] == EventKind.RECALLED))
            self._seed_predictor()

    def reconfigure(self, config: SiteConfig) -> None:
        """Run under a new site config from now on (the administration pages' live apply, issue 18).

        Taken under the office lock, so no ticket operation is half-way through when the config
        changes, and the operations that wait behind it see only the new one (nothing is written: a
        batch being committed meanwhile is unaffected). The caller has checked that nothing still in
        use disappears (server.admin.live.change_problems).
        """
        from cherga.server.core.prediction import PredictorFeed, default_predictor
        from cherga.server.core.scheduling import PolicySettings, walk_in_bound_s

        if config.office.id != self.office:
            raise ValueError(f"office {config.office.id!r} is not {self.office!r}")
        with self._lock:
            old = self.config
            self.config = config
            settings = PolicySettings(
                class_weights={p.id: p.weight for p in config.priority_categories},
                call_window_s=float(config.appointments.call_window_s),
                walk_in_bound_s=walk_in_bound_s(config),
            )
            priors = {s.id: s.mean_service_min * 60 for s in config.services}
            if settings != self.settings or priors != {s.id: s.mean_service_min * 60 for s in old.services}:
                # The predictor holds the services' priors and the weights: a fresh one learns today's
                # state from the store, as after a restart.
                self.settings = settings
                self.predictor = default_predictor(priors, settings)
                self._feed = PredictorFeed([self.predictor])
                self._breaks_planned = None
                self._seed_predictor()
            for c in config.counters:
                self._counters.setdefault(c.id, CounterView(updated_at=self.now()))  # type: ignore[attr-defined]
            if (self._calls.maxlen or 0) < config.display.recent_calls:
                self._calls = collections.deque(self._calls, maxlen=config.display.recent_calls)
            # Pages and nodes redraw counters and the hall with the new names (GroupCommit._notify,
            # the class OfficeService puts over this one).
            self._notify([c.id for c in config.counters], self.now(), hall=True,  # type: ignore[attr-defined]
                         call=None)

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
            self._take_newer(self.store.tickets_by_id(sorted(ids)))

    def _take_newer(self, records: Iterable[TicketRecord]) -> None:
        """Put into the view each stored ticket it holds an older version of, or not at all (a final
        one leaves the view): what another process wrote wins over what this one last saw."""
        for rec in records:
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
        self._take_newer(stored.values())
        for row in self.store.counter_rows(self.office):
            cv = self._counters.get(row.counter)
            if cv is not None and row.seq > cv.seq:
                self._counters[row.counter] = CounterView.of(row)
        self._known_seq = max(self._known_seq, self.store.max_event_seq(self.office))
