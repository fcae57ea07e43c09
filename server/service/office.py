"""The front: :class:`OfficeService`, the one object the shells call (see ``docs/service-layer.md``).

It assembles the layers (each its own module: learning, views, sync, group_commit, commands, then
the actions in issuing, counters, hall_manager and booking), builds the state at start-up and runs
the periodic sweep.
"""

from __future__ import annotations

import collections
import datetime as dt
import logging
import threading
from collections.abc import Callable
from typing import Any

from cherga.broker_bridge.contract import CallEntry
from cherga.server.core import tickets as core
from cherga.server.core.numbering import office_day
from cherga.server.core.prediction import PredictorFeed, WaitPredictor, default_predictor
from cherga.server.core.scheduling import PolicySettings, walk_in_bound_s
from cherga.server.core.tickets import EventKind, TicketStatus
from cherga.server.errors import ServiceError
from cherga.server.service.booking import Booking
from cherga.server.service.counters import Counters
from cherga.server.service.hall_manager import HallManager
from cherga.server.service.issuing import Issuing
from cherga.server.service.results import Change, CounterView, utc_now
from cherga.server.siteconfig import SiteConfig
from cherga.server.store import Batch, Store, TicketRecord
from cherga.server.view import WaitingView

log = logging.getLogger("cherga.server.service")


class OfficeService(Issuing, Counters, HallManager, Booking):
    """One office's queue: applies actions through the core, durably, exactly once per command id."""

    def __init__(self, config: SiteConfig, store: Store, *, clock: Callable[[], dt.datetime] = utc_now,
                 predictor: WaitPredictor | None = None) -> None:
        self.config = config
        self.store = store
        self.office = config.office.id
        self._clock = clock
        self.settings = PolicySettings(
            class_weights={p.id: p.weight for p in config.priority_categories},
            call_window_s=float(config.appointments.call_window_s),
            walk_in_bound_s=walk_in_bound_s(config),
        )
        # The predictor bench/schedule_quality.py measures, fed through the simulator's own feed.
        self.predictor = predictor or default_predictor(
            {s.id: s.mean_service_min * 60 for s in config.services}, self.settings)
        self._feed = PredictorFeed([self.predictor])
        self._bookings_swept_at = None
        self._breaks_planned = None
        self._lock = threading.RLock()
        self._listeners: list[Callable[[Change], None]] = []
        self._view = WaitingView()
        self._counters = {c.id: CounterView(updated_at=clock()) for c in config.counters}
        self._calls: collections.deque[CallEntry] = collections.deque(maxlen=max(12, config.display.recent_calls))
        self._hall_seq = 0
        self._commands: collections.OrderedDict[str, dict[str, Any]] = collections.OrderedDict()
        self._known_seq = 0
        self._shared = False
        self._last_refresh = 0.0
        self._seen = set()
        self._high_seq = 0
        self._last_wide = 0.0
        self._names = {}
        self._batch: Batch | None = None
        self._commit_lock = threading.Lock()
        self._committing: Batch | None = None
        self._inflight = 0
        self._inflight_lock = threading.Lock()
        self._needs_reload = False
        self.stats: collections.Counter[str] = collections.Counter()
        self.reload()

    def sweep(self) -> None:
        """No-show timeouts, yesterday's leftovers, and a refresh when other processes wrote."""
        with self._mutation():
            if self._foreign_changes():
                self._refresh_from_store()
            now = self.now()
            today = office_day(now, self.config.office.tz)
            timeout = self.config.no_show.timeout_s
            for rec in list(self._view.active.values()):
                t = rec.ticket
                if core.due_for_no_show(t, now=now, timeout_s=timeout):
                    self._sweep_one(rec, now, "timeout")
                elif t.day < today and t.status is TicketStatus.WAITING:
                    self._sweep_one(rec, now, "day_closed")
            self._sweep_bookings(now)

    def _sweep_one(self, rec: TicketRecord, now: dt.datetime, why: str) -> None:
        t = rec.ticket
        counter = t.counter if why == "timeout" else None
        try:
            with self._op() as tx:
                if why == "timeout":
                    new = self._write(tx, rec, self._apply(core.no_show, t, now=now))
                    self._event(tx, EventKind.NO_SHOW, t, now, counter=counter, operator=t.operator, rule="timeout",
                                recalls=t.recalls)
                else:
                    new = self._write(tx, rec, self._apply(core.cancel, t, now=now, reason="day_closed"))
                    self._event(tx, EventKind.CANCELLED, t, now, reason="day_closed")
                if counter and self._counters[counter].ticket_id == t.id:
                    cv = self._counters[counter]
                    cv.ticket_id = None
                    cv.status = "idle"
                    cv.seq += 1
                    cv.updated_at = now
                    self._save_counter(tx, counter, cv)
        except ServiceError:
            log.info("sweep skipped %s: changed meanwhile", t.label)
            return
        self._committed(tx)
        self._view.put(new)
        if counter:
            self._learn(counter, now)
        self._notify([c for c in [counter, *self._affected_counters([t.service])] if c], now, hall=True, call=None)
