"""The ticket promises a range: the default predictor's point and its upper bound ("≈ 12, at most 25")."""

from __future__ import annotations

import datetime as dt
import statistics

from cherga.server.core.prediction import Estimate, ReplayPredictor, default_predictor
from cherga.server.core.scheduling import PolicySettings
from cherga.server.core.tickets import Ticket, call
from cherga.server.sim.shapes import SHAPES, shaped
from cherga.server.sim.workload import demand_beside
from cherga.server.siteconfig import Counter, load_site_config
from tests.conftest import EXAMPLES
from tests.sim.conftest import office

T0 = dt.datetime(2017, 3, 14, 9, 0, tzinfo=dt.UTC)
SETTINGS = PolicySettings(class_weights={})


def _ticket(n: int, at: dt.datetime, service: str = "s") -> Ticket:
    return Ticket(id=f"t{n}", office="test", service=service, purpose="consult", prefix="A", number=n,
                  day=at.date(), issued_at=at, token=f"t{n}", queued_at=at)


def _busy_office(desks: int) -> tuple[ReplayPredictor, list[Ticket], Ticket, list[Counter]]:
    cfg = office([{"id": "s", "prefix": "A", "mean_service_min": 10}],
                 [{"id": f"k{i}", "number": str(i), "services": ["s"]} for i in range(desks)])
    p = default_predictor({"s": 600.0}, SETTINGS)
    assert isinstance(p, ReplayPredictor)
    for i in range(desks):
        p.observe_call(call(_ticket(900 + i, T0), counter=f"k{i}", now=T0), T0)
    ahead = [_ticket(i, T0 + dt.timedelta(seconds=i)) for i in range(1, 6)]
    mine = _ticket(6, T0 + dt.timedelta(seconds=10))
    return p, ahead, mine, cfg.counters


def test_the_default_estimate_gives_a_point_and_a_larger_upper_bound() -> None:
    p, ahead, mine, counters = _busy_office(1)
    est = p.estimate(mine, [*ahead, mine], counters, T0 + dt.timedelta(seconds=10))
    assert est.wait_s is not None and est.wait_max_s is not None
    # Five ahead on one desk of 10-minute visits: about an hour, and the bound is a real margin above it.
    assert 50 * 60 < est.wait_s < 70 * 60
    assert est.wait_max_s >= est.wait_s + 5 * 60
    assert est.wait_max_min is not None and est.wait_min is not None and est.wait_max_min > est.wait_min


def test_the_bound_is_wider_on_one_desk_than_on_many() -> None:
    p1, ahead1, mine1, c1 = _busy_office(1)
    p5, ahead5, mine5, c5 = _busy_office(5)
    now = T0 + dt.timedelta(seconds=10)
    one = p1.estimate(mine1, [*ahead1, mine1], c1, now)
    five = p5.estimate(mine5, [*ahead5, mine5], c5, now)
    assert one.wait_max_s is not None and five.wait_max_s is not None and one.wait_s and five.wait_s is not None
    assert one.wait_max_s - one.wait_s > five.wait_max_s - five.wait_s


def test_an_estimate_without_a_bound_has_no_upper_minutes() -> None:
    assert Estimate(3, 600.0).wait_max_min is None
    assert Estimate(3, None, 900.0).wait_max_min is None
    # Rounded up, never below the point: "≈ 10 min, at most 11", not "at most 10" for 10.2 min.
    assert Estimate(3, 600.0, 612.0).wait_max_min == 11


def test_every_shape_keeps_the_day_volume_and_bends_what_it_says() -> None:
    cfg = load_site_config(EXAMPLES / "kryvyi-rih.yaml")
    demand = demand_beside(EXAMPLES / "kryvyi-rih.yaml")
    days = {sh: shaped(cfg, demand, sh, seed=3, load=1.0) for sh in SHAPES}
    sizes = [len(d) for d in days.values()]
    assert max(sizes) < 1.15 * min(sizes)
    surge = days["surge"]
    assert sum(v.arrival_s < 3600 for v in surge) / len(surge) > 0.28
    heavy = days["heavy_tail"]
    assert sum(v.service_s >= 3600 for v in heavy) / len(heavy) > 0.02
    booked = days["booked_half"]
    assert 0.42 < sum(v.appointment_s is not None for v in booked) / len(booked) < 0.58
    skewed = days["skewed"]
    top = statistics.mode(v.service for v in skewed)
    assert sum(v.service == top for v in skewed) / len(skewed) > 0.55


def test_a_secondary_service_is_not_told_to_wait_for_a_queue_other_desks_also_take() -> None:
    """Two desks serve consultations and certificates; ten more serve certificates alone. A
    consultation behind 20 certificate tickets waits for what the two desks leave of that queue,
    not for the whole of it."""
    cfg = office([{"id": "consult", "prefix": "K", "mean_service_min": 10},
                  {"id": "cert", "prefix": "C", "mean_service_min": 10}],
                 [{"id": "k0", "number": "0", "services": ["cert", "consult"]},
                  {"id": "k1", "number": "1", "services": ["cert", "consult"]},
                  *({"id": f"c{i}", "number": str(10 + i), "services": ["cert"]} for i in range(10))])
    prior = {"consult": 600.0, "cert": 600.0}
    certs = [_ticket(i, T0 - dt.timedelta(minutes=30) + dt.timedelta(seconds=i), service="cert") for i in range(20)]
    mine = _ticket(100, T0, service="consult")
    told = {}
    for shared in (False, True):
        p = ReplayPredictor(prior, SETTINGS, shared_desks=shared)
        for c in cfg.counters:
            p.observe_idle(c.id, T0)
        # as the server does: each estimate gets its own service's queue and the desks serving it
        p.estimate(_ticket(200, T0, service="cert"), certs, cfg.counters, T0)
        est = p.estimate(mine, [mine], [c for c in cfg.counters if c.id in ("k0", "k1")], T0)
        assert est.wait_s is not None
        told[shared] = est.wait_s
    # alone, the two desks would take all 20 certificates first (~100 min); with ten more desks
    # taking them too, the queue is gone in under 20 minutes
    assert told[False] > 80 * 60
    assert told[True] < 25 * 60


def test_visitors_ahead_who_walked_out_shorten_the_wait_told() -> None:
    """On a desk where the last 30 calls each took 3 minutes (no-shows after recalls) instead of
    10-minute visits, the replay learns it when it learns from calls."""
    cfg = office([{"id": "s", "prefix": "A", "mean_service_min": 10}], [{"id": "k0", "number": "0", "services": ["s"]}])
    told = {}
    for learn in (False, True):
        p = ReplayPredictor({"s": 600.0}, SETTINGS, learn_calls=learn)
        now = T0
        for i in range(30):
            p.observe_call(call(_ticket(500 + i, now), counter="k0", now=now), now)
            now += dt.timedelta(minutes=3)
        ahead = [_ticket(i, now) for i in range(1, 6)]
        mine = _ticket(6, now + dt.timedelta(seconds=1))
        est = p.estimate(mine, [*ahead, mine], cfg.counters, now + dt.timedelta(seconds=1))
        assert est.wait_s is not None
        told[learn] = est.wait_s
    assert told[False] > 45 * 60
    assert told[True] < 25 * 60
