"""Discrete-event simulation of one office day, driving the same pure core the server runs.

What happens, in the order the event heap delivers it:

* **Arrival and kiosk.** A visitor reaches the kiosk ``kiosk_s`` after arriving. A booked visitor
  checks in with :func:`server.core.tickets.check_in` (too early: comes back when the window opens;
  too late: becomes a walk-in). The ticket gets its number from :func:`server.core.numbering.next_number`
  and every predictor gives the estimate that would be printed on it.
* **Calling.** Whenever a front-office counter is free, the *policy* (by default the core's
  :func:`server.core.scheduling.choose_next`) picks the next ticket from the waiting tickets of
  the counter's services; the call goes through :func:`server.core.tickets.call`.
* **Walk-outs.** A visitor whose patience runs out leaves *without telling the system*: the
  ticket stays in the queue until a counter calls it, recalls it and, after the office's no-show
  timeout, marks it a no-show — the counter's time is lost, as in a real hall.
* **Recalls.** A present visitor sometimes misses the first call and comes after a recall.
* **Service and transfers.** The visit takes the workload's ``service_s``; a share of visits is
  transferred to another service (:func:`server.core.tickets.transfer`) and queues again there.
  A finished ``submit`` visit of a service with back-office desks is drawn to a registrar
  (:func:`server.core.backoffice.assign_registrar`).
* **Counter breaks.** Each desk takes a staggered lunch break and short breaks; a break starts
  when the current visit ends (after a booked visitor whose slot is due, if one is waiting), and
  a desk on break calls nobody.

Deterministic for a seed: all randomness comes from one :class:`random.Random`, and ties in the
event heap are broken by insertion order.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import heapq
import random
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from cherga.server.core import tickets as tk
from cherga.server.core.backoffice import assign_registrar
from cherga.server.core.numbering import NumbersExhausted, booked_draw_order, next_number
from cherga.server.core.prediction import PredictorFeed, WaitPredictor
from cherga.server.core.scheduling import Decision, PolicySettings, choose_next, walk_in_bound_s
from cherga.server.sim.workload import Visitor, lognormal, opening_time
from cherga.server.siteconfig import Counter, NumberRange, SiteConfig

DEFAULT_DAY = dt.date(2017, 3, 14)  # a Tuesday in the calibration period


class Policy(Protocol):
    def __call__(self, counter: Counter, waiting: Iterable[tk.Ticket], now: dt.datetime,
                 settings: PolicySettings) -> Decision | None: ...


@dataclasses.dataclass(frozen=True, slots=True)
class SimParams:
    """The hall's behaviour around the workload. Defaults are our estimates, stated in docs/simulator.md."""

    seed: int = 0
    day: dt.date = DEFAULT_DAY
    kiosk_s: float = 20.0  # arrival → ticket in hand
    walk_s: tuple[float, float] = (10.0, 40.0)  # called → at the counter
    absent_share: float = 0.03  # present visitors who miss the first call and come after a recall
    recall_every_s: float = 60.0
    transfer_share: float = 0.02
    lunch_min: float = 45.0
    lunch_window: tuple[str, str] = ("11:00", "15:30")  # lunch starts staggered over this window
    short_breaks: int = 2
    short_break_min: float = 10.0
    overtime_s: float = 3 * 3600.0  # nobody is called later than this after closing
    breaks: bool = True
    bookings_before_break: bool = True  # a due booked visitor is served before the desk's break
    announce_lunch: bool = True  # predictors with ``plan_pause`` learn each desk's lunch slot at opening


