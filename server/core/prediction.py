"""Wait prediction: people ahead and an estimated wait for a ticket.

A :class:`WaitPredictor` is a replaceable policy; :class:`ServiceRatePredictor` is v1. It learns
each service's mean service time from finished visits (an exponentially weighted mean starting
from the configured prior) and divides the work ahead by the counters that serve the service,
each counted by the share of its attention the service gets.

:class:`ReplayPredictor` (v2, the default) replays the core's own policy forward over the queue it
knows: the open counters free up after the expected remaining visit, each picks the next ticket
as :func:`~server.core.scheduling.choose_next` would (reserved, due booking, highest score), until
the ticket in question is picked. It then corrects the replay with what it learns from realised
waits: a median correction (for accuracy) and a high quantile (so an estimate is rarely more than
5 minutes short). It learns more when its optional hooks are called:

* ``observe_call(ticket, now)`` — a counter called ``ticket`` (the ticket after the call, with
  ``counter`` set): the counter is busy from now, the ticket leaves the queue, its wait is known;
* ``observe_idle(counter_id, now)`` — the counter had nobody to call;
* ``observe_pause(counter_id, now)`` — the counter paused (a break): it calls nobody for a while;
* ``plan_pause(counter_id, start, end)`` — the counter's planned break (a published lunch rota):
  the replay lets the counter finish its visit, then skips the break.

Without them it still works (it then assumes every counter is mid-visit), just less precisely.
"""

from __future__ import annotations

import bisect
import dataclasses
import datetime as dt
import heapq
from collections.abc import Iterable, Mapping
from typing import Protocol

from server.core.scheduling import PolicySettings, class_weight, score
from server.core.tickets import Origin, Ticket, TicketStatus
from server.siteconfig import Counter


@dataclasses.dataclass(frozen=True, slots=True)
class Estimate:
    people_ahead: int
    wait_s: float | None  # None: no counter open for the service, no estimate

    @property
    def wait_min(self) -> int | None:
        return None if self.wait_s is None else int(round(self.wait_s / 60))


class WaitPredictor(Protocol):
    def observe_service(self, service: str, duration_s: float) -> None: ...

    def estimate(self, ticket: Ticket, waiting: Iterable[Ticket], open_counters: Iterable[Counter],
                 now: dt.datetime) -> Estimate: ...


class ServiceRatePredictor:
    """v1: (work ahead + own slack) / effective counters, with learned mean service times."""

    def __init__(self, prior_mean_s: Mapping[str, float], settings: PolicySettings, alpha: float = 0.1) -> None:
        self._mean = dict(prior_mean_s)
        self._settings = settings
        self._alpha = alpha

    def mean_service_s(self, service: str) -> float:
        return self._mean.get(service, 600.0)

    def observe_service(self, service: str, duration_s: float) -> None:
        if duration_s <= 0:
            return
        old = self._mean.get(service, duration_s)
        self._mean[service] = (1 - self._alpha) * old + self._alpha * duration_s

    def people_ahead(self, ticket: Ticket, waiting: Iterable[Ticket], now: dt.datetime,
                     counters: Iterable[Counter]) -> int:
        """Waiting tickets of the same service that the policy ranks above this one now."""
        counters = list(counters)
        ref = next((c for c in counters if c.weight_for(ticket.service) is not None), None)
        ahead = 0
        for other in waiting:
            if other.id == ticket.id or other.status is not TicketStatus.WAITING or other.service != ticket.service:
                continue
            if ref is None:
                ahead += other.waiting_since <= ticket.waiting_since
            elif score(other, ref, now, self._settings) >= score(ticket, ref, now, self._settings):
                ahead += 1
        return ahead

    def estimate(self, ticket: Ticket, waiting: Iterable[Ticket], open_counters: Iterable[Counter],
                 now: dt.datetime) -> Estimate:
        waiting = list(waiting)
        counters = list(open_counters)
        ahead = self.people_ahead(ticket, waiting, now, counters)
        capacity = 0.0
        for c in counters:
            w = c.weight_for(ticket.service)
            if w is None:
                continue
            total = sum(s.weight for s in c.services) or 1.0
            capacity += w / total
        if capacity <= 0:
            return Estimate(ahead, None)
        # Work ahead: the people ahead, plus half a visit for whoever is at the counter now.
        work = (ahead + 0.5) * self.mean_service_s(ticket.service)
        return Estimate(ahead, work / capacity)



