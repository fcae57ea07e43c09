"""Service-quality figures of a simulated day, and the staffing Erlang C says it would take.

Definitions (also in docs/simulator.md):

* ``within_15_min`` — share of all visitors called within 15 minutes of taking the ticket (a
  booked visitor: of the later of the slot and the check-in) while still in the hall; a walk-out
  or a visitor the kiosk refused counts as a failure.
* ``mean_wait_min``, ``p95_wait_min`` — over visitors who were called or walked out (a walk-out's
  wait is the time until leaving: a lower bound).
* ``booked_within_5_min`` — booked visitors who checked in on time (not later than the grace) and
  were called no later than 5 minutes after the slot (after their check-in if they came after it).
* ``max_wait_ratio_lowest_class`` — the longest wait of a visitor without priority (the lowest
  class) over the overall mean wait, as the issue defines it; ``mean_wait_ratio_lowest_class`` is
  that class's mean over the overall mean.
* ``prediction_mae_min`` etc. — over walk-in tickets whose visitor was called while present: the
  estimate the kiosk printed against the real wait.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from typing import TypedDict

from cherga.server.core.erlang import counters_needed
from cherga.server.core.pools import pool_advice
from cherga.server.sim.engine import SimResult, Visit
from cherga.server.sim.workload import Visitor
from cherga.server.siteconfig import SiteConfig


def _pct(values: Sequence[float], q: float) -> float:
    if not values:
        return 0.0
    s = sorted(values)
    k = (len(s) - 1) * q
    lo, hi = math.floor(k), math.ceil(k)
    return s[lo] + (s[hi] - s[lo]) * (k - lo)


def _r(x: float, nd: int = 3) -> float:
    return round(x, nd)


def quality(result: SimResult) -> dict[str, float | int]:
    visits = result.visits
    n = len(visits)
    on_time = sum(1 for v in visits if v.called_s is not None and (v.wait_s or 0.0) <= 900)
    waits = [w for v in visits if (w := v.wait_s) is not None]
    mean = sum(waits) / len(waits) if waits else 0.0
    booked = [v for v in visits if v.booked]
    # Within 5 minutes of the slot, or of the check-in for a visitor who came after the slot.
    booked_ok = sum(1 for v in booked if v.called_s is not None and (v.wait_s or 0.0) <= 300)
    plain = [w for v in visits if v.visitor.priority is None and (w := v.wait_s) is not None]
    prio = [w for v in visits if v.visitor.priority is not None and (w := v.wait_s) is not None]
    return {
        "visitors": n,
        "within_15_min": _r(on_time / n if n else 1.0, 4),
        "p95_wait_min": _r(_pct(waits, 0.95) / 60, 2),
        "mean_wait_min": _r(mean / 60, 2),
        "max_wait_min": _r(max(waits, default=0.0) / 60, 1),
        "walkouts": sum(1 for v in visits if v.walked_out),
        "no_ticket": sum(1 for v in visits if v.issued_s is None),
        "booked": len(booked),
        "booked_within_5_min": _r(booked_ok / len(booked) if booked else 1.0, 4),
        "max_wait_ratio_lowest_class": _r(max(plain, default=0.0) / mean if mean else 0.0, 2),
        "mean_wait_ratio_lowest_class": _r((sum(plain) / len(plain)) / mean if plain and mean else 0.0, 2),
        "priority_mean_wait_min": _r(sum(prio) / len(prio) / 60 if prio else 0.0, 2),
        "recalls": result.recalls,
        "no_shows": result.no_shows,
        "transfers": result.transfers,
        "last_call_h_after_close": _r(max(0.0, max((c.t for c in result.calls), default=0.0) - result.close_s) / 3600, 2),
        **_fairness_scalars(fairness(result)),
    }


FAIRNESS_MIN_DESKS = 3
FAIRNESS_FLOOR_S = 60.0


def _class_of(v: Visit) -> str:
    return "booked" if v.booked else (v.visitor.priority or "walk_in")


def fairness(result: SimResult, desks: Mapping[str, int] | None = None) -> dict[str, object]:
    """Whether walk-ins without priority wait their fair share, where a service has desks enough to tell.

    Per service with at least three desks (``desks``: per service; by default the desks that called
    at least one of its tickets that day): the p95 wait of walk-ins without priority over the
    service's p95 wait of everybody (goal: at most 2; a p95 under a minute counts as a minute, so a
    hall where almost nobody waits does not divide by zero). Also the longest single wait of each
    class: ``walk_in`` (no priority), each priority category, ``booked``. Waits as for
    ``p95_wait_min`` (a walk-out's counts until leaving).
    """
    if desks is None:
        called: dict[str, set[str]] = {}
        for c in result.calls:
            called.setdefault(c.service, set()).add(c.counter)
        desks = {s: len(cs) for s, cs in called.items()}
    by_service: dict[str, list[Visit]] = {}
    longest: dict[str, float] = {}
    for v in result.visits:
        by_service.setdefault(v.visitor.service, []).append(v)
        if (w := v.wait_s) is not None:
            k = _class_of(v)
            longest[k] = max(longest.get(k, 0.0), w)
    ratios: dict[str, float] = {}
    for service, vs in sorted(by_service.items()):
        if desks.get(service, 0) < FAIRNESS_MIN_DESKS:
            continue
        everyone = [w for v in vs if (w := v.wait_s) is not None]
        plain = [w for v in vs if _class_of(v) == "walk_in" and (w := v.wait_s) is not None]
        if plain:
            ratios[service] = _r(_pct(plain, 0.95) / max(_pct(everyone, 0.95), FAIRNESS_FLOOR_S), 2)
    worst = max(ratios, key=lambda s: ratios[s], default=None)
    return {"p95_ratio_by_service": ratios, "p95_ratio_max": ratios[worst] if worst else 0.0,
            "p95_ratio_worst_service": worst, "services": len(ratios),
            "longest_wait_min_by_class": {k: _r(w / 60, 1) for k, w in sorted(longest.items())}}


def _fairness_scalars(f: Mapping[str, object]) -> dict[str, float | int]:
    longest = f["longest_wait_min_by_class"]
    assert isinstance(longest, dict)
    ratio, services = f["p95_ratio_max"], f["services"]
    assert isinstance(ratio, float) and isinstance(services, int)
    prio = [w for k, w in longest.items() if k not in ("walk_in", "booked")]
    return {"fairness_p95_ratio_max": ratio, "fairness_services": services,
            "longest_wait_walk_in_min": longest.get("walk_in", 0.0),
            "longest_wait_priority_min": max(prio, default=0.0),
            "longest_wait_booked_min": longest.get("booked", 0.0)}


def _evaluated(visits: Iterable[Visit]) -> list[Visit]:
    return [v for v in visits if not v.booked and v.called_s is not None and v.issued_s is not None]


def prediction_errors(result: SimResult, name: str) -> dict[str, float]:
    """MAE (minutes), bias and the share under-predicted by more than 5 minutes for one predictor."""
    errs: list[float] = []
    for v in _evaluated(result.visits):
        est = v.estimates.get(name)
        real = (v.called_s or 0.0) - (v.issued_s or 0.0)
        errs.append(real - (est if est is not None else 0.0))
    if not errs:
        return {"mae_min": 0.0, "bias_min": 0.0, "under_over_5_min": 0.0, "n": 0}
    return {
        "mae_min": _r(sum(abs(e) for e in errs) / len(errs) / 60),
        "bias_min": _r(sum(errs) / len(errs) / 60),
        "under_over_5_min": _r(sum(1 for e in errs if e > 300) / len(errs), 4),
        "n": len(errs),
    }


def bound_errors(result: SimResult, name: str, *, tolerance_s: float = 300.0) -> dict[str, float]:
    """How one predictor's printed upper bound ("at most N min") held, over the tickets
    :func:`prediction_errors` counts: ``over_bound_over_5_min`` — the share whose real wait exceeded
    the bound by more than ``tolerance_s``; ``bound_useful`` — the share whose bound is at most
    twice the point plus 10 minutes; ``bound_width_min`` — mean bound minus point. A ticket without
    a bound counts as broken and not useful."""
    over = useful = 0
    width = 0.0
    evaluated = _evaluated(result.visits)
    for v in evaluated:
        point = v.estimates.get(name) or 0.0
        bound = v.bounds.get(name)
        real = (v.called_s or 0.0) - (v.issued_s or 0.0)
        if bound is None:
            over += 1
            continue
        over += real - bound > tolerance_s
        useful += bound <= 2 * point + 600
        width += bound - point
    n = len(evaluated)
    if not n:
        return {"over_bound_over_5_min": 0.0, "bound_useful": 1.0, "bound_width_min": 0.0, "n": 0}
    return {"over_bound_over_5_min": _r(over / n, 4), "bound_useful": _r(useful / n, 4),
            "bound_width_min": _r(width / n / 60), "n": n}


def staffing(visitors: Sequence[Visitor], result: SimResult, config: SiteConfig | None = None, *,
             target_wait_s: float = 900, target_share: float = 0.95) -> dict[str, object]:
    """Per opening hour: desks open in the simulation and the desks Erlang C asks for.

    ``needed_dedicated`` staffs each service on its own (no desk shared), ``needed_pooled`` treats
    the office as one pool of universal desks: the truth for multi-service desks lies between.
    Arrival rates are the workload's own per hour; service times the workload's mean per service.
    """
    hours = math.ceil(result.close_s / 3600)
    mean_s: dict[str, list[float]] = {}
    for v in visitors:
        mean_s.setdefault(v.service, []).append(v.service_s)
    svc_mean = {s: sum(x) / len(x) for s, x in mean_s.items()}
    desks = result.counters_open
    open_per_hour: dict[str, float] = {}
    dedicated: dict[str, int] = {}
    pooled: dict[str, int] = {}
    for h in range(hours):
        lo, hi = h * 3600.0, (h + 1) * 3600.0
        on_break = sum(max(0.0, min(hi, e) - max(lo, s)) for _, s, e in result.break_spans) / 3600
        key = f"h{h:02d}"
        open_per_hour[key] = _r(desks - on_break, 1)
        counts: dict[str, int] = {}
        for v in visitors:
            if lo <= v.arrival_s < hi:
                counts[v.service] = counts.get(v.service, 0) + 1
        need = 0
        for s, k in counts.items():
            need += counters_needed(k / 3600, svc_mean[s], target_wait_s=target_wait_s, target_share=target_share)
        dedicated[key] = need
        total = sum(counts.values())
        if total:
            work = sum(k * svc_mean[s] for s, k in counts.items()) / total
            pooled[key] = counters_needed(total / 3600, work, target_wait_s=target_wait_s, target_share=target_share)
        else:
            pooled[key] = 0
    out: dict[str, object] = {
        "desks_open": open_per_hour, "needed_dedicated": dedicated, "needed_pooled": pooled,
        "peak_needed_dedicated": max(dedicated.values(), default=0),
        "peak_needed_pooled": max(pooled.values(), default=0)}
    if config is not None:
        short = short_services(config, visitors, target_wait_s=target_wait_s, target_share=target_share)
        out["short_services"] = short
        out["extra_desks_for_short_services"] = int(sum(v["needed"] - v["all_desks"] for v in short.values()))
        pools = short_pools(config, visitors, target_wait_s=target_wait_s, target_share=target_share)
        out["short_pools"] = pools
        out["extra_desks_for_short_pools"] = sum(p["add"] for p in pools)
    return out


class PoolRow(TypedDict):
    services: list[str]
    desks: int  # desks serving any of the services
    needed: int  # Erlang C on their combined load at the busiest hour
    add: int  # desks to add, each serving all the services
    peak_hour: str
    peak_per_hour: float
    mean_visit_min: float


def short_pools(config: SiteConfig, visitors: Sequence[Visitor], *, target_wait_s: float = 900,
                target_share: float = 0.95) -> list[PoolRow]:
    """Desk pools (services sharing desks) whose busiest hour needs more desks than serve them
    (:func:`cherga.server.core.pools.pool_advice`): per pool its services, the desks serving them,
    the desks Erlang C asks for on their combined load, the busiest hour and the desks to add (each
    serving all the pool's services)."""
    desk_services = {c.id: [s.id for s in c.services] for c in config.counters if not c.back_office}
    arrivals: dict[int, dict[str, float]] = {}
    work: dict[str, list[float]] = {}
    for v in visitors:
        hour = arrivals.setdefault(int(v.arrival_s // 3600), {})
        hour[v.service] = hour.get(v.service, 0.0) + 1
        work.setdefault(v.service, []).append(v.service_s)
    mean_s = {s: sum(x) / len(x) for s, x in work.items()}
    return [PoolRow(services=list(a.services), desks=a.desks, needed=a.needed, add=a.add,
                    peak_hour=f"h{a.peak_hour:02d}" if isinstance(a.peak_hour, int) else str(a.peak_hour),
                    peak_per_hour=a.arrivals_per_h, mean_visit_min=round(a.mean_service_s / 60, 1))
            for a in pool_advice(desk_services, arrivals, mean_s, target_wait_s=target_wait_s,
                                 target_share=target_share)]


def short_services(config: SiteConfig, visitors: Sequence[Visitor], *, target_wait_s: float = 900,
                   target_share: float = 0.95) -> dict[str, dict[str, float]]:
    """Services whose busiest hour needs more desks (Erlang C, the service on its own) than all the
    desks that serve it: no scheduling can make up for these; the fix is more desks serving them
    (``main_desks``: how many have it as their main service)."""
    out: dict[str, dict[str, float]] = {}
    by_service: dict[str, list[Visitor]] = {}
    for v in visitors:
        by_service.setdefault(v.service, []).append(v)
    for sid, vs in sorted(by_service.items()):
        per_hour: dict[int, int] = {}
        for v in vs:
            per_hour[int(v.arrival_s // 3600)] = per_hour.get(int(v.arrival_s // 3600), 0) + 1
        peak = max(per_hour.values())
        mean_s = sum(v.service_s for v in vs) / len(vs)
        need = counters_needed(peak / 3600, mean_s, target_wait_s=target_wait_s, target_share=target_share)
        front = [c for c in config.counters if not c.back_office and c.weight_for(sid) is not None]
        main = [c for c in front if c.weight_for(sid) == max(s.weight for s in c.services)]
        desks = len(main) or len(front)
        if need > len(front):
            out[sid] = {"peak_per_hour": peak, "mean_visit_min": round(mean_s / 60, 1), "needed": need,
                        "main_desks": desks, "all_desks": len(front)}
    return out


def service_breakdown(result: SimResult) -> dict[str, dict[str, float]]:
    """Per service: visitors, share within 15 minutes, mean wait (minutes)."""
    out: dict[str, dict[str, float]] = {}
    by: dict[str, list[Visit]] = {}
    for v in result.visits:
        by.setdefault(v.visitor.service, []).append(v)
    for s, vs in sorted(by.items()):
        waits = [w for v in vs if (w := v.wait_s) is not None]
        ok = sum(1 for v in vs if v.called_s is not None and (v.wait_s or 0.0) <= 900)
        out[s] = {"visitors": len(vs), "within_15_min": _r(ok / len(vs), 3),
                  "mean_wait_min": _r(sum(waits) / len(waits) / 60 if waits else 0.0, 1)}
    return out


def staffed_up(config: SiteConfig, short: Mapping[str, Mapping[str, float]]) -> SiteConfig:
    """``config`` with the desks :func:`short_services` found missing, each serving only its service."""
    data = config.model_dump(mode="json", exclude_none=True)
    numbers = {c.number for c in config.counters}
    n = 0
    for sid, info in sorted(short.items()):
        for _ in range(int(info["needed"] - info["all_desks"])):
            n += 1
            while f"E{n}" in numbers:
                n += 1
            data["counters"].append({"id": f"erlang-{n}", "number": f"E{n}", "services": [sid]})
    return SiteConfig.model_validate(data)


def staffed_up_pools(config: SiteConfig, pools: Sequence[PoolRow]) -> SiteConfig:
    """``config`` with the desks :func:`short_pools` advises, each serving every service of its pool."""
    data = config.model_dump(mode="json", exclude_none=True)
    numbers = {c.number for c in config.counters}
    ids = {c.id for c in config.counters}
    n = 0
    for pool in pools:
        services = pool["services"]
        for _ in range(pool["add"]):
            n += 1
            while f"P{n}" in numbers or f"pool-{n}" in ids:
                n += 1
            data["counters"].append({"id": f"pool-{n}", "number": f"P{n}", "services": list(services)})
    return SiteConfig.model_validate(data)