@dataclasses.dataclass(slots=True)
class Visit:
    """What happened to one visitor (one workload row)."""

    index: int
    visitor: Visitor
    ticket_id: str | None = None
    booked: bool = False  # checked in on time for a booking
    late_for_booking: bool = False
    issued_s: float | None = None
    called_s: float | None = None  # first call while still present (None: never, or walked out)
    ghost_called_s: float | None = None  # the counter called the ticket after the visitor left
    left_s: float | None = None  # walked out at
    finished_s: float | None = None
    transferred: bool = False
    second_wait_s: float | None = None  # wait after a transfer
    estimates: dict[str, float | None] = dataclasses.field(default_factory=dict)
    bounds: dict[str, float] = dataclasses.field(default_factory=dict)  # predictor -> its upper bound, if any
    ahead_at_issue: int = 0

    @property
    def walked_out(self) -> bool:
        return self.left_s is not None

    @property
    def wait_start_s(self) -> float | None:
        """When the wait counts from: the ticket, or the slot for a booked visitor who came early."""
        if self.issued_s is None:
            return None
        if self.booked and self.visitor.appointment_s is not None:
            return max(self.issued_s, self.visitor.appointment_s)
        return self.issued_s

    @property
    def wait_s(self) -> float | None:
        """Wait until called; a walk-out counts the time until leaving (a lower bound)."""
        start = self.wait_start_s
        if start is None:
            return None
        if self.called_s is not None:
            return max(0.0, self.called_s - start)
        if self.left_s is not None:
            return max(0.0, self.left_s - start)
        return None


@dataclasses.dataclass(frozen=True, slots=True)
class CallRecord:
    t: float
    counter: str
    ticket_id: str
    rule: str
    priority: str | None
    service: str
    queued_s: float  # when this waiting episode began


@dataclasses.dataclass(slots=True)
class SimResult:
    visits: list[Visit]
    calls: list[CallRecord]
    close_s: float
    end_s: float
    recalls: int = 0
    no_shows: int = 0
    transfers: int = 0
    breaks: int = 0
    backoffice_cases: int = 0
    unserved_at_end: int = 0
    counters_open: int = 0
    break_spans: list[tuple[str, float, float]] = dataclasses.field(default_factory=list)  # desk, start, end


# event kinds, in the order same-time events are handled
_ARRIVE, _DUE, _WALKOUT, _BREAK, _RESUME, _RECALL, _START, _FINISH, _NOSHOW = range(9)


@dataclasses.dataclass(slots=True)
class _Desk:
    counter: Counter
    state: str = "idle"  # idle | busy | break
    idle_since: float = 0.0
    ticket: str | None = None
    breaks: list[tuple[float, float]] = dataclasses.field(default_factory=list)  # (start_s, duration_s)


def simulate(config: SiteConfig, visitors: Sequence[Visitor], *, policy: Policy = choose_next,
             predictors: Mapping[str, Callable[[], WaitPredictor]] | None = None,
             params: SimParams = SimParams(), settings: PolicySettings | None = None) -> SimResult:
    """Run one day; ``predictors`` are factories, so each run starts with fresh learning state."""
    return _Sim(config, visitors, policy, predictors or {}, params, settings).run()


def policy_settings(config: SiteConfig) -> PolicySettings:
    return PolicySettings(class_weights={p.id: p.weight for p in config.priority_categories},
                          call_window_s=config.appointments.call_window_s,
                          walk_in_bound_s=walk_in_bound_s(config))