# Buckets of the replayed wait (seconds): short replays err differently from long ones.
_BUCKETS = (60.0, 180.0, 420.0, 900.0, 1800.0)


class _Calibration:
    """Online corrections learned from realised waits (stochastic approximation, Robbins–Monro).

    * per bucket of the replayed wait, the median of ``real − replayed`` (seconds): accuracy;
    * the upper ``quantile`` of the standardised error ``(real − replayed) / spread``: caution.

    Larger steps while few observations were seen, so the day's first hour already counts.
    """

    def __init__(self, quantile: float, step_s: float = 5.0, step_z: float = 0.01) -> None:
        self.median = [0.0] * (len(_BUCKETS) + 1)
        self.count = [0] * (len(_BUCKETS) + 1)
        self.upper = 1.0
        self.n = 0
        self.q = quantile
        self.step_s = step_s
        self.step_z = step_z

    @staticmethod
    def bucket(raw_s: float) -> int:
        return bisect.bisect_right(_BUCKETS, raw_s)

    def learn(self, raw_s: float, spread_s: float, real_s: float) -> None:
        b = self.bucket(raw_s)
        self.count[b] += 1
        err = real_s - raw_s
        self.median[b] += self.step_s * max(1.0, 10.0 / (1 + self.count[b]) ** 0.5) * (0.5 - (err < self.median[b]))
        self.n += 1
        z = err / spread_s
        self.upper += self.step_z * 4 * max(1.0, 10.0 / (1 + self.n) ** 0.5) * (self.q - (z < self.upper))


