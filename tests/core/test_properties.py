"""Properties of the pure core, checked with hypothesis over many generated queues."""

from __future__ import annotations

import collections
import datetime as dt
from collections.abc import Callable

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cherga.server.core import tickets as core
from cherga.server.core.numbering import NumbersExhausted, next_number
from cherga.server.core.scheduling import PolicySettings, choose_next, starvation_bound
from cherga.server.core.tickets import IllegalTransition, Ticket, TicketStatus
from cherga.server.siteconfig import Counter, CounterService, NumberRange
from cherga.server.store import TicketRecord
from cherga.server.view import WaitingView

T0 = dt.datetime(2026, 11, 25, 8, 0, tzinfo=dt.UTC)
SERVICES = ("a", "b", "c")
CLASSES = {"disability": 3.0, "veteran": 2.0}
SETTINGS = PolicySettings(class_weights=CLASSES, call_window_s=300)
FAST = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _ticket(i: int, service: str, at: dt.datetime, priority: str | None = None, **kw: object) -> Ticket:
    return Ticket(id=f"t{i}", office="o", service=service, purpose="consult", prefix=service.upper(), number=i + 1,
                  day=at.date(), issued_at=at, token=f"tok{i}", priority=priority, **kw)  # type: ignore[arg-type]


waiting_tickets = st.lists(
    st.tuples(st.sampled_from(SERVICES), st.integers(0, 7200), st.sampled_from([None, None, "disability", "veteran"])),
    min_size=1, max_size=40,
)
counter_weights = st.dictionaries(st.sampled_from(SERVICES), st.floats(0.5, 5.0), min_size=1, max_size=3)


def _counter(weights: dict[str, float]) -> Counter:
    return Counter(id="k1", number="1", services=[CounterService(id=s, weight=w) for s, w in weights.items()])


@FAST
@given(waiting_tickets, counter_weights, st.integers(0, 3600))
def test_no_ticket_waits_longer_than_the_stated_bound_times_the_wait_of_the_one_called(
        specs: list[tuple[str, int, str | None]], weights: dict[str, float], later: int) -> None:
    now = T0 + dt.timedelta(seconds=7200 + later)
    waiting = [_ticket(i, s, T0 + dt.timedelta(seconds=off), p) for i, (s, off, p) in enumerate(specs)]
    counter = _counter(weights)
    decision = choose_next(counter, waiting, now, SETTINGS)
    servable = [t for t in waiting if counter.weight_for(t.service) is not None]
    if not servable:
        assert decision is None
        return
    assert decision is not None and decision.rule == "score"
    bound = starvation_bound(counter, SETTINGS)
    chosen_wait = (now - decision.ticket.waiting_since).total_seconds()
    for other in servable:
        assert (now - other.waiting_since).total_seconds() <= bound * chosen_wait + 1e-6


@FAST
@given(waiting_tickets, counter_weights, st.lists(st.integers(0, 39), max_size=8), st.integers(0, 600))
def test_the_view_shortlist_gives_the_core_the_same_decision_as_the_whole_queue(
        specs: list[tuple[str, int, str | None]], weights: dict[str, float], postponed: list[int], later: int) -> None:
    now = T0 + dt.timedelta(seconds=7200 + later)
    waiting = []
    for i, (s, off, p) in enumerate(specs):
        t = _ticket(i, s, T0 + dt.timedelta(seconds=off), p)
        if i in postponed:  # some are postponed, a few not yet due
            t = _ticket(i, s, T0 + dt.timedelta(seconds=off), p, not_before=now + dt.timedelta(seconds=30 - 60 * (i % 2)))
        waiting.append(t)
    view = WaitingView()
    for t in waiting:
        view.put(TicketRecord(t, t.service))
    counter = _counter(weights)
    full = choose_next(counter, waiting, now, SETTINGS)
    short = choose_next(counter, view.candidates(counter, now), now, SETTINGS)
    assert (full.ticket.id if full else None) == (short.ticket.id if short else None)


