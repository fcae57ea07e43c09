"""Randomised days: the core's policy never calls a ticket twice and never starves a class.

"Never starves" is checked two ways on every day hypothesis draws: everybody who waited is called
before the office's overtime ends, and every call chosen by score respects the starvation bound of
:func:`server.core.scheduling.starvation_bound` (nobody waiting at that desk has waited more than
``W`` times as long as the ticket called).
"""

from __future__ import annotations

import dataclasses
from collections import Counter

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cherga.server.core.scheduling import starvation_bound
from cherga.server.sim.engine import SimParams, SimResult, policy_settings, simulate
from cherga.server.sim.workload import Visitor
from cherga.server.siteconfig import SiteConfig
from tests.sim.conftest import office

OFFICE: SiteConfig = office(
    services=[{"id": "a", "prefix": "A", "mean_service_min": 5}, {"id": "b", "prefix": "B", "mean_service_min": 8},
              {"id": "c", "prefix": "C", "mean_service_min": 3}],
    counters=[{"id": "k1", "number": "1", "services": [{"id": "a", "weight": 2}, "b"]},
              {"id": "k2", "number": "2", "services": ["a", "c"]},
              {"id": "k3", "number": "3", "services": [{"id": "b", "weight": 3}, "c"]}],
    categories=[{"id": "veteran", "weight": 2}, {"id": "disability", "weight": 3}],
    start="08:00", end="12:00",
)


@st.composite
def visitors(draw: st.DrawFn) -> list[Visitor]:
    n = draw(st.integers(min_value=1, max_value=90))
    out = []
    for _ in range(n):
        arrival = draw(st.floats(min_value=0, max_value=4 * 3600 - 60, allow_nan=False))
        booked = draw(st.booleans()) and draw(st.booleans())
        slot = float(min(int(arrival // 900 + 1) * 900, 4 * 3600 - 900)) if booked else None
        out.append(Visitor(
            arrival_s=arrival if slot is None else max(0.0, slot - 300),
            service=draw(st.sampled_from(["a", "b", "c"])),
            purpose="consult",
            priority=draw(st.sampled_from([None, None, None, "veteran", "disability"])),
            appointment_s=slot,
            service_s=draw(st.floats(min_value=20, max_value=1500, allow_nan=False)),
            patience_s=draw(st.one_of(st.none(), st.floats(min_value=60, max_value=3600, allow_nan=False))),
        ))
    return sorted(out, key=lambda v: v.arrival_s)


def _episodes(result: SimResult) -> list[tuple[str, str, str | None, float, float]]:
    """(ticket, service, priority, queued at, called at) for every waiting spell that ended in a call."""
    return [(c.ticket_id, c.service, c.priority, c.queued_s, c.t) for c in result.calls]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(day=visitors(), seed=st.integers(min_value=0, max_value=2**16))
def test_no_ticket_is_called_twice_for_one_wait(day: list[Visitor], seed: int) -> None:
    result = simulate(OFFICE, day, params=SimParams(seed=seed, transfer_share=0.2))
    spells = Counter((c.ticket_id, c.queued_s) for c in result.calls)
    assert max(spells.values(), default=1) == 1
    per_ticket = Counter(c.ticket_id for c in result.calls)
    transferred = {v.ticket_id for v in result.visits if v.transferred}
    for tid, n in per_ticket.items():
        assert n <= (2 if tid in transferred else 1), f"{tid} called {n} times"


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(day=visitors(), seed=st.integers(min_value=0, max_value=2**16),
       cap=st.sampled_from([None, None, 300.0]))
def test_no_class_starves_under_the_core_policy(day: list[Visitor], seed: int, cap: float | None) -> None:
    pol = dataclasses.replace(policy_settings(OFFICE), preference_cap_s=cap)
    result = simulate(OFFICE, day, params=SimParams(seed=seed, overtime_s=24 * 3600), settings=pol)
    assert result.unserved_at_end == 0
    issued = [v for v in result.visits if v.issued_s is not None]
    assert all(v.called_s is not None or v.ghost_called_s is not None for v in issued)

    booked = {v.ticket_id for v in result.visits if v.booked}
    spells = [s for s in _episodes(result) if s[0] not in booked]
    for call in result.calls:
        if call.rule != "score":
            continue
        counter = OFFICE.counter(call.counter)
        bound = starvation_bound(counter, pol)
        served = {s.id for s in counter.services}
        x_wait = call.t - call.queued_s
        for tid, service, _prio, queued, called in spells:
            if tid != call.ticket_id and service in served and queued <= call.t < called:
                assert call.t - queued <= bound * x_wait + 1e-6, (call, tid)