class ReplayPredictor:
    """v2: replay the core's policy over the known queue, then correct by what realised waits teach.

    The replay gives a wait and its spread (from the variance of the visits before the ticket on
    the counter that calls it). The estimate adds the median error seen so far for replays of that
    length (accuracy). With ``cautious=True`` it is raised, where needed, to ``wait + spread ×
    upper − tolerance_s`` with ``upper`` the ``quantile`` of the standardised errors seen: then it
    is rarely more than ``tolerance_s`` too short, at a price in mean accuracy.

    :param prior_mean_s: each service's prior mean visit, seconds (the config's ``mean_service_min``).
    :param settings: the office's policy settings (class weights, booking call window).
    :param call_overhead_s: from a call to the next call, on top of the visit: walking, greeting.
    :param cautious: raise estimates so that few are more than ``tolerance_s`` too short.
    :param quantile: with ``cautious``, the share of estimates that should not be ``tolerance_s`` short.
    :param tolerance_s: how much too short an estimate may be and still count as right (5 minutes).
    :param pause_s: how long a paused counter is expected to stay away.
    :param cv: the prior coefficient of variation of visit times (learned per service as visits end).
    """

    def __init__(self, prior_mean_s: Mapping[str, float], settings: PolicySettings, *, alpha: float = 0.1,
                 call_overhead_s: float = 30.0, cautious: bool = False, quantile: float = 0.99,
                 tolerance_s: float = 300.0, max_steps: int = 2000, pause_s: float = 1800.0, cv: float = 0.6,
                 min_spread_s: float = 60.0) -> None:
        self._rate = ServiceRatePredictor(prior_mean_s, settings, alpha)
        self._settings = settings
        self._overhead = call_overhead_s
        self._tolerance = tolerance_s
        self._max_steps = max_steps
        self._pause_s = pause_s
        self._alpha = alpha
        self._min_spread = min_spread_s
        self._sq = {k: (cv * v) ** 2 + v * v for k, v in prior_mean_s.items()}  # E[visit²], learned
        self._cv = cv
        self._known: dict[str, Ticket] = {}  # waiting tickets seen, of every service
        self._busy: dict[str, tuple[dt.datetime, str]] = {}  # counter -> (called at, service)
        self._idle: set[str] = set()
        self._paused: dict[str, dt.datetime] = {}
        self._paused_until: dict[str, dt.datetime] = {}
        self._plan: dict[str, list[tuple[dt.datetime, dt.datetime]]] = {}
        self._raw: dict[str, tuple[float, float]] = {}  # ticket -> (replayed wait, spread) at first estimate
        self._cal = _Calibration(quantile)
        self._cautious = cautious

    # --- learning ---------------------------------------------------------------------------------
    def mean_service_s(self, service: str) -> float:
        return self._rate.mean_service_s(service)

    def var_service_s2(self, service: str) -> float:
        mean = self._rate.mean_service_s(service)
        return max(0.0, self._sq.get(service, (1 + self._cv**2) * mean * mean) - mean * mean)

    def observe_service(self, service: str, duration_s: float) -> None:
        if duration_s > 0:
            old = self._sq.get(service, duration_s * duration_s)
            self._sq[service] = (1 - self._alpha) * old + self._alpha * duration_s * duration_s
        self._rate.observe_service(service, duration_s)

    def observe_call(self, ticket: Ticket, now: dt.datetime) -> None:
        self._known.pop(ticket.id, None)
        if ticket.counter is not None:
            self._busy[ticket.counter] = (now, ticket.service)
            self._idle.discard(ticket.counter)
            self._paused.pop(ticket.counter, None)
        first = self._raw.pop(ticket.id, None)
        if first is not None and ticket.origin is not Origin.BOOKED:
            raw, spread = first
            self._cal.learn(raw, spread, max(0.0, (now - ticket.issued_at).total_seconds()))

    def observe_idle(self, counter: str, now: dt.datetime) -> None:
        self._busy.pop(counter, None)
        self._paused.pop(counter, None)
        self._idle.add(counter)

    def observe_pause(self, counter: str, now: dt.datetime) -> None:
        self._busy.pop(counter, None)
        self._idle.discard(counter)
        self._paused[counter] = now
        # A planned break due now is under way: it lasts as long as planned, from now.
        plan = self._plan.get(counter, [])
        for k, (start, end) in enumerate(plan):
            if start <= now < end + (end - start):
                self._paused_until[counter] = now + (end - start)
                del plan[k]
                return
        self._paused_until.pop(counter, None)

    def plan_pause(self, counter: str, start: dt.datetime, end: dt.datetime) -> None:
        self._plan.setdefault(counter, []).append((start, end))
        self._plan[counter].sort()

    # --- estimating -------------------------------------------------------------------------------
    def estimate(self, ticket: Ticket, waiting: Iterable[Ticket], open_counters: Iterable[Counter],
                 now: dt.datetime) -> Estimate:
        waiting = [w for w in waiting if w.status is TicketStatus.WAITING]
        if all(w.id != ticket.id for w in waiting) and ticket.status is TicketStatus.WAITING:
            waiting.append(ticket)
        counters = [c for c in open_counters if not c.back_office and c.weight_for(ticket.service) is not None]
        ahead = self._rate.people_ahead(ticket, waiting, now, counters)
        self._refresh(ticket.service, waiting)
        if not counters:
            return Estimate(ahead, None)
        replay = self._replay(ticket, counters, now)
        if replay is None:
            return self._rate.estimate(ticket, waiting, counters, now)
        raw, spread = replay
        self._raw.setdefault(ticket.id, replay)
        if ticket.appointment_at is not None:
            return Estimate(ahead, raw)
        cal = self._cal
        wait = raw + cal.median[cal.bucket(raw)]
        if self._cautious:
            wait = max(wait, raw + spread * cal.upper - self._tolerance)
        return Estimate(ahead, max(0.0, wait))

    def _refresh(self, service: str, waiting: list[Ticket]) -> None:
        """``waiting`` is the whole queue of ``service`` now: forget its tickets that left it."""
        ids = {w.id for w in waiting}
        for tid in [k for k, t in self._known.items() if t.service == service and k not in ids]:
            del self._known[tid]
        for w in waiting:
            self._known[w.id] = w

    def _replay(self, ticket: Ticket, counters: list[Counter], now: dt.datetime) -> tuple[float, float] | None:
        """(seconds until the policy, replayed with mean visit times, calls ``ticket``; their spread)."""
        window = self._settings.call_window_s
        served = {s.id for c in counters for s in c.services}
        # Per candidate: (since_s, class weight, due_s or None, number, service, target counter)
        cands: dict[str, tuple[float, float, float | None, int, str, str | None]] = {}
        for t in self._known.values():
            if t.service not in served or t.status is not TicketStatus.WAITING:
                continue
            if t.not_before is not None and t.not_before > now:
                continue
            since = (t.waiting_since - now).total_seconds()
            due = None if t.appointment_at is None else (t.appointment_at - now).total_seconds() - window
            cands[t.id] = (since, class_weight(t, self._settings), due, t.number, t.service, t.target_counter)
        if ticket.id not in cands:
            return None
        heap: list[tuple[float, str, int]] = []
        var: list[float] = []
        # planned breaks still ahead, in seconds from now: a counter free after a break's start takes it
        plans: list[list[tuple[float, float]]] = []
        for i, c in enumerate(counters):
            free_in, v = self._free_in(c, now)
            heap.append((free_in, c.id, i))
            var.append(v)
            plans.append([((s - now).total_seconds(), (e - now).total_seconds())
                          for s, e in self._plan.get(c.id, ()) if c.id not in self._paused or s > now])
        heapq.heapify(heap)
        weights = [{s.id: s.weight for s in c.services} for c in counters]
        steps = 0
        while heap and steps < self._max_steps:
            steps += 1
            at, cid, i = heapq.heappop(heap)
            if plans[i] and plans[i][0][0] <= at:
                start, end = plans[i].pop(0)
                heapq.heappush(heap, (at + end - start, cid, i))  # the break starts when the visit ends
                continue
            pick = _policy_pick(cands, weights[i], cid, at)
            if pick is None:
                next_due = min((c[2] for c in cands.values() if c[2] is not None and c[4] in weights[i]),
                               default=None)
                if next_due is not None and next_due > at:
                    heapq.heappush(heap, (next_due, cid, i))
                continue
            if pick == ticket.id:
                return max(0.0, at), max(self._min_spread, var[i] ** 0.5)
            service = cands.pop(pick)[4]
            var[i] += self.var_service_s2(service)
            heapq.heappush(heap, (at + self._overhead + self._rate.mean_service_s(service), cid, i))
        return None

    def _free_in(self, counter: Counter, now: dt.datetime) -> tuple[float, float]:
        """(seconds until ``counter`` calls again, its variance): 0 when idle, else the rest of its visit."""
        if counter.id in self._idle:
            return 0.0, 0.0
        paused = self._paused.get(counter.id)
        until = self._paused_until.get(counter.id)
        if paused is not None and until is not None:
            rest = max(0.0, (until - now).total_seconds())
            return rest, (0.1 * rest) ** 2
        if paused is not None:
            rest = max(self._pause_s - (now - paused).total_seconds(), 0.2 * self._pause_s)
            return rest, (0.5 * rest) ** 2
        busy = self._busy.get(counter.id)
        if busy is None:  # never seen: assume it is half-way through an average visit
            means = [self._rate.mean_service_s(s.id) for s in counter.services] or [600.0]
            mean = sum(means) / len(means)
            return 0.5 * mean, (0.5 * mean) ** 2
        since, service = busy
        mean = self._rate.mean_service_s(service) + self._overhead
        elapsed = (now - since).total_seconds()
        # A visit already longer than the mean is expected to go on for a while (heavy tail).
        rest = max(mean - elapsed, 0.3 * mean)
        return rest, self.var_service_s2(service) * min(1.0, rest / mean)