@FAST
@given(st.lists(st.tuples(st.sampled_from(SERVICES), st.integers(0, 2)), min_size=1, max_size=300))
def test_numbers_are_unique_per_service_and_day_and_stay_in_range(draws: list[tuple[str, int]]) -> None:
    rng = NumberRange(first=1, last=120)
    last: dict[tuple[str, int], int | None] = {}
    seen: set[tuple[str, int, int]] = set()
    for service, day in draws:
        try:
            n = next_number(last.get((service, day)), rng, service)
        except NumbersExhausted:
            assert last[(service, day)] == rng.last
            continue
        assert rng.first <= n <= rng.last
        assert (service, day, n) not in seen
        seen.add((service, day, n))
        last[(service, day)] = n


@FAST
@given(st.lists(st.tuples(st.sampled_from(SERVICES), st.integers(0, 60)), min_size=1, max_size=60),
       st.lists(st.sampled_from(["next", "finish", "postpone"]), min_size=1, max_size=120))
def test_a_counter_never_calls_a_ticket_that_is_not_waiting(arrivals: list[tuple[str, int]], presses: list[str]) -> None:
    counter = _counter(dict.fromkeys(SERVICES, 1.0))
    queue = {f"t{i}": _ticket(i, s, T0 + dt.timedelta(seconds=off)) for i, (s, off) in enumerate(arrivals)}
    now = T0 + dt.timedelta(seconds=100)
    current: str | None = None
    calls: list[str] = []
    postponements: collections.Counter[str] = collections.Counter()
    for press in presses:
        now += dt.timedelta(seconds=5)
        if press == "next":
            if current:
                queue[current] = core.finish(queue[current], now=now)
            d = choose_next(counter, queue.values(), now, SETTINGS)
            current = None
            if d:
                assert queue[d.ticket.id].status is TicketStatus.WAITING
                queue[d.ticket.id] = core.call(d.ticket, counter="k1", now=now)
                current = d.ticket.id
                calls.append(d.ticket.id)
        elif press == "finish" and current:
            queue[current] = core.finish(queue[current], now=now)
            current = None
        elif press == "postpone" and current:
            queue[current] = core.postpone(queue[current], now=now, delay=dt.timedelta(seconds=10))
            postponements[current] += 1
            current = None
    # Each visit is called once per time it queued: once, plus once per postponement.
    requeued = collections.Counter(tid for tid, n in postponements.items() for _ in range(n))
    for tid, n in collections.Counter(calls).items():
        assert n <= 1 + requeued[tid], f"{tid} called {n} times"


ACTIONS: dict[str, Callable[[Ticket], Ticket]] = {
    "call": lambda t: core.call(t, counter="k1", now=T0),
    "recall": lambda t: core.recall(t, now=T0),
    "start": lambda t: core.start(t, now=T0),
    "finish": lambda t: core.finish(t, now=T0),
    "no_show": lambda t: core.no_show(t, now=T0),
    "cancel": lambda t: core.cancel(t, now=T0),
    "postpone": lambda t: core.postpone(t, now=T0, delay=dt.timedelta(seconds=60)),
    "transfer": lambda t: core.transfer(t, now=T0, to_service="b"),
}
LEGAL = {
    "call": {TicketStatus.WAITING}, "recall": {TicketStatus.CALLED}, "start": {TicketStatus.CALLED},
    "finish": {TicketStatus.CALLED, TicketStatus.SERVING}, "no_show": {TicketStatus.CALLED},
    "cancel": {TicketStatus.WAITING, TicketStatus.CALLED},
    "postpone": {TicketStatus.CALLED, TicketStatus.SERVING}, "transfer": {TicketStatus.CALLED, TicketStatus.SERVING},
}


@settings(max_examples=200, deadline=None)
@given(st.sampled_from(list(TicketStatus)), st.sampled_from(sorted(ACTIONS)))
def test_illegal_transitions_raise_a_typed_error_with_a_reason(status: TicketStatus, action: str) -> None:
    ticket = _ticket(0, "a", T0, status=status, counter="k1")
    if status in LEGAL[action]:
        ACTIONS[action](ticket)
    else:
        with pytest.raises(IllegalTransition) as exc:
            ACTIONS[action](ticket)
        assert exc.value.reason == "illegal_transition" and ticket.label in exc.value.message
