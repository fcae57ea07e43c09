"""Issue 20: walk-ins behind bookings. Due bookings go first, but never past the walk-in bound: no
walk-in waits ``walk_in_bound_s`` or longer while its counter calls booked visitors."""

from __future__ import annotations

import datetime as dt

from hypothesis import given, settings
from hypothesis import strategies as st

from cherga.server.core.scheduling import PolicySettings, choose_next
from cherga.server.core.tickets import Ticket
from cherga.server.siteconfig import Counter, CounterService

START = dt.datetime(2026, 11, 25, 8, 0, tzinfo=dt.UTC)
DESK = Counter(id="k1", number="1", services=[CounterService(id="a"), CounterService(id="b", weight=2.0)])


def _ticket(i: int, service: str, issued_s: int, appointment_s: int | None = None, priority: str | None = None) -> Ticket:
    return Ticket(id=f"t{i}", office="o", service=service, purpose="consult", prefix=service.upper(), number=i + 1,
                  day=START.date(), issued_at=START + dt.timedelta(seconds=issued_s), token=f"tok{i}",
                  priority=priority,
                  appointment_at=None if appointment_s is None else START + dt.timedelta(seconds=appointment_s))


def _run_day(tickets: list[Ticket], policy: PolicySettings, visit_s: int) -> list[tuple[int, Ticket, list[Ticket]]]:
    """One desk calls by ``choose_next`` whenever free; each visit lasts ``visit_s``. Returns each call
    as (seconds from the start, the ticket called, the walk-ins waiting at that moment)."""
    left = list(tickets)
    at, calls = 0, []
    while left and at < 24 * 3600:
        now = START + dt.timedelta(seconds=at)
        present = [t for t in left if t.issued_at <= now]
        decision = choose_next(DESK, present, now, policy)
        if decision is None:
            at += 60
            continue
        left.remove(decision.ticket)
        calls.append((at, decision.ticket, [t for t in present if t.appointment_at is None and t is not decision.ticket]))
        at += visit_s
    return calls


@settings(max_examples=200, deadline=None)
@given(bound_min=st.integers(5, 60), visit_min=st.integers(5, 30),
       arrivals=st.lists(st.tuples(st.integers(0, 240), st.booleans(), st.sampled_from(["a", "b"]),
                                   st.sampled_from([None, None, "disability"])), min_size=1, max_size=40))
def test_no_walk_in_waits_past_the_bound_behind_bookings(bound_min: int, visit_min: int,
                                                         arrivals: list[tuple[int, bool, str, str | None]]) -> None:
    tickets = [_ticket(i, service, 60 * minute, 60 * (minute + 5) if booked else None, None if booked else priority)
               for i, (minute, booked, service, priority) in enumerate(arrivals)]
    bound_s = 60.0 * bound_min
    policy = PolicySettings(class_weights={"disability": 3.0}, walk_in_bound_s=bound_s)
    calls = _run_day(tickets, policy, 60 * visit_min)
    assert len(calls) == len(tickets)  # everybody is called
    for at, called, walk_ins in calls:
        if called.appointment_at is not None:  # a booked visitor called: no walk-in had reached the bound
            now = START + dt.timedelta(seconds=at)
            assert all((now - w.waiting_since).total_seconds() < bound_s for w in walk_ins), (at, called.label)


def test_a_walk_in_at_a_one_desk_service_full_of_bookings_is_called_within_the_bound() -> None:
    """A desk booked every 15 minutes all day with 20-minute visits: before, the walk-in who came at
    08:00 waited until every booking was served (hours); with a 30-minute bound it is called by
    08:30 plus the visit under way, and the bookings still all get served."""
    bookings = [_ticket(i, "a", 60 * (15 * i - 10), 60 * 15 * i) for i in range(32)]
    walk_in = _ticket(99, "a", 60)
    for bound, most_min in ((None, 600), (1800.0, 30 + 20)):
        calls = _run_day([*bookings, walk_in], PolicySettings(class_weights={}, walk_in_bound_s=bound), 20 * 60)
        waited_min = (next(at for at, t, _ in calls if t is walk_in) - 60) / 60
        assert len(calls) == 33
        if bound is None:
            assert waited_min > 300  # the old rule: behind every booking
        else:
            assert waited_min <= most_min