def _policy_pick(cands: Mapping[str, tuple[float, float, float | None, int, str, str | None]],
                 weights: Mapping[str, float], counter: str, at: float) -> str | None:
    """The ticket :func:`~server.core.scheduling.choose_next` would pick at ``at`` (seconds from now).

    Same rules on precomputed numbers: a ticket reserved for the counter, else the earliest due
    booking, else the highest ``waited × class weight × service weight`` (ties: earlier, smaller number).
    """
    reserved: tuple[float, int, str] | None = None
    due_pick: tuple[float, int, str] | None = None
    best: tuple[float, float, int] | None = None
    best_id: str | None = None
    for tid, (since, cw, due, number, service, target) in cands.items():
        if target is not None:
            if target == counter and (reserved is None or (since, number) < reserved[:2]):
                reserved = (since, number, tid)
            continue
        sw = weights.get(service)
        if sw is None:
            continue
        if due is not None:
            if due <= at and (due_pick is None or (due, number) < due_pick[:2]):
                due_pick = (due, number, tid)
            continue
        key = ((at - since) * cw * sw, -since, -number)
        if best is None or key > best:
            best, best_id = key, tid
    if reserved is not None:
        return reserved[2]
    if due_pick is not None:
        return due_pick[2]
    return best_id


def default_predictor(prior_mean_s: Mapping[str, float], settings: PolicySettings) -> WaitPredictor:
    """The predictor an office uses unless told otherwise."""
    return ReplayPredictor(prior_mean_s, settings)
