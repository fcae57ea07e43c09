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
* ``observe_pause(counter_id, now, planned=False)`` — the counter paused: it calls nobody for a
  while (a planned break as long as planned, another pause as long as pauses have lasted);
* ``plan_pause(counter_id, start, end)`` — the counter's planned break (a published lunch rota):
  the replay lets the counter finish its visit, then skips the break.

Without them it still works (it then assumes every counter is mid-visit), just less precisely.
"""

from __future__ import annotations

import bisect
import collections
import dataclasses
import datetime as dt
import heapq
from collections.abc import Iterable, Mapping
from typing import Protocol

from server.core.scheduling import PolicySettings, class_weight, score, weighted_wait
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
        same = [o for o in waiting
                if o.id != ticket.id and o.status is TicketStatus.WAITING and o.service == ticket.service]
        if ref is None:
            return sum(o.waiting_since <= ticket.waiting_since for o in same)
        mine = score(ticket, ref, now, self._settings)
        if mine <= 0:
            # A ticket issued this instant has waited nothing: everyone waiting ranks at or above it.
            # (The common case, at every issue: no score per waiting ticket, however long the queue.)
            return len(same)
        return sum(score(o, ref, now, self._settings) >= mine for o in same)

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
    """What realised waits teach, per bucket of the replayed wait, from the errors ``real − replayed``.

    * a running median (stochastic approximation: each error nudges it up or down by a step,
      larger while few were seen), which corrects the replay — accuracy;
    * a window of the recent errors, whose high quantile says how much longer a wait of that
      length can turn out — caution. The window follows the day (a lunch hour errs differently).
    """

    def __init__(self, window: int = 400, step_s: float = 5.0) -> None:
        n = len(_BUCKETS) + 1
        self.median = [0.0] * n
        self.count = [0] * n
        self.step = step_s
        self.errors: list[collections.deque[float]] = [collections.deque(maxlen=window) for _ in range(n)]

    @staticmethod
    def bucket(raw_s: float) -> int:
        return bisect.bisect_right(_BUCKETS, raw_s)

    def learn(self, raw_s: float, real_s: float) -> None:
        b = self.bucket(raw_s)
        err = real_s - raw_s
        self.count[b] += 1
        step = self.step * max(1.0, 10.0 / (1 + self.count[b]) ** 0.5)
        self.median[b] += step * (0.5 - (err < self.median[b]))
        self.errors[b].append(err)

    def correction(self, raw_s: float) -> float:
        return self.median[self.bucket(raw_s)]

    def quantile(self, raw_s: float, q: float) -> float:
        errs = self.errors[self.bucket(raw_s)]
        if len(errs) < 10:  # too few to say anything
            return 0.0
        ordered = sorted(errs)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


class ReplayPredictor:
    """v2: replay the core's policy over the known queue, then correct by what realised waits teach.

    The estimate is the replayed wait plus the running median error of replays of that length
    (accuracy). With ``cautious=True`` it is raised, where needed, so that only about
    ``1 − quantile`` of recent waits of that length turned out more than ``tolerance_s`` longer
    than estimated — a promise kept more often, at a price in mean accuracy.

    :param prior_mean_s: each service's prior mean visit, seconds (the config's ``mean_service_min``).
    :param settings: the office's policy settings (class weights, booking call window).
    :param call_overhead_s: from a call to the next call, on top of the visit: walking, greeting.
    :param cautious: raise estimates so that few are more than ``tolerance_s`` too short.
    :param quantile: with ``cautious``, the share of estimates that should not be ``tolerance_s`` short.
    :param tolerance_s: how much too short an estimate may be and still count as right (5 minutes).
    :param pause_s: how long an unplanned pause is expected to last at first (then learned).
    """

    def __init__(self, prior_mean_s: Mapping[str, float], settings: PolicySettings, *, alpha: float = 0.1,
                 call_overhead_s: float = 30.0, cautious: bool = False, quantile: float = 0.98,
                 tolerance_s: float = 300.0, max_steps: int = 2000, pause_s: float = 900.0) -> None:
        self._rate = ServiceRatePredictor(prior_mean_s, settings, alpha)
        self._settings = settings
        self._overhead = call_overhead_s
        self._tolerance = tolerance_s
        self._max_steps = max_steps
        self._pause_s = pause_s
        self._alpha = alpha
        self._known: dict[str, Ticket] = {}  # waiting tickets seen, of every service
        self._busy: dict[str, tuple[dt.datetime, str]] = {}  # counter -> (called at, service)
        self._idle: set[str] = set()
        self._paused: dict[str, dt.datetime] = {}
        self._counters: dict[str, Counter] = {}  # every counter seen open, to bring back after a pause
        self._paused_until: dict[str, dt.datetime] = {}
        self._plan: dict[str, list[tuple[dt.datetime, dt.datetime]]] = {}
        self._raw: dict[str, float] = {}  # ticket -> replayed wait at its first estimate
        self._cal = _Calibration()
        self._quantile = quantile
        self._cautious = cautious

    # --- learning ---------------------------------------------------------------------------------
    def mean_service_s(self, service: str) -> float:
        return self._rate.mean_service_s(service)

    def observe_service(self, service: str, duration_s: float) -> None:
        self._rate.observe_service(service, duration_s)

    def observe_call(self, ticket: Ticket, now: dt.datetime) -> None:
        self._known.pop(ticket.id, None)
        if ticket.counter is not None:
            self._end_pause(ticket.counter, now)
            self._busy[ticket.counter] = (now, ticket.service)
            self._idle.discard(ticket.counter)
        first = self._raw.pop(ticket.id, None)
        if first is not None and ticket.origin is not Origin.BOOKED:
            self._cal.learn(first, max(0.0, (now - ticket.issued_at).total_seconds()))

    def observe_idle(self, counter: str, now: dt.datetime) -> None:
        self._end_pause(counter, now)
        self._busy.pop(counter, None)
        self._idle.add(counter)

    def _end_pause(self, counter: str, now: dt.datetime) -> None:
        """A pause ends when the counter calls or idles again: learn how long unplanned ones last."""
        began = self._paused.pop(counter, None)
        if began is not None and self._paused_until.pop(counter, None) is None:
            took = (now - began).total_seconds()
            self._pause_s = (1 - self._alpha) * self._pause_s + self._alpha * took

    def observe_pause(self, counter: str, now: dt.datetime, planned: bool = False) -> None:
        """The counter paused; ``planned``: it is the break :meth:`plan_pause` announced."""
        self._end_pause(counter, now)
        self._busy.pop(counter, None)
        self._idle.discard(counter)
        self._paused[counter] = now
        self._paused_until.pop(counter, None)
        plan = self._plan.get(counter, [])
        if planned and plan:
            # The earliest planned break is under way: it lasts as long as planned, from now.
            start, end = plan.pop(0)
            self._paused_until[counter] = now + (end - start)

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
        for c in counters:
            self._counters[c.id] = c
        # Paused counters are not open, but they come back: the replay counts them from then.
        listed = {c.id for c in counters}
        back = [self._counters[k] for k in self._paused if k in self._counters and k not in listed
                and self._counters[k].weight_for(ticket.service) is not None]
        replay = self._replay(ticket, [*counters, *back], now)
        if replay is None:
            return self._rate.estimate(ticket, waiting, counters, now)
        raw = replay
        self._raw.setdefault(ticket.id, raw)
        if ticket.appointment_at is not None:
            return Estimate(ahead, raw)
        wait = raw + self._cal.correction(raw)
        if self._cautious:
            wait = max(wait, raw + self._cal.quantile(raw, self._quantile) - self._tolerance)
        return Estimate(ahead, max(0.0, wait))

    def _refresh(self, service: str, waiting: list[Ticket]) -> None:
        """``waiting`` is the whole queue of ``service`` now: forget its tickets that left it."""
        ids = {w.id for w in waiting}
        for tid in [k for k, t in self._known.items() if t.service == service and k not in ids]:
            del self._known[tid]
        for w in waiting:
            self._known[w.id] = w

    def _replay(self, ticket: Ticket, counters: list[Counter], now: dt.datetime) -> float | None:
        """Seconds until the policy, replayed with mean visit times, calls ``ticket``."""
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
        # planned breaks still ahead, in seconds from now: a counter free after a break's start takes it
        plans: list[list[tuple[float, float]]] = []
        for i, c in enumerate(counters):
            heap.append((self._free_in(c, now), c.id, i))
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
            pick = _policy_pick(cands, weights[i], cid, at, self._settings)
            if pick is None:
                next_due = min((c[2] for c in cands.values() if c[2] is not None and c[4] in weights[i]),
                               default=None)
                if next_due is not None and next_due > at:
                    heapq.heappush(heap, (next_due, cid, i))
                continue
            if pick == ticket.id:
                return max(0.0, at)
            service = cands.pop(pick)[4]
            heapq.heappush(heap, (at + self._overhead + self._rate.mean_service_s(service), cid, i))
        return None

    def _free_in(self, counter: Counter, now: dt.datetime) -> float:
        """Seconds until ``counter`` calls again: 0 when idle, else the rest of its visit or pause."""
        if counter.id in self._idle:
            return 0.0
        paused = self._paused.get(counter.id)
        until = self._paused_until.get(counter.id)
        if paused is not None and until is not None:
            return max(0.0, (until - now).total_seconds())
        if paused is not None:
            return max(self._pause_s - (now - paused).total_seconds(), 0.2 * self._pause_s)
        busy = self._busy.get(counter.id)
        if busy is None:  # never seen: assume it is half-way through an average visit
            means = [self._rate.mean_service_s(s.id) for s in counter.services] or [600.0]
            return 0.5 * sum(means) / len(means)
        since, service = busy
        mean = self._rate.mean_service_s(service) + self._overhead
        elapsed = (now - since).total_seconds()
        # A visit already longer than the mean is expected to go on for a while (heavy tail).
        return max(mean - elapsed, 0.3 * mean)


def _policy_pick(cands: Mapping[str, tuple[float, float, float | None, int, str, str | None]],
                 weights: Mapping[str, float], counter: str, at: float, settings: PolicySettings) -> str | None:
    """The ticket :func:`~server.core.scheduling.choose_next` would pick at ``at`` (seconds from now).

    Same rules on precomputed numbers: a ticket reserved for the counter, else the earliest due
    booking, else the highest :func:`~server.core.scheduling.weighted_wait` (ties: earlier, smaller number).
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
        key = (weighted_wait(at - since, cw, sw, settings), -since, -number)
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
