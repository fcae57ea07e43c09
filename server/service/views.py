"""What people see: a ticket's info (with its estimate), a counter's state, the hall board, the load, the
operator's waiting list. Reads only; they run under the office lock on the in-memory view.

The forecast per service ("a ticket taken now would be told ≈ 12 min, at most 25", on the load page,
the feed, the hall display and the kiosk's long-queue screen) is kept in a cache: it is recomputed
for a group of services sharing desks only when that group's queue or desks changed, or after
:data:`FORECAST_MAX_AGE_S` (time alone moves it: the visits under way go on). So a page read or a
hall-state publish costs a replay only where something changed, never one per service per read.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from cherga.broker_bridge.contract import CounterState, HallState, NetworkLoad, ServiceLoad, TicketInfo
from cherga.server.core import closing
from cherga.server.core.numbering import office_day
from cherga.server.core.pools import components
from cherga.server.core.scheduling import choose_next
from cherga.server.core.tickets import Ticket, TicketStatus, issue
from cherga.server.errors import Conflict, NotFound
from cherga.server.region.network import with_faster_at
from cherga.server.service.learning import Learning
from cherga.server.service.results import forecast_light
from cherga.server.siteconfig import WEEKDAYS, Counter
from cherga.server.store import TicketRecord

FORECAST_MAX_AGE_S = 60.0  # an unchanged queue's forecast is recomputed at least this often
# The hall state built after every change (published to displays and kiosks) replays a changed group
# at most this often: in a burst of tickets a replay per ticket would double issuing's work under the
# office lock. Reads (load page, feed, hall_state()) always replay what changed.
HALL_FORECAST_SETTLE_S = 2.0

PROBE_NUMBER = 10**9
Forecast = tuple[int | None, int | None]  # (≈ minutes, at most minutes)


class Views(Learning):
    """Extends :class:`Learning` with the reads (ticket info, counter and hall state, load, lists)."""

    # group of services sharing desks -> (its fingerprint, when computed, each service's forecast)
    _forecast_cache: dict[tuple[str, ...], tuple[object, dt.datetime, dict[str, Forecast]]] | None = None
    _forecast_groups: list[tuple[tuple[str, ...], tuple[str, ...]]] | None = None  # (services, desks)
    _forecast_basis: tuple[object, object] | None = None  # (config, predictor) the caches were made for
    forecasts_computed = 0  # groups recomputed (tests and benches read it)
    # The other offices' load (issue 21): the retained region_network an office server receives, or
    # the region server's own summary for the offices it runs; each service's faster_at comes from it.
    network: NetworkLoad | None = None

    def info(self, rec: TicketRecord | Ticket, now: dt.datetime, *, estimate: bool = True,
             public: bool = False) -> TicketInfo:
        t = rec.ticket if isinstance(rec, TicketRecord) else rec
        ahead = wait = wait_max = None
        if estimate and t.status is TicketStatus.WAITING:
            waiting = self._view.waiting_for(t.service)
            if t.id not in self._view.waiting_by_service.get(t.service, ()):
                waiting.append(t)  # a ticket being issued is not in the view until its commit
            self._plan_breaks(now)
            est = self.predictor.estimate(t, waiting, self._open_counters_for(t.service), now)
            ahead, wait, wait_max = est.people_ahead, est.wait_min, est.wait_max_min
        number = None
        if t.counter:
            number = self.config.counter(t.counter).number if t.counter in self._counters else None
        end = t.called_at if t.called_at and t.status is not TicketStatus.WAITING else now
        return TicketInfo(
            ticket_id=t.id, label=t.label, prefix=t.prefix, number=t.number, service=t.service,
            purpose=t.purpose, status=t.status.value, issued_at=t.issued_at, language=t.language,  # type: ignore[arg-type]
            priority=t.priority, people_ahead=ahead, wait_min=wait, wait_max_min=wait_max, counter=t.counter, counter_number=number,
            status_url=f"{self.config.office.public_url.rstrip('/')}/t/{t.token}", token=t.token,
            waited_s=max(0.0, (end - t.waiting_since).total_seconds()), reason=None if public else t.reason,
            why=None if public or t.why is None else dict(t.why),
            origin=t.origin.value,  # type: ignore[arg-type]
        )

    def _counter_state(self, counter: str, now: dt.datetime) -> CounterState:
        cfg = self.config.counter(counter)
        cv = self._counters[counter]
        ticket = None
        if cv.ticket_id and (rec := self._view.get(cv.ticket_id)) is not None:
            ticket = self.info(rec, now, estimate=False)
        return CounterState(
            office=self.office, counter=counter, number=cfg.number, status=cv.status, ticket=ticket,
            operator=cv.operator, operator_name=self._operator_name(cv.operator),
            waiting=self._view.waiting_count(cfg), pause_reason=cv.pause_reason,
            rateable_ticket=cv.rateable_ticket, updated_at=cv.updated_at, seq=cv.seq,
        )

    def _operator_name(self, username: str | None) -> str | None:
        if username is None:
            return None
        if username not in self._names:
            account = self.store.staff(username)
            self._names[username] = account.display_name if account else username
        return self._names[username]

    def _load(self, now: dt.datetime, settle_s: float = 0.0) -> list[ServiceLoad]:
        out = []
        forecasts = self._forecasts(now, settle_s)
        for s in self.config.services:
            n, mean_ts = self._view.service_stats(s.id)
            avg = max(0.0, (now.timestamp() - mean_ts) / 60) if n else 0.0
            open_ = sum(1 for c in self.config.counters_for(s.id)
                        if self._counters[c.id].status not in ("closed", "paused"))
            point, most = forecasts.get(s.id, (None, None))
            stopped = self._calls_stopped(s.id, now)  # then no forecast: "please book" instead
            out.append(ServiceLoad(service=s.id, names=s.names.as_dict(), waiting=n,  # type: ignore[arg-type]
                                   counters_open=open_, avg_wait_min=round(avg, 1),
                                   light=forecast_light(n, open_, point, avg),
                                   wait_min=point, wait_max_min=most, calls_stopped=stopped or None))
        if self.network is not None:
            out = with_faster_at(self.office, out, self.network, now,
                                 appointment_only=[s.id for s in self.config.services if s.appointment_only])
        return out

    def set_network(self, network: NetworkLoad | None) -> None:
        """Take the network's newest load (the other offices'); the next hall state names faster offices."""
        if network is not None and network.offices and all(o.office == self.office for o in network.offices):
            network = None  # only ourselves: nothing to compare with
        self.network = network

    def _opening(self, service: str, now: dt.datetime) -> list[tuple[dt.datetime, dt.datetime]]:
        """The service's opening ranges on the office day of ``now``, as aware datetimes."""
        tz = self.config.office.tz
        day = office_day(now, tz)
        return [r.on(day, tz) for r in self.config.hours_of(service).days.get(WEEKDAYS[day.weekday()], [])]

    def _calls_stopped(self, service: str, now: dt.datetime) -> bool:
        """``closing.waiting_at_close: stop``: no call for ``service`` after its closing + ``stop_after_min``."""
        rule = self.config.closing
        if rule.waiting_at_close != "stop":
            return False
        return closing.calls_stopped(self._opening(service, now), now, rule=rule.waiting_at_close,
                                     stop_after_min=rule.stop_after_min)

    def _last_call_params(self, counter: Counter) -> dict[str, str]:
        """``last_call``: when the counter's last service stopped calling today (HH:MM, office time)."""
        now, rule, tz = self.now(), self.config.closing, self.config.office.tz
        stops = [stop for s in counter.services
                 if (stop := closing.calls_stop_at(self._opening(s.id, now), rule=rule.waiting_at_close,
                                                   stop_after_min=rule.stop_after_min)) is not None]
        return {"last_call": f"{max(stops).astimezone(tz):%H:%M}"} if stops else {}

    def calls_stopped(self, service: str) -> bool:
        """Whether the closing rule ``stop`` has stopped calls for ``service`` now (the live ticket page says so)."""
        return self._calls_stopped(service, self.now())

    def closing_rule(self) -> dict[str, Any]:
        """The office's rule for those waiting at closing, for the hall manager's line: ``rule``
        (``serve_all`` or ``stop``), ``stop_after_min``, and per service today's closing and last call
        (``HH:MM``, office time; absent on a day it is closed)."""
        rule = self.config.closing
        now = self.now()
        tz = self.config.office.tz
        services: dict[str, dict[str, str]] = {}
        for s in self.config.services:
            ranges = self._opening(s.id, now)
            closes = closing.closing_time(ranges)
            if closes is None:
                continue
            stop = closing.calls_stop_at(ranges, rule=rule.waiting_at_close, stop_after_min=rule.stop_after_min)
            services[s.id] = {"closes": f"{closes.astimezone(tz):%H:%M}"}
            if stop is not None:
                services[s.id]["last_call"] = f"{stop.astimezone(tz):%H:%M}"
        return {"rule": rule.waiting_at_close, "stop_after_min": rule.stop_after_min, "services": services}

    def forecasts(self) -> dict[str, Forecast]:
        """Per walk-in service, what a ticket taken now would be told: (≈ minutes, at most minutes);
        (None, None) with no counter open or for a service taken by appointment only. For the
        public load page and feed; the same figures the hall state carries (module docstring)."""
        with self._lock:
            return self._forecasts(self.now())

    def _groups(self) -> list[tuple[tuple[str, ...], tuple[str, ...]]]:
        """Services linked by shared desks, with those desks: a forecast depends on nothing outside its group."""
        if self._forecast_groups is None:
            links = {c.id: [s.id for s in c.services] for c in self.config.counters}
            links.update({f"\0{s.id}": [s.id] for s in self.config.services})  # a service without desks
            self._forecast_groups = [
                (group, tuple(c.id for c in self.config.counters if any(s.id in group for s in c.services)))
                for group in components(links)]
        return self._forecast_groups

    def _forecasts(self, now: dt.datetime, settle_s: float = 0.0) -> dict[str, Forecast]:
        """The cached forecasts, recomputing the groups whose queue or desks changed (call under the lock);
        with ``settle_s``, a changed group computed less than that long ago keeps its figures."""
        basis = self._forecast_basis
        if self._forecast_cache is None or basis is None or basis[0] is not self.config or basis[1] is not self.predictor:
            # a new site config (the admin pages' live apply) or a fresh predictor: nothing cached holds
            self._forecast_cache, self._forecast_groups = {}, None
            self._forecast_basis = (self.config, self.predictor)
        cache = self._forecast_cache
        out: dict[str, Forecast] = {}
        for services, desks in self._groups():
            # What the replay reads: each queue (length, mean waiting_since) and each desk's state.
            key = (tuple(self._view.service_stats(s) for s in services),
                   tuple((self._counters[c].status, self._counters[c].ticket_id, self._counters[c].seq)
                         for c in desks if c in self._counters))
            hit = cache.get(services)
            age = abs((now - hit[1]).total_seconds()) if hit is not None else 0.0
            if hit is None or (hit[0] != key and age >= settle_s) or age >= FORECAST_MAX_AGE_S:
                hit = (key, now, {s: self._forecast_one(s, now) for s in services})
                cache[services] = hit
                self.forecasts_computed += 1
            out.update(hit[2])
        for service in out:
            if self._calls_stopped(service, now):  # nobody waiting will be called today: no forecast
                out[service] = (None, None)
        return out

    def _forecast_one(self, service: str, now: dt.datetime) -> Forecast:
        """A probe ticket taken now, estimated as :meth:`info` estimates a real one; it is never stored
        and leaves the predictor's queue again."""
        s = self.config.service(service)
        if s.appointment_only:
            return (None, None)
        self._plan_breaks(now)
        waiting = self._view.waiting_for(s.id)
        # Numbered after everyone: a ticket issued in the same instant as the probe is ahead of it.
        probe = issue(ticket_id=f"forecast-{s.id}", token=f"forecast-{s.id}", office=self.office,
                      service=s.id, prefix=s.prefix, purpose=s.purposes[0], number=PROBE_NUMBER, day=now.date(),
                      issued_at=now)
        est = self.predictor.estimate(probe, [*waiting, probe], self._open_counters_for(s.id), now)
        forget = getattr(self.predictor, "observe_queue", None)
        if forget is not None:
            forget(s.id, waiting)
        return (est.wait_min, est.wait_max_min)

    def _hall_state(self, now: dt.datetime, settle_s: float = HALL_FORECAST_SETTLE_S) -> HallState:
        """The hall state; built after each change with the forecasts settled (``settle_s``)."""
        ticker = self.config.display.ticker.as_dict() if self.config.display.ticker else {}
        return HallState(
            office=self.office, office_names=self.config.office.names.as_dict(),  # type: ignore[arg-type]
            languages=list(self.config.office.languages), calls=list(self._calls)[: self.config.display.recent_calls],
            load=self._load(now, settle_s), ticker=ticker, updated_at=now, seq=self._hall_seq,  # type: ignore[arg-type]
        )

    def counter_state(self, counter: str) -> CounterState:
        self._counter_cfg(counter)
        with self._lock:
            return self._counter_state(counter, self.now())

    def hall_state(self) -> HallState:
        with self._lock:
            return self._hall_state(self.now(), settle_s=0.0)

    def load(self) -> list[ServiceLoad]:
        with self._lock:
            return self._load(self.now())

    def ticket_status(self, token: str) -> TicketInfo:
        """What the QR on a ticket shows: position, estimate, the counter that called it. No personal data."""
        with self._lock:
            now = self.now()
            tid = self._view.by_token.get(token)
            rec = self._view.get(tid) if tid else None
        if rec is None:
            rec = self.store.ticket_by_token(token)
            if rec is None or rec.ticket.office != self.office:
                raise NotFound("unknown_ticket", "no ticket with this token")
        with self._lock:
            return self.info(rec, now, public=True)

    def waiting_list(self, counter: str) -> list[TicketInfo]:
        """The tickets ``counter`` could call, best first (the operator panel's list)."""
        cfg = self._counter_cfg(counter)
        picked: dict[str, tuple[Ticket, str, Mapping[str, Any] | None]] = {}
        with self._lock:
            now = self.now()
            # The same candidates "next" is offered (reserved, booked, each group's head): a few dozen
            # tickets per pick whatever the queue's length, so the office lock is held for milliseconds.
            while len(picked) < 200:
                d = choose_next(cfg, self._view.candidates(cfg, now, exclude=picked), now, self.settings)
                if d is None:
                    break
                picked[d.ticket.id] = (d.ticket, d.reason, d.why)
        # Tickets are immutable: their page rows are built outside the lock.
        return [self.info(t, now, estimate=False).model_copy(
                    update={"reason": reason, "why": None if why is None else dict(why)})
                for t, reason, why in picked.values()]

    def waiting_overview(self, limit: int = 200) -> list[TicketInfo]:
        """The office's waiting tickets, longest wait first, at most ``limit`` (the hall manager's lists).

        One pass over the view: the lock is held only to copy the references (tickets are immutable);
        sorting and the rows are done outside it, so a page never holds up the queue.
        """
        with self._lock:
            now = self.now()
            waiting = [rec.ticket for rec in self._view.active.values() if rec.ticket.status is TicketStatus.WAITING]
        waiting.sort(key=lambda t: (t.waiting_since, t.number, t.id))
        return [self.info(t, now, estimate=False) for t in waiting[:limit]]

    def ticket(self, ticket_id: str) -> TicketInfo:
        with self._lock:
            found = self._view.get(ticket_id)
        rec = found or self.store.ticket(ticket_id)
        if rec is None or rec.ticket.office != self.office:
            raise NotFound("unknown_ticket", f"ticket {ticket_id!r} does not exist")
        with self._lock:
            return self.info(rec, self.now())

    def _live_ticket(self, ticket_id: str) -> TicketRecord:
        """A waiting or called ticket of this office; otherwise why not (unknown, or already finished)."""
        rec = self._view.get(ticket_id)
        if rec is None:
            stored = self.store.ticket(ticket_id)
            if stored is None or stored.ticket.office != self.office:
                raise NotFound("unknown_ticket", f"ticket {ticket_id!r} does not exist")
            raise Conflict("illegal_transition", f"ticket {stored.ticket.label} is {stored.ticket.status.value}")
        return rec

    def waiting_total(self) -> int:
        with self._lock:
            return sum(len(v) for v in self._view.waiting_by_service.values())
