"""The simulator against queueing theory, its determinism, and the office behaviours it models."""

from __future__ import annotations

import math
import random
import time
from collections.abc import Callable

import pytest

from cherga.server.core.erlang import mean_wait_s
from cherga.server.core.prediction import ServiceRatePredictor, WaitPredictor, default_predictor
from cherga.server.sim.baselines import AheadTimesMean, HistoricalMeanWait, LastServedWait
from cherga.server.sim.engine import SimParams, policy_settings, simulate
from cherga.server.sim.metrics import quality
from cherga.server.sim.workload import Visitor, demand_beside, generate
from cherga.server.siteconfig import SiteConfig, load_site_config
from tests.conftest import EXAMPLES
from tests.sim.conftest import office

# The hall stripped to a textbook queue: no kiosk, no walking, nobody absent, no transfers or breaks.
BARE = SimParams(kiosk_s=0.0, walk_s=(0.0, 0.0), absent_share=0.0, transfer_share=0.0, breaks=False)


def _poisson_day(rng: random.Random, rate_per_s: float, mean_s: float, horizon_s: float) -> list[Visitor]:
    out: list[Visitor] = []
    t = 0.0
    while True:
        t += rng.expovariate(rate_per_s)
        if t >= horizon_s:
            return out
        # Three services on identical desks: a day may issue up to 3 × 699 walk-in numbers.
        out.append(Visitor(t, f"s{len(out) % 3}", "consult", None, None, rng.expovariate(1 / mean_s), None))


@pytest.mark.parametrize(("c", "rho"), [(1, 0.5), (3, 0.6)])
def test_mean_wait_of_an_mmc_queue_matches_erlang_c(c: int, rho: float) -> None:
    """GIVEN c identical desks, Poisson arrivals and exponential visits WHEN many days are simulated
    THEN the mean wait is the closed-form M/M/c (Erlang C) mean wait within a few percent."""
    cfg = office([{"id": f"s{i}", "prefix": "ABC"[i], "mean_service_min": 1} for i in range(3)],
                 [{"id": f"k{i}", "number": str(i), "services": ["s0", "s1", "s2"]} for i in range(c)])
    mean_s = 60.0
    rate = rho * c / mean_s
    horizon = min(2000 / rate, 22 * 3600.0)
    days = math.ceil(90000 / (rate * horizon))
    warm_up = 30 * mean_s  # the day starts with an empty hall: skip its first half hour
    rng = random.Random(2024)
    waits: list[float] = []
    for day in range(days):
        visitors = _poisson_day(rng, rate, mean_s, horizon)
        result = simulate(cfg, visitors, params=BARE)
        assert result.unserved_at_end == 0, f"day {day} left visitors unserved"
        waits += [v.called_s - v.issued_s for v in result.visits
                  if v.called_s is not None and v.issued_s is not None and v.issued_s > warm_up]
    expected = mean_wait_s(c, rate, mean_s)
    measured = sum(waits) / len(waits)
    assert measured == pytest.approx(expected, rel=0.05), (measured, expected, len(waits))


def _kr() -> tuple[SiteConfig, list[Visitor]]:
    cfg = load_site_config(EXAMPLES / "kryvyi-rih.yaml")
    return cfg, generate(cfg, demand_beside(EXAMPLES / "kryvyi-rih.yaml"), seed=5, load=1.5)


def test_the_same_seed_gives_the_same_day_call_for_call() -> None:
    cfg, visitors = _kr()
    a = simulate(cfg, visitors, params=SimParams(seed=3))
    b = simulate(cfg, visitors, params=SimParams(seed=3))
    assert a.calls == b.calls
    assert [(v.called_s, v.left_s, v.finished_s) for v in a.visits] == [(v.called_s, v.left_s, v.finished_s)
                                                                           for v in b.visits]
    c = simulate(cfg, visitors, params=SimParams(seed=4))
    assert c.calls != a.calls  # the seed does drive recalls, transfers and breaks


def test_a_full_kryvyi_rih_day_at_double_load_takes_well_under_ten_seconds() -> None:
    cfg = load_site_config(EXAMPLES / "kryvyi-rih.yaml")
    prior = {s.id: s.mean_service_min * 60 for s in cfg.services}
    pol = policy_settings(cfg)
    predictors: dict[str, Callable[[], WaitPredictor]] = {
        "core": lambda: default_predictor(prior, pol), "v1": lambda: ServiceRatePredictor(prior, pol),
        "baseline": lambda: AheadTimesMean(prior), "history": HistoricalMeanWait, "last": LastServedWait}
    visitors = generate(cfg, demand_beside(EXAMPLES / "kryvyi-rih.yaml"), seed=1, load=2.0)
    started = time.perf_counter()
    result = simulate(cfg, visitors, predictors=predictors, params=SimParams(seed=1))
    elapsed = time.perf_counter() - started
    assert len(result.visits) > 2800
    assert elapsed < 10.0


def test_a_visitor_who_walked_out_costs_the_counter_recalls_and_a_no_show() -> None:
    """GIVEN one desk busy with a long visit and an impatient visitor behind WHEN the desk calls them
    THEN nobody comes: the ticket is recalled, then marked a no-show after the office's timeout."""
    cfg = office([{"id": "s", "prefix": "A"}], [{"id": "k", "number": "1", "services": ["s"]}])
    visitors = [Visitor(0.0, "s", "consult", None, None, 1200.0, None),
                Visitor(10.0, "s", "consult", None, None, 300.0, 300.0)]
    r = simulate(cfg, visitors, params=BARE)
    gone = r.visits[1]
    assert gone.walked_out and gone.called_s is None and gone.ghost_called_s == pytest.approx(1200.0)
    assert r.no_shows == 1 and r.recalls == cfg.no_show.recalls
    assert quality(r)["within_15_min"] == 0.5


def test_a_booked_visitor_is_called_at_the_slot_ahead_of_walk_ins() -> None:
    cfg = office([{"id": "s", "prefix": "A"}], [{"id": "k", "number": "1", "services": ["s"]}])
    visitors = [Visitor(0.0, "s", "consult", None, None, 600.0, None),
                Visitor(5.0, "s", "consult", None, None, 600.0, None),
                Visitor(300.0, "s", "consult", None, 600.0, 600.0, None)]
    r = simulate(cfg, visitors, params=BARE)
    assert r.visits[2].booked and r.visits[2].called_s == pytest.approx(600.0)
    assert r.visits[1].called_s == pytest.approx(1200.0)


def test_a_desk_on_its_lunch_break_calls_nobody() -> None:
    cfg = office([{"id": "s", "prefix": "A"}], [{"id": "k", "number": "1", "services": ["s"]}], start="11:00")
    params = SimParams(kiosk_s=0.0, walk_s=(0.0, 0.0), absent_share=0.0, transfer_share=0.0, short_breaks=0,
                       lunch_window=("11:00", "11:00"), lunch_min=30)
    r = simulate(cfg, [Visitor(60.0, "s", "consult", None, None, 60.0, None)], params=params)
    assert r.breaks == 1
    assert r.visits[0].called_s == pytest.approx(1800.0)


def test_transferred_visitors_queue_again_for_the_other_service(mixed_office: SiteConfig) -> None:
    visitors = [Visitor(i * 30.0, "a", "consult", None, None, 120.0, None) for i in range(60)]
    r = simulate(mixed_office, visitors, params=SimParams(seed=1, transfer_share=0.5, breaks=False))
    moved = [v for v in r.visits if v.transferred]
    assert r.transfers == len(moved) > 10
    assert all(v.finished_s is not None and v.second_wait_s is not None for v in moved)
