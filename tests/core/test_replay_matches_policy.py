"""The wait predictor's replay takes tickets in the order the scheduling policy would.

:class:`~cherga.server.core.prediction.ReplayPredictor` keeps its own fast copy of
:func:`~cherga.server.core.scheduling.choose_next` (group heads instead of every waiting ticket).
Here hypothesis draws queues — services, priority classes, booked visitors due and not yet due,
tickets reserved for a counter (transfers, returns), postponed tickets, counters serving different
services with different weights, some of them busy, with and without the walk-in bound — and checks the replay's calls against the
policy driven forward in time with the same visit lengths.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import heapq
import math

from hypothesis import HealthCheck, given, note, settings
from hypothesis import strategies as st

from cherga.server.core.prediction import ReplayedCall, ReplayPredictor
from cherga.server.core.scheduling import PolicySettings, choose_next
from cherga.server.core.tickets import Ticket, TicketStatus
from cherga.server.siteconfig import Counter, CounterService

NOW = dt.datetime(2026, 11, 25, 11, 0, tzinfo=dt.UTC)
SERVICES = ("a", "b", "c")
MEAN_VISIT_S = {"a": 300.0, "b": 480.0, "c": 180.0}  # whole seconds: replayed clocks stay exact
CLASSES = {"disability": 3.0, "veteran": 2.0}
COUNTER_IDS = ("k1", "k2", "k3")
EXAMPLES = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@dataclasses.dataclass(frozen=True)
class Office:
    counters: list[Counter]
    busy_for_s: dict[str, float]  # counter -> seconds until it calls next (0: idle now)
    busy_with: dict[str, str]  # busy counter -> the service of its visit under way
    waiting: list[Ticket]
    policy: PolicySettings


@st.composite
def offices(draw: st.DrawFn) -> Office:
    weight = st.sampled_from([0.5, 1.0, 1.0, 2.0, 3.0])
    counters = []
    for cid in COUNTER_IDS[:draw(st.integers(1, len(COUNTER_IDS)))]:
        served = draw(st.lists(st.sampled_from(SERVICES), min_size=1, max_size=3, unique=True))
        counters.append(Counter(id=cid, number=cid[1:],
                                services=[CounterService(id=s, weight=draw(weight)) for s in served]))
    busy_for_s: dict[str, float] = {}
    busy_with: dict[str, str] = {}
    for c in counters:
        service = c.services[0].id
        # busy for at most 60 % of the mean visit: the predictor then expects the rest of the mean
        elapsed = draw(st.one_of(st.none(), st.integers(0, int(0.6 * MEAN_VISIT_S[service]))))
        if elapsed is None:
            busy_for_s[c.id] = 0.0
        else:
            busy_for_s[c.id] = MEAN_VISIT_S[service] - elapsed
            busy_with[c.id] = service
    numbers = dict.fromkeys(SERVICES, 0)  # numbers run per service, so they repeat across services
    waiting = []
    for i in range(draw(st.integers(1, 25))):
        service = draw(st.sampled_from(SERVICES))
        numbers[service] += 1
        issued = NOW - dt.timedelta(seconds=60 * draw(st.integers(1, 20)))  # minutes: ties happen
        queued = min(NOW, issued + dt.timedelta(seconds=60 * draw(st.sampled_from([0, 0, 5, 10]))))  # transferred
        kind = draw(st.sampled_from(["walk-in", "walk-in", "walk-in", "booked", "reserved", "postponed"]))
        servers = [c.id for c in counters if c.weight_for(service) is not None]
        appointment = target = not_before = None
        if kind == "booked":  # due, or not yet, or due later in the replay
            appointment = NOW + dt.timedelta(seconds=60 * draw(st.integers(-20, 40)))
        elif kind == "reserved" and servers:  # transferred to a counter, or back to it after a transfer
            target = draw(st.sampled_from(servers))
        elif kind == "postponed":  # callable again now, or later; some keep their counter
            not_before = NOW + dt.timedelta(seconds=60 * draw(st.integers(-10, 30)))
            keeps_counter = draw(st.booleans())
            if keeps_counter and servers:
                target = draw(st.sampled_from(servers))
        waiting.append(Ticket(
            id=f"t{i}", office="o", service=service, purpose="consult", prefix=service.upper(),
            number=numbers[service], day=NOW.date(), issued_at=issued, token=f"tok{i}",
            priority=draw(st.sampled_from([None, None, None, "veteran", "disability", "unlisted"])),
            appointment_at=appointment, queued_at=queued, target_counter=target, not_before=not_before))
    policy = PolicySettings(class_weights=CLASSES, call_window_s=300,
                            preference_cap_s=draw(st.sampled_from([None, None, 600.0])),
                            # the walk-in bound: walk-ins waited 1-20 min and wait on in the replay
                            walk_in_bound_s=draw(st.sampled_from([None, 600.0, 1200.0])))
    return Office(counters, busy_for_s, busy_with, waiting, policy)


def _describe(office: Office) -> str:
    """The drawn office in a few lines, for a failing example."""
    lines = [f"cap {office.policy.preference_cap_s} walk-in bound {office.policy.walk_in_bound_s}"]
    lines += [f"{c.id} free in {office.busy_for_s[c.id]:g}s serves {[(s.id, s.weight) for s in c.services]}"
              for c in office.counters]
    for t in office.waiting:
        lines.append(f"{t.id} {t.label} {t.priority} issued {t.issued_at:%H:%M} queued {t.waiting_since:%H:%M}"
                     f" appointment {t.appointment_at and f'{t.appointment_at:%H:%M}'} target {t.target_counter}"
                     f" not_before {t.not_before and f'{t.not_before:%H:%M}'}")
    return "\n".join(lines)


def _predictor(office: Office) -> ReplayPredictor:
    """A replay predictor that knows the office as it stands: its queues and which counter is busy."""
    predictor = ReplayPredictor(MEAN_VISIT_S, office.policy, call_overhead_s=0.0, max_steps=10_000)
    for service in SERVICES:
        predictor.observe_queue(service, [t for t in office.waiting if t.service == service])
    for c in office.counters:
        if c.id in office.busy_with:
            elapsed = MEAN_VISIT_S[office.busy_with[c.id]] - office.busy_for_s[c.id]
            visit = Ticket(id=f"visit-{c.id}", office="o", service=office.busy_with[c.id], purpose="consult",
                           prefix="V", number=1, day=NOW.date(), issued_at=NOW, token="v",
                           status=TicketStatus.CALLED, counter=c.id)
            predictor.observe_call(visit, NOW - dt.timedelta(seconds=elapsed))
        else:
            predictor.observe_idle(c.id, NOW)
    return predictor


def _callable_from_s(ticket: Ticket, counter: Counter, window: dt.timedelta) -> float:
    """Seconds from now until ``counter`` may call ``ticket`` (-inf: now; inf: never)."""
    if ticket.target_counter is not None:
        if ticket.target_counter != counter.id:
            return math.inf
        due = None  # reserved: called before any booking, due or not
    elif counter.weight_for(ticket.service) is None:
        return math.inf
    else:
        due = None if ticket.appointment_at is None else ticket.appointment_at - window
    times = [(t - NOW).total_seconds() for t in (ticket.not_before, due) if t is not None]
    return max(times, default=-math.inf)


def _policy_calls(office: Office, counters: list[Counter], until: str) -> list[ReplayedCall]:
    """``choose_next`` driven forward in time: each counter, when free, calls the policy's choice,
    and is busy for the service's mean visit; with nobody to call it waits for the next ticket it
    may call to become callable (a booking falling due, a postponed ticket's time come). Stops
    once ``until`` is called."""
    window = dt.timedelta(seconds=office.policy.call_window_s)
    left = list(office.waiting)
    free = [(office.busy_for_s[c.id], c.id, i) for i, c in enumerate(counters)]
    heapq.heapify(free)
    calls: list[ReplayedCall] = []
    while free:
        at, cid, i = heapq.heappop(free)
        now = NOW + dt.timedelta(seconds=at)
        decision = choose_next(counters[i], left, now, office.policy)
        if decision is None:
            if (later := [s for t in left if at < (s := _callable_from_s(t, counters[i], window)) < math.inf]):
                heapq.heappush(free, (min(later), cid, i))
            continue
        left.remove(decision.ticket)
        calls.append(ReplayedCall(at, cid, decision.ticket.id))
        if decision.ticket.id == until:
            break
        heapq.heappush(free, (at + MEAN_VISIT_S[decision.ticket.service], cid, i))
    return calls


def _callable_now(ticket: Ticket) -> bool:
    return ticket.not_before is None or ticket.not_before <= NOW


@EXAMPLES
@given(offices(), st.data())
def test_the_replay_calls_tickets_in_the_order_the_policy_would(office: Office, data: st.DataObject) -> None:
    if data.draw(st.booleans(), label="estimate a booking at the end of the day"):
        # Every ticket its counters may call comes first: the replay runs their queues dry, idle
        # counters waiting for postponed tickets and bookings.
        service = data.draw(st.sampled_from(sorted({s.id for c in office.counters for s in c.services})))
        last = Ticket(id="last", office="o", service=service, purpose="consult", prefix=service.upper(), number=999,
                      day=NOW.date(), issued_at=NOW, token="last", appointment_at=NOW + dt.timedelta(hours=8))
        office = dataclasses.replace(office, waiting=[*office.waiting, last])
        estimated = last
    else:
        estimated = data.draw(st.sampled_from([t for t in office.waiting if _callable_now(t)] or office.waiting))
    note(_describe(office))
    counters = [c for c in office.counters if c.weight_for(estimated.service) is not None]
    replayed = _predictor(office).replayed_calls(estimated, office.counters, NOW)
    if not _callable_now(estimated) or not counters:
        assert replayed == []  # no replay: a postponed ticket, or nobody serves it
        return
    assert replayed == _policy_calls(office, counters, until=estimated.id)


@EXAMPLES
@given(offices(), st.data())
def test_the_replays_first_call_at_an_idle_counter_is_choose_next(office: Office, data: st.DataObject) -> None:
    note(_describe(office))
    counter = data.draw(st.sampled_from(office.counters))
    idle = dataclasses.replace(office, busy_for_s=dict.fromkeys(office.busy_for_s, 0.0), busy_with={})
    served = [t for t in office.waiting if counter.weight_for(t.service) is not None and _callable_now(t)]
    estimated = data.draw(st.sampled_from(served)) if served else None
    decision = choose_next(counter, office.waiting, NOW, office.policy)
    if estimated is None:
        assert decision is None
        return
    replayed = _predictor(idle).replayed_calls(estimated, [counter], NOW)
    first = replayed[0].ticket if replayed and replayed[0].after_s == 0 else None  # later: nobody to call now
    assert first == (decision.ticket.id if decision else None)


def _walk_in(n: int, service: str, issued_min_ago: int, queued_min_ago: int) -> Ticket:
    return Ticket(id=f"t{n}", office="o", service=service, purpose="consult", prefix=service.upper(), number=1,
                  day=NOW.date(), issued_at=NOW - dt.timedelta(minutes=issued_min_ago), token=f"tok{n}",
                  queued_at=NOW - dt.timedelta(minutes=queued_min_ago))


def test_equal_scores_go_to_the_earlier_issue_in_the_replay_as_in_the_policy() -> None:
    """A transferred ticket issued 60 min ago, queued here 10 min ago at a ×2 service, scores what a
    ticket of 20 min at a ×1 service scores: the policy calls the one issued first."""
    counter = Counter(id="k1", number="1", services=[CounterService(id="a", weight=2.0), CounterService(id="b")])
    transferred, fresh = _walk_in(0, "a", issued_min_ago=60, queued_min_ago=10), _walk_in(1, "b", 20, 20)
    office = Office([counter], {"k1": 0.0}, {}, [fresh, transferred], PolicySettings(class_weights=CLASSES))
    decision = choose_next(counter, office.waiting, NOW, office.policy)
    assert decision is not None and decision.ticket is transferred
    assert _predictor(office).replayed_calls(fresh, [counter], NOW) == _policy_calls(office, [counter], until=fresh.id)
