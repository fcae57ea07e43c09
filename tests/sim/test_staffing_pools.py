"""Staffing advice per desk pool: services that share desks are short together, not one by one."""

from __future__ import annotations

import random

from cherga.server.core.pools import candidate_pools, components, pool_advice
from cherga.server.sim.engine import SimParams, simulate
from cherga.server.sim.metrics import quality, staffed_up_pools, staffing
from cherga.server.sim.workload import Visitor
from cherga.server.siteconfig import SiteConfig
from tests.sim.conftest import office

SERVICES = ("a", "b", "c", "d")


def _shared_office() -> SiteConfig:
    """Four services on six desks that each serve all four: each service alone fits, together they do not."""
    return office(services=[{"id": s, "prefix": s.upper(), "mean_service_min": 10} for s in SERVICES],
                  counters=[{"id": f"k{i}", "number": str(i), "services": list(SERVICES)} for i in range(1, 7)],
                  start="08:00", end="14:00")


def _day(seed: int = 3, per_hour: float = 11.0, hours: int = 5) -> list[Visitor]:
    rng = random.Random(seed)
    out = []
    for service in SERVICES:
        t = rng.expovariate(per_hour / 3600)
        while t < hours * 3600:
            out.append(Visitor(arrival_s=t, service=service, purpose="x", priority=None, appointment_s=None,
                               service_s=rng.expovariate(1 / 600), patience_s=None))
            t += rng.expovariate(per_hour / 3600)
    return sorted(out, key=lambda v: v.arrival_s)


def test_a_pool_of_services_sharing_desks_is_flagged_and_the_replay_with_its_desks_meets_the_target() -> None:
    cfg, day = _shared_office(), _day()
    result = simulate(cfg, day, params=SimParams(seed=1))
    assert quality(result)["within_15_min"] < 0.8  # the hall manager sees long waits ...
    staff = staffing(day, result, cfg)
    assert staff["short_services"] == {}  # ... which the per-service advice never flagged
    pools = staff["short_pools"]
    assert isinstance(pools, list)
    (pool,) = pools
    assert pool["services"] == list(SERVICES) and pool["desks"] == 6
    assert pool["add"] == pool["needed"] - 6 >= 2
    assert staff["extra_desks_for_short_pools"] == pool["add"]
    bigger = staffed_up_pools(cfg, pools)
    added = [c for c in bigger.counters if c.id not in {k.id for k in cfg.counters}]
    assert len(added) == pool["add"] and all([s.id for s in c.services] == list(SERVICES) for c in added)
    assert quality(simulate(bigger, day, params=SimParams(seed=1)))["within_15_min"] >= 0.95


def test_a_block_linked_to_the_rest_by_one_desk_is_still_checked_on_its_own_desks() -> None:
    """Three residence services on 4 shared desks, social on 10, one consult desk serving a residence
    service and social. Each residence service alone fits on its desks and the whole component (15
    desks) fits the combined load, but only 5 desks can take residence visitors, which need 8."""
    res = ["reg", "dereg", "cert"]
    desks = {f"r{i}": res for i in range(4)} | {f"s{i}": ["soc"] for i in range(10)} | {"c": ["cert", "soc"]}
    assert components(desks) == [("cert", "dereg", "reg", "soc")]
    assert frozenset(res) in candidate_pools(desks)
    arrivals = {9: {"reg": 12.0, "dereg": 12.0, "cert": 12.0, "soc": 6.0}, 10: {"reg": 3.0}}
    (advice,) = pool_advice(desks, arrivals, dict.fromkeys([*res, "soc"], 600.0))
    assert advice.services == ("cert", "dereg", "reg") and advice.desks == 5
    assert advice.needed == 8 and advice.add == 3 and advice.peak_hour == 9
    assert advice.arrivals_per_h == 36.0


def test_no_advice_when_every_pool_fits() -> None:
    desks = {"k1": ["a", "b"], "k2": ["a", "b"], "k3": ["c"]}
    assert pool_advice(desks, {8: {"a": 2.0, "b": 2.0, "c": 1.0}}, {"a": 300.0, "b": 300.0, "c": 300.0}) == []