class _Sim:
    def __init__(self, config: SiteConfig, visitors: Sequence[Visitor], policy: Policy,
                 predictors: Mapping[str, Callable[[], WaitPredictor]], params: SimParams,
                 settings: PolicySettings | None) -> None:
        self.cfg = config
        self.policy = policy
        self.params = params
        self.settings = settings or policy_settings(config)
        self.rng = random.Random(params.seed)
        self.predictors = {name: make() for name, make in predictors.items()}
        self.feed = PredictorFeed(self.predictors.values())  # the same feed the server uses
        tz = ZoneInfo(config.office.timezone)
        opening = opening_time(config, params.day) or dt.time(8, 0)
        self.t0 = dt.datetime.combine(params.day, opening, tzinfo=tz)
        ranges = config.hours.days.get(("mon", "tue", "wed", "thu", "fri", "sat", "sun")[params.day.weekday()], [])
        close = max((dt.time.fromisoformat(r.end) for r in ranges), default=dt.time(20, 0))
        self.close_s = (dt.datetime.combine(params.day, close, tzinfo=tz) - self.t0).total_seconds()
        self.visits = [Visit(i, v) for i, v in enumerate(visitors)]
        self.desks = {c.id: _Desk(c) for c in config.counters if not c.back_office and c.services}
        self.by_service: dict[str, list[_Desk]] = {}
        for d in self.desks.values():
            for s in d.counter.services:
                self.by_service.setdefault(s.id, []).append(d)
        self.registrars: dict[str, list[str]] = {}
        for c in config.counters:
            if c.back_office:
                for s in c.services:
                    self.registrars.setdefault(s.id, []).append(c.id)
        self.waiting: dict[str, dict[str, tk.Ticket]] = {s.id: {} for s in config.services}
        self.tickets: dict[str, tk.Ticket] = {}
        self.visit_of: dict[str, Visit] = {}
        self.leg_s: dict[str, float] = {}  # service time of the ticket's current leg
        self.last_number: dict[tuple[str, str], int] = {}
        self.heap: list[tuple[float, int, int, Any]] = []
        self.seq = 0
        self.result = SimResult(self.visits, [], self.close_s, 0.0, counters_open=len(self.desks))
        self.mean_s = {s.id: s.mean_service_min * 60 for s in config.services}

    # --- plumbing ------------------------------------------------------------------------------
    def at(self, t: float) -> dt.datetime:
        return self.t0 + dt.timedelta(seconds=t)

    def push(self, t: float, kind: int, payload: Any) -> None:
        self.seq += 1
        heapq.heappush(self.heap, (t, kind, self.seq, payload))

    def run(self) -> SimResult:
        for v in self.visits:
            self.push(v.visitor.arrival_s + self.params.kiosk_s, _ARRIVE, v)
        if self.params.breaks:
            self._plan_breaks()
        end = self.close_s + self.params.overtime_s
        handlers: dict[int, Callable[[float, Any], None]] = {
            _ARRIVE: self._arrive, _DUE: self._due, _WALKOUT: self._walkout, _BREAK: self._break_due,
            _RESUME: self._resume, _RECALL: self._recall, _START: self._start, _FINISH: self._finish,
            _NOSHOW: self._no_show,
        }
        t = 0.0
        while self.heap:
            t, kind, _, payload = heapq.heappop(self.heap)
            if t > end:
                break
            handlers[kind](t, payload)
        self.result.end_s = t
        self.result.unserved_at_end = sum(len(w) for w in self.waiting.values())
        return self.result

    def _plan_breaks(self) -> None:
        p = self.params
        lo = _hhmm_s(p.lunch_window[0]) - _hhmm_s(self.t0.strftime("%H:%M"))
        hi = _hhmm_s(p.lunch_window[1]) - _hhmm_s(self.t0.strftime("%H:%M"))
        desks = sorted(self.desks.values(), key=lambda d: d.counter.id)
        n = max(1, len(desks))
        for i, d in enumerate(desks):
            # Lunch staggered evenly across the window, so a service's desks do not all leave at once.
            slot = lo + (hi - lo) * ((i * 7) % n) / n
            d.breaks.append((slot, p.lunch_min * 60))
            if p.announce_lunch:
                self.feed.planned_break(d.counter.id, self.at(slot), self.at(slot + p.lunch_min * 60))
            for _ in range(p.short_breaks):
                d.breaks.append((self.rng.uniform(1800, max(1800.0, self.close_s - 1800)), p.short_break_min * 60))
            d.breaks.sort()
            for start, _ in d.breaks:
                self.push(start, _BREAK, d)

    # --- visitors ------------------------------------------------------------------------------
    def _arrive(self, t: float, visit: Visit) -> None:
        v = visit.visitor
        origin = tk.Origin.WALK_IN
        appointment: dt.datetime | None = None
        if v.appointment_s is not None:
            a = self.cfg.appointments
            verdict = tk.check_in(slot=self.at(v.appointment_s), now=self.at(t), early_s=a.early_s,
                                  late_grace_s=a.late_grace_s)
            if verdict is tk.CheckIn.TOO_EARLY:
                self.push(v.appointment_s - a.early_s, _ARRIVE, visit)
                return
            if verdict is tk.CheckIn.ON_TIME:
                origin, appointment, visit.booked = tk.Origin.BOOKED, self.at(v.appointment_s), True
            else:
                visit.late_for_booking = True
        service = self.cfg.service(v.service)
        # A visitor with a booking is never refused (the kiosk's booked_draw_order); a walk-in may be.
        order = booked_draw_order(origin is tk.Origin.BOOKED) if v.appointment_s is not None else ("walk_in",)
        for rng_key in order:
            nrange: NumberRange = getattr(self.cfg.numbering, rng_key)
            try:
                number = next_number(self.last_number.get((v.service, rng_key)), nrange, v.service)
                break
            except NumbersExhausted:
                continue
        else:
            return  # the kiosk refuses: the visitor gets no ticket (counted as not served)
        self.last_number[(v.service, rng_key)] = number
        now = self.at(t)
        tid = f"t{visit.index}"
        ticket = tk.issue(
            ticket_id=tid, token=tid, office=self.cfg.office.id, service=v.service, purpose=v.purpose,
            prefix=service.prefix, number=number, day=self.params.day, issued_at=now, origin=origin,
            priority=v.priority, appointment_at=appointment,
        )
        visit.ticket_id, visit.issued_s = tid, t
        self.tickets[tid] = ticket
        self.visit_of[tid] = visit
        self.leg_s[tid] = v.service_s
        self._estimate(ticket, visit, now)
        self.waiting[v.service][tid] = ticket
        if v.patience_s is not None:
            self.push((visit.wait_start_s or t) + v.patience_s, _WALKOUT, visit)
        if appointment is not None:
            due = v.appointment_s - self.settings.call_window_s  # type: ignore[operator]
            if due > t:
                self.push(due, _DUE, v.service)
        self._wake(v.service, t)

    def _estimate(self, ticket: tk.Ticket, visit: Visit, now: dt.datetime) -> None:
        if not self.predictors:
            return
        # What the server passes: the service's own queue and its open counters.
        waiting = list(self.waiting[ticket.service].values())
        desks = self.by_service.get(ticket.service, ())
        # As the server does: when every desk of the service is paused, estimate with all of them.
        open_counters = [d.counter for d in desks if d.state != "break"] or [d.counter for d in desks]
        for name, p in self.predictors.items():
            est = p.estimate(ticket, waiting, open_counters, now)
            visit.estimates[name] = est.wait_s
            if est.wait_max_s is not None:
                visit.bounds[name] = est.wait_max_s
            visit.ahead_at_issue = est.people_ahead

    def _walkout(self, t: float, visit: Visit) -> None:
        if visit.called_s is None and visit.ticket_id is not None:
            ticket = self.tickets[visit.ticket_id]
            if ticket.status is tk.TicketStatus.WAITING:
                visit.left_s = t  # nobody tells the system: the ticket stays in the queue

    def _due(self, t: float, service: str) -> None:
        self._wake(service, t)

    # --- counters ------------------------------------------------------------------------------
    def _wake(self, service: str, t: float) -> None:
        idle = [d for d in self.by_service.get(service, ()) if d.state == "idle"]
        idle.sort(key=lambda d: (d.idle_since, d.counter.id))
        for d in idle:
            if self._next(d, t):
                return

    def _next(self, desk: _Desk, t: float) -> bool:
        """The desk is free at ``t``: take a due break, else call the policy's choice."""
        if t > self.close_s + self.params.overtime_s:
            desk.state = "idle"
            return False
        now = self.at(t)
        candidates = [w for s in desk.counter.services for w in self.waiting[s.id].values()]
        decision = self.policy(desk.counter, candidates, now, self.settings) if candidates else None
        # Staff serve a visitor called for their slot (or sent to this desk) before going on a break.
        if desk.breaks and desk.breaks[0][0] <= t and not (
                self.params.bookings_before_break and decision is not None and decision.rule in ("appointment", "reserved")):
            _, length = desk.breaks.pop(0)
            planned = self.params.announce_lunch and length == self.params.lunch_min * 60
            desk.state = "break"
            self.result.breaks += 1
            self.result.break_spans.append((desk.counter.id, t, t + length))
            self.feed.paused(desk.counter.id, self.at(t), planned=planned)
            self.push(t + length, _RESUME, desk)
            return False
        if decision is None:
            if desk.state != "idle":
                desk.state, desk.idle_since = "idle", t
            self.feed.idle(desk.counter.id, now)
            return False
        chosen = decision.ticket
        current = self.tickets.get(chosen.id)
        if current is None or self.waiting[current.service].get(current.id) is not current:
            raise RuntimeError(f"policy chose {chosen.label}, which is not waiting")
        ticket = tk.call(current, counter=desk.counter.id, now=now, reason=decision.reason)
        del self.waiting[current.service][current.id]
        self.tickets[ticket.id] = ticket
        desk.state, desk.ticket = "busy", ticket.id
        visit = self.visit_of[ticket.id]
        queued = (current.waiting_since - self.t0).total_seconds()
        self.result.calls.append(CallRecord(t, desk.counter.id, ticket.id, decision.rule, ticket.priority,
                                            ticket.service, queued))
        self.feed.called(ticket, now)
        if visit.left_s is not None:
            if visit.ghost_called_s is None:
                visit.ghost_called_s = t
            # Nobody comes: recall until the rule says no-show.
            rule = self.cfg.no_show
            for k in range(1, rule.recalls + 1):
                if k * self.params.recall_every_s < rule.timeout_s:
                    self.push(t + k * self.params.recall_every_s, _RECALL, (desk, ticket.id, False))
            self.push(t + rule.timeout_s, _NOSHOW, (desk, ticket.id))
            return True
        if visit.transferred and visit.called_s is not None:
            visit.second_wait_s = t - queued
        elif visit.called_s is None:
            visit.called_s = t
        walk = self.rng.uniform(*self.params.walk_s)
        if self.rng.random() < self.params.absent_share:
            self.push(t + self.params.recall_every_s, _RECALL, (desk, ticket.id, True))
        else:
            self.push(t + walk, _START, (desk, ticket.id))
        return True

    def _recall(self, t: float, payload: tuple[_Desk, str, bool]) -> None:
        desk, tid, comes = payload
        ticket = self.tickets[tid]
        if ticket.status is not tk.TicketStatus.CALLED:
            return
        self.tickets[tid] = tk.recall(ticket, now=self.at(t))
        self.result.recalls += 1
        if comes:
            self.push(t + self.rng.uniform(*self.params.walk_s), _START, (desk, tid))

    def _no_show(self, t: float, payload: tuple[_Desk, str]) -> None:
        desk, tid = payload
        self.tickets[tid] = tk.no_show(self.tickets[tid], now=self.at(t))
        self.result.no_shows += 1
        desk.ticket = None
        self._next(desk, t)

    def _start(self, t: float, payload: tuple[_Desk, str]) -> None:
        desk, tid = payload
        self.tickets[tid] = tk.start(self.tickets[tid], now=self.at(t))
        self.push(t + self.leg_s[tid], _FINISH, (desk, tid))

    def _finish(self, t: float, payload: tuple[_Desk, str]) -> None:
        desk, tid = payload
        ticket = self.tickets[tid]
        visit = self.visit_of[tid]
        now = self.at(t)
        self.feed.finished(ticket.service, self.leg_s[tid])
        if not visit.transferred and self.rng.random() < self.params.transfer_share:
            others = [s for s in self.by_service if s != ticket.service]
            if others:
                to = self.rng.choice(sorted(others))
                moved = tk.transfer(ticket, now=now, to_service=to)
                visit.transferred = True
                self.result.transfers += 1
                self.tickets[tid] = moved
                self.leg_s[tid] = lognormal(self.rng, self.mean_s[to], 0.6)
                self.waiting[to][tid] = moved
                desk.ticket = None
                self._next(desk, t)
                self._wake(to, t)
                return
        self.tickets[tid] = tk.finish(ticket, now=now)
        visit.finished_s = t
        if ticket.purpose == "submit" and self.registrars.get(ticket.service):
            assign_registrar(tid, self.registrars[ticket.service], self.cfg.backoffice_seed)
            self.result.backoffice_cases += 1
        desk.ticket = None
        self._next(desk, t)

    def _break_due(self, t: float, desk: _Desk) -> None:
        if desk.state == "idle":
            self._next(desk, t)

    def _resume(self, t: float, desk: _Desk) -> None:
        desk.state, desk.idle_since = "idle", t
        self._next(desk, t)


def _hhmm_s(hhmm: str) -> float:
    t = dt.time.fromisoformat(hhmm)
    return t.hour * 3600.0 + t.minute * 60.0

