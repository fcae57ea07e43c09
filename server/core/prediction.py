"""Wait prediction: people ahead and an estimated wait for a ticket.

A :class:`WaitPredictor` is a replaceable policy; :class:`ServiceRatePredictor` is v1. It learns
each service's mean service time from finished visits (an exponentially weighted mean starting
from the configured prior) and divides the work ahead by the counters that serve the service,
each counted by the share of its attention the service gets.

:class:`ReplayPredictor` (v2, the default) replays the core's own policy forward over the queue it
knows: the open counters free up after the expected remaining visit, each picks the next ticket
as :func:`~server.core.scheduling.choose_next` would (reserved, due booking, highest score, ties
broken the same way; a postponed ticket joins when its time comes), until the ticket in question
is picked — :meth:`ReplayPredictor.replayed_calls` lists those calls, and
``tests/core/test_replay_matches_policy.py`` checks them against ``choose_next``. It then
corrects the replay with what it learns from realised waits: a median correction (for accuracy)
and a high quantile (so an estimate is rarely more than 5 minutes short). It learns more when its
optional hooks are called:

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
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Protocol

from cherga.server.core.scheduling import PolicySettings, class_weight, queue_key, score, weighted_wait
from cherga.server.core.tickets import Origin, Ticket, TicketStatus
from cherga.server.siteconfig import Counter


@dataclasses.dataclass(frozen=True, slots=True)
class Estimate:
    people_ahead: int
    wait_s: float | None  # None: no counter open for the service, no estimate
    # The promise's upper bound ("≈ 12 min, at most 25"); None: the predictor gives only a point.
    wait_max_s: float | None = None

    @property
    def wait_min(self) -> int | None:
        return None if self.wait_s is None else int(round(self.wait_s / 60))

    @property
    def wait_max_min(self) -> int | None:
        """The upper bound in whole minutes, rounded up, never below the point's minutes."""
        if self.wait_max_s is None or self.wait_s is None:
            return None
        return max(int(-(-self.wait_max_s // 60)), self.wait_min or 0)


@dataclasses.dataclass(frozen=True, slots=True)
class ReplayedCall:
    """One call the replay expects: ``counter`` calls ``ticket`` (an id) ``after_s`` seconds from now."""

    after_s: float
    counter: str
    ticket: str


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
        if ticket.appointment_at is not None:
            # A booked visitor is called before the walk-ins once due: only bookings of earlier slots
            # (or of the same slot, checked in earlier) are ahead. Counting the walk-in queue made a
            # booked ticket read "28 ahead" beside a wait of a few minutes.
            return sum(1 for o in same if o.appointment_at is not None
                       and (o.appointment_at, o.waiting_since) < (ticket.appointment_at, ticket.waiting_since))
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
_BUCKETS = (60.0, 180.0, 420.0, 900.0, 1800.0, 2700.0, 3600.0, 5400.0, 7200.0)


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


@dataclasses.dataclass(slots=True, eq=False)
class _WaitingRow:
    """A waiting ticket as the replay compares it, computed once when the ticket is seen; times are
    POSIX seconds (the replay's clock is a float of seconds, not a datetime)."""

    ticket: Ticket
    since: float  # waiting since (queued, or issued)
    issued: float
    class_weight: float
    due: float | None  # booked: when the policy may call it (slot minus the call window); else None
    number: int
    service: str
    target: str | None  # reserved for this counter (a transfer or a return to it), else None
    not_before: float | None  # postponed: not callable before this, else None

    @property
    def walk_in_entry(self) -> tuple[float, float, int, str]:
        """Its place in its (service, class weight) group: :func:`queue_key`, then the id."""
        return (self.since, self.issued, self.number, self.ticket.id)


# Entries of the replay's sorted queues (tuples: they sort and bisect as they are):
_ReservedEntry = tuple[float, int, str, str]  # (waiting since, number, ticket id, service)
_BookedEntry = tuple[float, int, str, str]  # (due, number, ticket id, service)
_WalkInEntry = tuple[float, float, int, str]  # (waiting since, issued, number, ticket id): queue_key order
_NO_ENTRY: _WalkInEntry = (0.0, 0.0, 0, "")
_GroupKey = tuple[str, float]  # (service, class weight): walk-ins that compete only by queue_key


@dataclasses.dataclass(slots=True)
class _Queues:
    """One service's callable tickets, sorted as the replay takes them."""

    reserved: dict[str, list[_ReservedEntry]]  # per target counter, by (waiting since, number)
    booked: list[_BookedEntry]  # by (due, number)
    walk_ins: dict[_GroupKey, list[_WalkInEntry]]  # per group, by queue_key
    # not callable yet, as (not before, ticket id, row): they join the others as the replay reaches their time
    postponed: list[tuple[float, str, _WaitingRow]]


def _queue_of(queues: _Queues, row: _WaitingRow) -> tuple[list[Any], tuple[Any, ...]]:
    """Where a ticket stands in its service's replay queues, and its entry there: reserved per target
    counter and booked by due time (both with the service), walk-ins per (service, class weight)."""
    if row.target is not None:
        return queues.reserved.setdefault(row.target, []), (row.since, row.number, row.ticket.id, row.service)
    if row.due is not None:
        return queues.booked, (row.due, row.number, row.ticket.id, row.service)
    return queues.walk_ins.setdefault((row.service, row.class_weight), []), row.walk_in_entry


def _place(lst: list[Any], entry: tuple[Any, ...], add: bool) -> bool:
    """Insert ``entry`` into the sorted ``lst``, or remove it; False if it was not there to remove."""
    k = bisect.bisect_left(lst, entry)
    if add:
        lst.insert(k, entry)
        return True
    if k < len(lst) and lst[k] == entry:
        del lst[k]
        return True
    return False


class ReplayPredictor:
    """v2: replay the core's policy over the known queue, then correct by what realised waits teach.

    The estimate is the replayed wait plus the running median error of replays of that length
    (accuracy). With ``margin_z`` it is raised where this ticket's own replay is uncertain (the
    default predictor uses 1). With ``cautious=True`` it is raised, where needed, so that only about
    ``1 − quantile`` of recent waits of that length turned out more than ``tolerance_s`` longer
    than estimated — a promise kept more often, at a larger price in mean accuracy.

    The replay costs one step per ticket called before the one estimated, each step comparing
    the heads of the (service, class) groups the counter serves — not the whole queue. Past
    ``max_steps`` calls it stops and extrapolates the rest of the ticket's own group at the
    service's rate (a ticket behind thousands is told a long wait quickly, not precisely).

    :param prior_mean_s: each service's prior mean visit, seconds (the config's ``mean_service_min``).
    :param settings: the office's policy settings (class weights, booking call window).
    :param call_overhead_s: from a call to the next call, on top of the visit: walking, greeting.
    :param cautious: raise estimates so that few are more than ``tolerance_s`` too short.
    :param quantile: with ``cautious``, the share of estimates that should not be ``tolerance_s`` short.
    :param tolerance_s: how much too short an estimate may be and still count as right (5 minutes).
    :param max_steps: calls replayed at most before extrapolating.
    :param pause_s: how long an unplanned pause is expected to last at first (then learned).
    :param margin_z: raise an estimate, where needed, to ``replay + margin_z × spread − tolerance_s``,
        where the spread is the replay's own uncertainty for this ticket (visits ahead and under way,
        each with its service's learned visit-time variance, shared by the counters): only long
        queues on few counters get a margin; short queues in big pools keep the accurate estimate.
    :param visit_cv: the visit-time spread (coefficient of variation) assumed before visits are seen.
    :param pause_sd: spread of an unannounced pause, as a share of its expected length.
    :param bound_z: give an upper bound (``Estimate.wait_max_s``): the point plus the larger of
        ``bound_z × spread`` and what realised waits of that length taught (their ``bound_q``
        quantile above the point), at least ``bound_floor_s + bound_rel × point``. None: no bound.
    :param shared_desks: the other services the replay's desks serve are also served by desks
        outside the replay (seen open, not paused): their queues drain at those desks' weight share
        too, instead of waiting for the replay's desks alone.
    :param learn_calls: after 20 calls of a service, replay each of its calls with the learned desk
        time from a call to the desk's next call, idle or pause (a visit, or the recalls of a
        visitor who walked out), instead of the mean visit plus ``call_overhead_s``.
    :param bound_q: the share of recent waits of that length the learned part of the bound covers.
    :param bound_floor_s, bound_rel: the bound is at least ``bound_floor_s + bound_rel × point``
        above the point (a wait twice as long errs about twice as much; a long queue on a pool
        of desks, whose replay spread is small, still gets room for what the replay cannot know:
        later arrivals of higher class or weight, walk-outs, unannounced breaks).
    """

    def __init__(self, prior_mean_s: Mapping[str, float], settings: PolicySettings, *, alpha: float = 0.1,
                 call_overhead_s: float = 30.0, cautious: bool = False, quantile: float = 0.98,
                 tolerance_s: float = 300.0, max_steps: int = 200, pause_s: float = 900.0,
                 margin_z: float | None = None, visit_cv: float = 0.6, pause_sd: float = 0.5,
                 bound_z: float | None = None, bound_q: float = 0.95, bound_floor_s: float = 300.0,
                 bound_rel: float = 0.5, shared_desks: bool = False, learn_calls: bool = False) -> None:
        self._shared_desks = shared_desks
        self._learn_calls = learn_calls
        self._call_s: dict[str, float] = {}  # service -> learned desk time per call (call to call)
        self._call_n: dict[str, int] = {}
        self._bound_z = bound_z
        self._bound_rel = bound_rel
        self._bound_q = bound_q
        self._bound_floor = bound_floor_s
        self._rate = ServiceRatePredictor(prior_mean_s, settings, alpha)
        self._var = {k: (visit_cv * v) ** 2 for k, v in prior_mean_s.items()}  # visit-time variance per service
        self._visit_cv = visit_cv
        self._pause_sd = pause_sd
        self._margin_z = margin_z
        self._settings = settings
        self._overhead = call_overhead_s
        self._tolerance = tolerance_s
        self._max_steps = max_steps
        self._pause_s = pause_s
        self._alpha = alpha
        self._known: dict[str, dict[str, _WaitingRow]] = {}  # service -> its waiting tickets seen, by id
        # The replay's starting queues per service, sorted, kept in step ticket by ticket (rebuilt
        # only when a postponed ticket becomes callable): a kiosk's estimate then costs the
        # replay's steps, not a sort of every waiting ticket.
        self._queues: dict[str, tuple[float, _Queues]] = {}
        self._service_of: dict[str, str] = {}  # ticket id -> the service it is known under
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
        if duration_s > 0:
            mean = self._rate.mean_service_s(service)
            var = self._var.get(service, (self._visit_cv * mean) ** 2)
            self._var[service] = (1 - self._alpha / 2) * var + self._alpha / 2 * (duration_s - mean) ** 2
        self._rate.observe_service(service, duration_s)

    def visit_var(self, service: str) -> float:
        return self._var.get(service, (self._visit_cv * self._rate.mean_service_s(service)) ** 2)

    def _end_call(self, counter: str, now: dt.datetime) -> None:
        """The counter is done with the ticket it called: learn how long a call of that service
        occupies a desk, call to call (a visit and the greeting, or the recalls of a no-show)."""
        busy = self._busy.get(counter)
        if busy is None or not self._learn_calls:
            return
        took = (now - busy[0]).total_seconds()
        if took > 0:
            n = self._call_n.get(busy[1], 0)
            old = self._call_s.get(busy[1], took)
            self._call_s[busy[1]] = (1 - self._alpha) * old + self._alpha * took if n else took
            self._call_n[busy[1]] = n + 1

    def observe_call(self, ticket: Ticket, now: dt.datetime) -> None:
        self._forget(ticket.id)
        if ticket.counter is not None:
            self._end_call(ticket.counter, now)
            self._end_pause(ticket.counter, now)
            self._busy[ticket.counter] = (now, ticket.service)
            self._idle.discard(ticket.counter)
        first = self._raw.pop(ticket.id, None)
        if first is not None and ticket.origin is not Origin.BOOKED:
            self._cal.learn(first, max(0.0, (now - ticket.issued_at).total_seconds()))

    def observe_idle(self, counter: str, now: dt.datetime) -> None:
        self._end_call(counter, now)
        self._end_pause(counter, now)
        self._busy.pop(counter, None)
        self._idle.add(counter)

    def observe_closed(self, counter: str, now: dt.datetime) -> None:
        """Nobody works at the counter any more (signed out): it is not coming back from a pause."""
        self._paused.pop(counter, None)
        self._paused_until.pop(counter, None)
        self._busy.pop(counter, None)
        self._idle.discard(counter)

    def observe_queue(self, service: str, waiting: Iterable[Ticket]) -> None:
        """``waiting`` is the whole queue of ``service`` now (e.g. after a restart)."""
        self._refresh(service, [w for w in waiting if w.status is TicketStatus.WAITING])

    def _end_pause(self, counter: str, now: dt.datetime) -> None:
        """A pause ends when the counter calls or idles again: learn how long unplanned ones last."""
        began = self._paused.pop(counter, None)
        if began is not None and self._paused_until.pop(counter, None) is None:
            took = (now - began).total_seconds()
            self._pause_s = (1 - self._alpha) * self._pause_s + self._alpha * took

    def observe_pause(self, counter: str, now: dt.datetime, planned: bool = False) -> None:
        """The counter paused; ``planned``: it is the break :meth:`plan_pause` announced."""
        self._end_call(counter, now)
        self._end_pause(counter, now)
        self._busy.pop(counter, None)
        self._idle.discard(counter)
        self._paused[counter] = now
        self._paused_until.pop(counter, None)
        plan = self._plan.get(counter, [])
        while plan and plan[0][1] <= now:  # breaks that were never taken
            plan.pop(0)
        if planned and plan:
            # The earliest planned break is under way: it lasts as long as planned, from now.
            start, end = plan.pop(0)
            self._paused_until[counter] = now + (end - start)

    def plan_pause(self, counter: str, start: dt.datetime, end: dt.datetime) -> None:
        # Breaks that ended a day before this one are forgotten (a server runs for months).
        plan = [p for p in self._plan.get(counter, []) if p[1] > start - dt.timedelta(days=1)]
        self._plan[counter] = sorted([*plan, (start, end)])

    # --- estimating -------------------------------------------------------------------------------
    def estimate(self, ticket: Ticket, waiting: Iterable[Ticket], open_counters: Iterable[Counter],
                 now: dt.datetime) -> Estimate:
        waiting = [w for w in waiting if w.status is TicketStatus.WAITING]
        # A ticket being issued comes last (the common case: no scan for it).
        if (ticket.status is TicketStatus.WAITING and not (waiting and waiting[-1].id == ticket.id)
                and all(w.id != ticket.id for w in waiting)):
            waiting.append(ticket)
        counters = [c for c in open_counters if not c.back_office and c.weight_for(ticket.service) is not None]
        ahead = self._rate.people_ahead(ticket, waiting, now, counters)
        self._refresh(ticket.service, waiting)
        if not counters:
            return Estimate(ahead, None)
        for c in counters:
            self._counters[c.id] = c
        replay = self._replay(ticket, self._replay_counters(ticket, counters), now)
        if replay is None:
            return self._rate.estimate(ticket, waiting, counters, now)
        raw, sigma = replay
        self._raw.setdefault(ticket.id, raw)
        if ticket.appointment_at is not None:
            return Estimate(ahead, raw, self._upper(raw, raw, sigma, learned=False))
        wait = raw + self._cal.correction(raw)
        if self._cautious:
            wait = max(wait, raw + self._cal.quantile(raw, self._quantile) - self._tolerance)
        if self._margin_z is not None:
            wait = max(wait, raw + self._margin_z * sigma - self._tolerance)
        wait = max(0.0, wait)
        return Estimate(ahead, wait, self._upper(raw, wait, sigma))

    def _upper(self, raw: float, point: float, sigma: float, learned: bool = True) -> float | None:
        """The promise's upper bound: ``point`` plus the replay's own spread × ``bound_z`` or, if
        larger, the ``bound_q`` quantile of how much longer recent waits of that length turned out."""
        if self._bound_z is None:
            return None
        extra = self._bound_z * sigma
        if learned:
            extra = max(extra, raw + self._cal.quantile(raw, self._bound_q) - point)
        return point + max(extra, self._bound_floor + self._bound_rel * point)

    def replayed_calls(self, ticket: Ticket, open_counters: Iterable[Counter], now: dt.datetime) -> list[ReplayedCall]:
        """The calls the replay expects before ``ticket``'s, and its own last (none after ``max_steps``),
        over the queues as the predictor last saw them (:meth:`estimate`, :meth:`observe_queue`).

        What an estimate is made of, call by call: for explaining one, and for checking that the
        replay takes tickets in the order :func:`~server.core.scheduling.choose_next` would.
        """
        counters = [c for c in open_counters if not c.back_office and c.weight_for(ticket.service) is not None]
        calls: list[ReplayedCall] = []
        if counters:
            self._replay(ticket, self._replay_counters(ticket, counters), now, calls)
        return calls

    def _replay_counters(self, ticket: Ticket, counters: list[Counter]) -> list[Counter]:
        """The open ``counters`` serving ``ticket``'s service, then the paused ones that serve it:
        paused counters are not open, but they come back, and the replay counts them from then."""
        listed = {c.id for c in counters}
        back = [self._counters[k] for k in self._paused if k in self._counters and k not in listed
                and self._counters[k].weight_for(ticket.service) is not None]
        return [*counters, *back]

    def _row(self, t: Ticket) -> _WaitingRow:
        due = None if t.appointment_at is None else t.appointment_at.timestamp() - self._settings.call_window_s
        not_before = None if t.not_before is None else t.not_before.timestamp()
        since, issued, number = queue_key(t)
        return _WaitingRow(t, since, issued, class_weight(t, self._settings), due, number, t.service,
                           t.target_counter, not_before)

    def _forget(self, ticket_id: str) -> None:
        service = self._service_of.pop(ticket_id, None)
        if service is not None and (row := self._known.get(service, {}).pop(ticket_id, None)) is not None:
            self._patch(service, row, add=False)

    def _patch(self, service: str, row: _WaitingRow, *, add: bool) -> None:
        """Keep ``service``'s cached replay queues in step with one ticket arriving or leaving."""
        cached = self._queues.get(service)
        if cached is None:
            return
        if row.not_before is not None:  # postponed: callable from a time of its own; rebuild when needed
            del self._queues[service]
            return
        if not _place(*_queue_of(cached[1], row), add):  # not where it should be: trust nothing cached here
            del self._queues[service]

    def _refresh(self, service: str, waiting: list[Ticket]) -> None:
        """``waiting`` is the whole queue of ``service`` now: forget its tickets that left it."""
        old = self._known.get(service, {})
        if (len(waiting) == len(old) + 1 and waiting[-1].id not in old
                and all((row := old.get(w.id)) is not None and row.ticket is w for w in waiting[:-1])):
            # One new ticket at the end, the rest as before: the kiosk's case, without a rebuild.
            self._add_known(service, waiting[-1], self._known.setdefault(service, old))
            return
        fresh: dict[str, _WaitingRow] = {}
        changed = False
        for w in waiting:
            row = old.get(w.id)
            if row is None or row.ticket is not w:  # new, or changed since (frozen tickets: a new object)
                changed = True
                if row is not None:
                    self._patch(service, row, add=False)
                row = self._add_known(service, w, fresh)
            fresh[w.id] = row
        if len(fresh) != len(old) or changed:
            for tid in old.keys() - fresh.keys():
                self._patch(service, old[tid], add=False)
                if self._service_of.get(tid) == service:  # left the queue uncalled (cancelled, no-show)
                    del self._service_of[tid]
                    self._raw.pop(tid, None)
        self._known[service] = fresh

    def _add_known(self, service: str, ticket: Ticket, into: dict[str, _WaitingRow]) -> _WaitingRow:
        """``ticket`` (new or changed) joins ``service``'s known queue ``into``."""
        row = self._row(ticket)
        before = self._service_of.get(ticket.id)
        if (before is not None and before != service  # transferred here
                and (moved := self._known.get(before, {}).pop(ticket.id, None)) is not None):
            self._patch(before, moved, add=False)
        self._service_of[ticket.id] = service
        self._patch(service, row, add=True)
        into[ticket.id] = row
        return row

    def _service_queues(self, service: str, t0: float) -> _Queues:
        """``service``'s callable tickets at ``t0`` (absolute times), sorted as the replay takes them.

        Reserved per target counter and booked by due time (both copied by the caller, which pops
        them), walk-ins per (service, class weight) group by waiting since (shared, never changed).
        """
        cached = self._queues.get(service)
        if cached is not None and t0 < cached[0]:
            return cached[1]
        queues = _Queues({}, [], {}, [])
        valid_until = float("inf")  # the next postponed ticket to become callable
        for row in self._known.get(service, {}).values():
            not_before = row.not_before
            if not_before is not None and not_before > t0:
                valid_until = min(valid_until, not_before)
                queues.postponed.append((not_before, row.ticket.id, row))
                continue
            lst, entry = _queue_of(queues, row)
            lst.append(entry)
        for r_list in queues.reserved.values():
            r_list.sort()
        queues.booked.sort()
        for g_list in queues.walk_ins.values():
            g_list.sort()
        self._queues[service] = (valid_until, queues)
        return queues

    def _replay(self, ticket: Ticket, counters: list[Counter], now: dt.datetime,
                calls: list[ReplayedCall] | None = None) -> tuple[float, float] | None:
        """Seconds until the policy, replayed with mean visit times, calls ``ticket``, and their spread.

        The spread: the visits replayed before the ticket and those under way vary (each by its
        service's learned variance) and the counters share them, so their variances add up over
        the number of counters squared; an unannounced pause under way adds its own.
        ``calls``, when given, receives every call replayed, in order (see :meth:`replayed_calls`).
        """
        mine = self._known.get(ticket.service, {}).get(ticket.id)
        t0 = now.timestamp()
        if mine is None or (mine.not_before is not None and mine.not_before > t0):
            return None
        weights = [{s.id: s.weight for s in c.services} for c in counters]
        visit = {svc: self._per_call(svc) for w in weights for svc in w}
        visit_var = {svc: self.visit_var(svc) for svc in visit}
        # Reserved per counter, booked by due time, walk-ins per (service, class weight) group: inside
        # a group the longest wait always scores highest, so only group heads compete (see queue_key).
        # Reserved and booked times relative to now (copies, popped as called); the walk-in groups
        # keep absolute times (shared with the cache, never changed: a head index walks each).
        reserved: dict[str, list[_ReservedEntry]] = {}
        booked: list[_BookedEntry] = []
        grouped: dict[_GroupKey, list[_WalkInEntry]] = {}
        postponed: list[tuple[float, str, _WaitingRow]] = []  # (callable from, id, row), latest first
        for service in {s for w in weights for s in w}:
            service_queues = self._service_queues(service, t0)
            for target, lst in service_queues.reserved.items():
                reserved.setdefault(target, []).extend((since - t0, n, tid, svc) for since, n, tid, svc in lst)
            booked.extend((due - t0, n, tid, svc) for due, n, tid, svc in service_queues.booked)
            grouped.update(service_queues.walk_ins)
            postponed.extend((not_before - t0, tid, row) for not_before, tid, row in service_queues.postponed)
        for lst in reserved.values():
            lst.sort()
        booked.sort()
        if postponed:
            postponed.sort(reverse=True)
            for _, _, row in postponed:
                if row.target is None and row.due is None:
                    grouped.setdefault((row.service, row.class_weight), [])
        keys = list(grouped)
        queues = [grouped[k] for k in keys]
        lens = [len(q) for q in queues]
        heads = [0] * len(keys)
        by_service: dict[str, list[int]] = {}
        for g, (svc, _) in enumerate(keys):
            by_service.setdefault(svc, []).append(g)
        # per counter: the walk-in groups it serves, each as (group, service weight, class weight)
        relevant = [[(g, sw, keys[g][1]) for svc, sw in w.items() for g in by_service.get(svc, ())] for w in weights]
        my_group = my_rank = -1
        if mine.target is None and mine.due is None:
            my_group = keys.index((mine.service, mine.class_weight))
            my_rank = bisect.bisect_left(queues[my_group], mine.walk_in_entry)
        copied = [False] * len(keys)  # a walk-in group copied from the cache, to take a postponed ticket
        # Desks outside the replay (they do not serve this ticket's service) that take the other
        # services' tickets too: each such service's queue drains at their share of its rate.
        drain = self._outside_drain(ticket.service, counters, by_service) if self._shared_desks else []
        drained = [0] * len(drain)

        def release(row: _WaitingRow) -> None:
            """A postponed ticket becomes callable: it takes its place in the replay's queues."""
            nonlocal my_rank
            if row.target is not None:
                bisect.insort(reserved.setdefault(row.target, []), (row.since - t0, row.number, row.ticket.id, row.service))
            elif row.due is not None:
                bisect.insort(booked, (row.due - t0, row.number, row.ticket.id, row.service))
            else:
                g = keys.index((row.service, row.class_weight))
                if not copied[g]:
                    queues[g] = queues[g][:]
                    copied[g] = True
                entry = row.walk_in_entry
                bisect.insort(queues[g], entry, lo=heads[g])
                lens[g] += 1
                if g == my_group and entry < mine.walk_in_entry:
                    my_rank += 1
        heap: list[tuple[float, str, int]] = []
        # planned breaks still ahead, in seconds from now: a counter free after a break's start takes it
        plans: list[list[tuple[float, float]]] = []
        for i, c in enumerate(counters):
            heap.append((self._free_in(c, now), c.id, i))
            plans.append([((s - now).total_seconds(), (e - now).total_seconds())
                          for s, e in self._plan.get(c.id, ())
                          if e > now and (c.id not in self._paused or s > now)])
        heapq.heapify(heap)
        var = 0.0
        for c in counters:
            if c.id in self._paused and c.id not in self._paused_until:
                var += (self._pause_sd * self._pause_s) ** 2
            elif (busy := self._busy.get(c.id)) is not None:
                var += self.visit_var(busy[1])
        spread = len(counters) ** 2
        settings = self._settings
        linear = settings.preference_cap_s is None  # score = waited × class × service weight
        steps = 0
        own_calls = 0  # calls of the ticket's own service replayed so far
        at = 0.0
        while heap and steps < self._max_steps:
            steps += 1
            at, cid, i = heapq.heappop(heap)
            for d, (groups, rate) in enumerate(drain):
                upto = int(at * rate)
                while drained[d] < upto:
                    drained[d] += 1
                    oldest = -1  # the outside desks take the longest-waiting head of the service
                    for g in groups:
                        if heads[g] < lens[g] and (oldest < 0 or queues[g][heads[g]] < queues[oldest][heads[oldest]]):
                            oldest = g
                    if oldest < 0:
                        break
                    heads[oldest] += 1
            while postponed and postponed[-1][0] <= at:
                release(postponed.pop()[2])
            if plans[i] and plans[i][0][0] <= at:
                start, end = plans[i].pop(0)
                heapq.heappush(heap, (at + end - start, cid, i))  # the break starts when the visit ends
                continue
            pick: str | None = None
            service = ""
            mine_reserved = reserved.get(cid)
            if mine_reserved:
                _, _, pick, service = mine_reserved.pop(0)
            else:
                w = weights[i]
                bound = settings.walk_in_bound_s
                # the walk-in bound: no due booking while a walk-in here has waited that long (a
                # group's head has waited longest in its group)
                held = bound is not None and booked and booked[0][0] <= at and any(
                    heads[g] < lens[g] and at + t0 - queues[g][heads[g]][0] >= bound for g, _, _ in relevant[i])
                for k, (due, _, tid, svc) in enumerate(booked):
                    if due > at or held:
                        break
                    if svc in w:
                        pick, service = tid, svc
                        del booked[k]
                        break
                if pick is None:
                    # The highest score among the group heads; ties as choose_next breaks them: the
                    # earlier issue, then the smaller number, then the smaller id.
                    best_g = -1
                    best_score = 0.0
                    best: _WalkInEntry = _NO_ENTRY
                    clock = at + t0
                    for g, sw, cw in relevant[i]:
                        pos = heads[g]
                        if pos < lens[g]:
                            head = queues[g][pos]
                            waited = clock - head[0]  # (waiting since, issued, number, id)
                            sc = waited * cw * sw if linear else weighted_wait(waited, cw, sw, settings)
                            if best_g < 0 or sc > best_score or (sc == best_score and head[1:] < best[1:]):
                                best_g, best_score, best = g, sc, head
                    if best_g >= 0:
                        pick, service = best[3], keys[best_g][0]
                        heads[best_g] += 1
            if pick is None:
                # Nobody to call: the counter waits for the next booking it serves to fall due, or
                # the next postponed ticket it may call to become callable.
                w = weights[i]
                wake = min((b[0] for b in booked if b[3] in w), default=None)
                for callable_from, _, row in reversed(postponed):
                    if wake is not None and callable_from >= wake:
                        break
                    if row.target == cid or (row.target is None and row.service in w):
                        wake = callable_from
                        break
                if wake is not None and wake > at:
                    heapq.heappush(heap, (wake, cid, i))
                continue
            if calls is not None:
                calls.append(ReplayedCall(at, cid, pick))
            if pick == ticket.id:
                return max(0.0, at), (var / spread) ** 0.5
            var += visit_var[service]
            if service == ticket.service:
                own_calls += 1
            heapq.heappush(heap, (at + visit[service], cid, i))
        if my_group < 0 or steps < self._max_steps:
            return None
        # Too far back to replay call by call: the rest of its own group at the service's rate.
        left = my_rank - heads[my_group]
        capacity = sum(w[ticket.service] / (sum(w.values()) or 1.0) for w in weights if ticket.service in w)
        per_call = self._overhead + self._rate.mean_service_s(ticket.service)
        capacity = max(capacity, 1e-9)
        if own_calls >= 20 and at > 0:
            # The replay itself says how fast the service's tickets are being called: a desk that
            # prefers this service calls it more than its weight share while the others are short.
            capacity = max(capacity, own_calls * per_call / at)
        var += max(0, left) * self.visit_var(ticket.service) * len(counters) ** 2 / capacity ** 2
        return max(0.0, at) + max(0, left) * per_call / capacity, (var / spread) ** 0.5

    def _per_call(self, service: str) -> float:
        """Desk seconds per call of ``service``: the mean visit and the call overhead or, with
        ``learn_calls`` and enough calls seen, the learned time from a call to the desk's next."""
        if self._call_n.get(service, 0) >= 20:
            return self._call_s[service]
        return self._overhead + self._rate.mean_service_s(service)

    def _outside_drain(self, service: str, counters: list[Counter], by_service: Mapping[str, list[int]]
                       ) -> list[tuple[list[int], float]]:
        """For each other service in the replay, its walk-in groups and how many of its tickets per
        second the open desks outside the replay call (their weight share of it over its visit)."""
        inside = {c.id for c in counters}
        out: list[tuple[list[int], float]] = []
        for svc, groups in by_service.items():
            if svc == service:
                continue
            share = 0.0
            for c in self._counters.values():
                if c.id in inside or c.back_office or c.id in self._paused:
                    continue
                w = c.weight_for(svc)
                if w is not None:
                    share += w / (sum(x.weight for x in c.services) or 1.0)
            if share > 0:
                out.append((groups, share / self._per_call(svc)))
        return out

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


class PredictorFeed:
    """What an office tells its wait predictors as things happen, in one place.

    The simulator (:mod:`server.sim.engine`) and the server (:mod:`server.service`) both feed
    predictors through this, so a predictor learns the same way in the benchmark and in the
    product. Every hook but ``observe_service`` is optional on a predictor (v1 has none of them).
    """

    def __init__(self, predictors: Iterable[WaitPredictor]) -> None:
        self._predictors = list(predictors)

    def _hooks(self, name: str) -> list[Callable[..., None]]:
        return [h for p in self._predictors if (h := getattr(p, name, None)) is not None]

    def finished(self, service: str, duration_s: float) -> None:
        """A visit of ``service`` took ``duration_s`` at the counter."""
        for p in self._predictors:
            p.observe_service(service, duration_s)

    def called(self, ticket: Ticket, now: dt.datetime) -> None:
        """A counter called ``ticket`` (the ticket after the call, its ``counter`` set)."""
        for h in self._hooks("observe_call"):
            h(ticket, now)

    def idle(self, counter: str, now: dt.datetime) -> None:
        """The counter is free and has nobody to call (or has just finished and not called yet)."""
        for h in self._hooks("observe_idle"):
            h(counter, now)

    def paused(self, counter: str, now: dt.datetime, planned: bool = False) -> None:
        """The counter paused; ``planned``: the break announced with :meth:`planned_break`."""
        for h in self._hooks("observe_pause"):
            h(counter, now, planned=planned)

    def closed(self, counter: str, now: dt.datetime) -> None:
        """Nobody works at the counter any more (signed out)."""
        for h in self._hooks("observe_closed"):
            h(counter, now)

    def planned_break(self, counter: str, start: dt.datetime, end: dt.datetime) -> None:
        """The counter will not call between ``start`` and ``end`` (a lunch rota, the office's breaks)."""
        for h in self._hooks("plan_pause"):
            h(counter, start, end)

    def queue(self, service: str, waiting: Iterable[Ticket]) -> None:
        """The whole queue of ``service`` as it stands (after a restart)."""
        waiting = list(waiting)
        for h in self._hooks("observe_queue"):
            h(service, waiting)


def default_predictor(prior_mean_s: Mapping[str, float], settings: PolicySettings) -> WaitPredictor:
    """The predictor an office uses unless told otherwise: the replay with a one-spread margin
    (``margin_z=1``: fewer broken promises at almost no cost in accuracy, see docs/simulator.md)."""
    return ReplayPredictor(prior_mean_s, settings, bound_z=2.0, bound_q=0.97, shared_desks=True, learn_calls=True)
