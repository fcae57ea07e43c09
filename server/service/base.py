"""What every part of the office service shares: its state (declared once) and the config look-ups.

:class:`~cherga.server.service.OfficeService` is built in layers, each a module with one job
(learning, views, sync, group commit, the command runner, then the actions); this is the bottom one.
The state is assigned in :meth:`OfficeService.__init__ <cherga.server.service.office.OfficeService>`.
"""

from __future__ import annotations

import collections
import datetime as dt
import threading
from collections.abc import Callable, Iterable
from typing import Any

from cherga.broker_bridge.contract import CallEntry
from cherga.server.core.prediction import PredictorFeed, WaitPredictor
from cherga.server.core.scheduling import PolicySettings
from cherga.server.core.tickets import EventKind, Ticket
from cherga.server.errors import Invalid, NotFound
from cherga.server.service.results import Change, CounterView
from cherga.server.siteconfig import LANGUAGES, Counter, SiteConfig
from cherga.server.store import Batch, Store, Tx
from cherga.server.view import WaitingView


class ServiceBase:
    """The bottom layer: the state every layer reads (assigned by ``OfficeService.__init__``) and look-ups."""

    config: SiteConfig
    store: Store
    office: str
    settings: PolicySettings
    predictor: WaitPredictor
    stats: collections.Counter[str]  # for /metrics
    _clock: Callable[[], dt.datetime]
    _feed: PredictorFeed
    _bookings_swept_at: dt.datetime | None
    _breaks_planned: dt.date | None  # the day whose office breaks the predictor knows
    _lock: threading.RLock
    _listeners: list[Callable[[Change], None]]
    _view: WaitingView
    _counters: dict[str, CounterView]
    _calls: collections.deque[CallEntry]
    _hall_seq: int
    _commands: collections.OrderedDict[str, dict[str, Any]]  # command id → stored result (with its kind)
    _known_seq: int
    _shared: bool  # set once another process is seen writing to the same office
    _last_refresh: float
    _seen: set[int]  # event seqs already applied to the view (shared store only)
    _high_seq: int
    _last_wide: float
    _names: dict[str, str]
    _batch: Batch | None  # the open group-commit transaction
    _commit_lock: threading.Lock
    _committing: Batch | None
    _inflight: int  # mutating calls entered but not yet through their operation
    _inflight_lock: threading.Lock
    _needs_reload: bool  # a batch failed: the view may hold changes the store does not (GroupCommit)

    def add_listener(self, listener: Callable[[Change], None]) -> None:
        self._listeners.append(listener)

    def now(self) -> dt.datetime:
        return self._clock()

    def _counter_cfg(self, counter: str) -> Counter:
        try:
            return self.config.counter(counter)
        except KeyError:
            raise NotFound("unknown_counter", f"counter {counter!r} does not exist in office {self.office!r}") from None

    def _check_service(self, service: str) -> None:
        try:
            self.config.service(service)
        except KeyError:
            raise NotFound("unknown_service", f"service {service!r} does not exist in office {self.office!r}") from None

    def _check_language(self, language: str) -> None:
        if language not in LANGUAGES:
            raise Invalid("unknown_language", f"language {language!r} is not one of {', '.join(LANGUAGES)}")

    def _check_category(self, priority: str | None) -> None:
        if priority is not None:
            try:
                self.config.category(priority)
            except KeyError:
                raise NotFound("unknown_category", f"priority category {priority!r} does not exist") from None

    def _open_counters_for(self, service: str) -> list[Counter]:
        serving = self.config.counters_for(service)
        open_ = [c for c in serving if self._counters[c.id].status not in ("closed", "paused")]
        # Before anybody signs in, estimate as if the front-office counters were open.
        return open_ or [c for c in serving if not c.back_office] or serving

    def _affected_counters(self, services: Iterable[str]) -> list[str]:
        ids: dict[str, None] = {}
        for s in services:
            for c in self.config.counters_for(s):
                ids[c.id] = None
        return list(ids)

    def _event(self, tx: Tx, kind: EventKind, t: Ticket | None, now: dt.datetime, *, counter: str | None = None,
               operator: str | None = None, service: str | None = None, **data: Any) -> None:
        tx.append_event(kind.value, office=self.office, at=now, ticket_id=t.id if t else None,
                        service=service or (t.service if t else None), counter=counter, operator=operator,
                        data={k: v for k, v in data.items() if v is not None})
