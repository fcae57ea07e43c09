"""Service quality of the scheduling core on a simulated office day, policies side by side.

    python bench/schedule_quality.py --config examples/kryvyi-rih.yaml --workload kr-2x.csv
    python bench/schedule_quality.py --quick          # Kryvyi Rih, generated 2x day, one seed
    python bench/schedule_quality.py                  # Kryvyi Rih, generated 1x/1.5x/2x days, 3 seeds each
    python bench/schedule_quality.py --quick --shape all   # the forecast on surge/heavy-tail/booked/skewed days

Each policy replays the same visitors through server.sim (the server's own core); every wait
predictor and baseline estimates each ticket at the kiosk in the same run. The headline figures
are the core's policy (``choose_next``) with the core's default predictor. Where a goal is not
met, ``staffing`` gives the desks per opening hour Erlang C asks for. Last line: one JSON object.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import json
import statistics
import sys
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from cherga.server.core.prediction import (
    ReplayPredictor,
    ServiceRatePredictor,
    WaitPredictor,
    default_predictor,
)
from cherga.server.core.scheduling import Decision, PolicySettings, choose_next
from cherga.server.core.tickets import Ticket
from cherga.server.sim.baselines import AheadTimesMean, HistoricalMeanWait, LastServedWait
from cherga.server.sim.engine import Policy, SimParams, SimResult, policy_settings, simulate
from cherga.server.sim.metrics import (
    bound_errors,
    fairness,
    prediction_errors,
    quality,
    service_breakdown,
    staffed_up,
    staffed_up_pools,
    staffing,
)
from cherga.server.sim.policies import fifo, fifo_per_service
from cherga.server.sim.shapes import SHAPES, shaped
from cherga.server.sim.workload import Visitor, demand_beside, generate, load_demand, read_csv
from cherga.server.siteconfig import ConfigError, Counter, SiteConfig, load_site_config


def _capped(cap_s: float) -> Policy:
    """The core's policy with ``preference_cap_s`` (desks help other queues after ``cap_s``)."""
    def policy(counter: Counter, waiting: Iterable[Ticket], now: dt.datetime, settings: PolicySettings
               ) -> Decision | None:
        return choose_next(counter, waiting, now, dataclasses.replace(settings, preference_cap_s=cap_s))
    return policy


POLICIES: dict[str, Policy] = {"fifo_per_service": fifo_per_service, "fifo": fifo, "core": choose_next,
                               "core_capped_5min": _capped(300.0)}
BASELINES = ("ahead_x_mean", "historical_mean", "last_served")
GOALS = {  # name: (target, "min" | "max")
    "within_15_min": (0.95, "min"),
    "booked_within_5_min": (0.98, "min"),
    "max_wait_ratio_lowest_class": (2.0, "max"),
    "fairness_p95_ratio": (2.0, "max"),  # walk-ins without priority: p95 / the service's p95, desks >= 3
    "prediction_vs_baseline": (0.70, "max"),  # predictor MAE / best baseline MAE: 30 % better
    "under_prediction_over_5_min": (0.01, "max"),  # the point alone (before the ticket printed a bound)
    "over_bound_over_5_min": (0.02, "max"),  # real wait > printed upper bound + 5 min
    "bound_useful": (0.90, "min"),  # share of tickets whose bound is <= 2 x point + 10 min
}
# On the shaped days (--shape): the point 15 % better than the best baseline, the bound kept for 95 %.
SHAPE_GOALS = {"prediction_vs_baseline": (0.85, "max"), "over_bound_over_5_min": (0.05, "max")}


def predictor_factories(cfg: SiteConfig) -> dict[str, Callable[[], WaitPredictor]]:
    prior = {s.id: s.mean_service_min * 60 for s in cfg.services}
    settings = policy_settings(cfg)
    return {
        "core": lambda: default_predictor(prior, settings),
        "v1_service_rate": lambda: ServiceRatePredictor(prior, settings),
        "core_cautious": lambda: ReplayPredictor(prior, settings, cautious=True),
        "core_no_margin": lambda: ReplayPredictor(prior, settings),  # the replay without margin_z
        "core_margin_1": lambda: ReplayPredictor(prior, settings, margin_z=1.0),  # the default before the bound
        "ahead_x_mean": lambda: AheadTimesMean(prior),
        "historical_mean": HistoricalMeanWait,
        "last_served": LastServedWait,
    }


def run_policy(cfg: SiteConfig, visitors: Sequence[Visitor], policy: Policy, seed: int) -> tuple[SimResult, float]:
    t = time.perf_counter()
    result = simulate(cfg, visitors, policy=policy, predictors=predictor_factories(cfg), params=SimParams(seed=seed))
    return result, time.perf_counter() - t


def summarize(result: SimResult) -> dict[str, Any]:
    out: dict[str, Any] = dict(quality(result))
    out["fairness"] = fairness(result)  # the detail; averaged over days, the first day's is kept
    core = prediction_errors(result, "core")
    base = {name: prediction_errors(result, name) for name in BASELINES}
    best = min(BASELINES, key=lambda n: base[n]["mae_min"])
    v1 = prediction_errors(result, "v1_service_rate")
    cautious = prediction_errors(result, "core_cautious")
    no_margin = prediction_errors(result, "core_no_margin")
    margin_1 = prediction_errors(result, "core_margin_1")
    bound = bound_errors(result, "core")
    out.update({
        "margin_1_mae_min": margin_1["mae_min"],
        "margin_1_under_prediction_over_5_min": margin_1["under_over_5_min"],
        "over_bound_over_5_min": bound["over_bound_over_5_min"],
        "bound_useful": bound["bound_useful"],
        "bound_width_min": bound["bound_width_min"],
        "no_margin_mae_min": no_margin["mae_min"],
        "no_margin_under_prediction_over_5_min": no_margin["under_over_5_min"],
        "cautious_mae_min": cautious["mae_min"],
        "cautious_under_prediction_over_5_min": cautious["under_over_5_min"],
        "v1_predictor_mae_min": v1["mae_min"],
        "v1_under_prediction_over_5_min": v1["under_over_5_min"],
        "prediction_mae_min": core["mae_min"],
        "prediction_bias_min": core["bias_min"],
        "under_prediction_over_5_min": core["under_over_5_min"],
        "baseline_mae_min": base[best]["mae_min"],
        "best_baseline": best,
        "baselines": {n: {"mae_min": b["mae_min"], "under_over_5_min": b["under_over_5_min"]} for n, b in base.items()},
    })
    return out


def goals(s: Mapping[str, Any], table: Mapping[str, tuple[float, str]] | None = None) -> dict[str, dict[str, Any]]:
    values = {
        "within_15_min": s["within_15_min"],
        "booked_within_5_min": s["booked_within_5_min"],
        "max_wait_ratio_lowest_class": s["max_wait_ratio_lowest_class"],
        "fairness_p95_ratio": s["fairness_p95_ratio_max"],
        "prediction_vs_baseline": round(s["prediction_mae_min"] / s["baseline_mae_min"], 3)
        if s["baseline_mae_min"] else 0.0,
        "under_prediction_over_5_min": s["under_prediction_over_5_min"],
        "over_bound_over_5_min": s["over_bound_over_5_min"],
        "bound_useful": s["bound_useful"],
    }
    out = {}
    for name, (target, kind) in (table or GOALS).items():
        v = values[name]
        out[name] = {"value": v, "target": target, "met": v >= target if kind == "min" else v <= target}
    return out


def _mean_dicts(items: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in items[0].items():
        if isinstance(v, int | float) and not isinstance(v, bool):
            out[k] = round(statistics.fmean(float(i[k]) for i in items), 4)
        else:
            out[k] = v
    return out


def evaluate(cfg: SiteConfig, workloads: Sequence[Sequence[Visitor]], policies: Sequence[str],
             sim_seed: int, verbose: bool) -> tuple[dict[str, Any], dict[str, Any], float]:
    """Average each policy's figures over the workloads; returns (per policy, staffing, max seconds per day)."""
    per_policy: dict[str, Any] = {}
    slowest = 0.0
    staff: dict[str, Any] = {}
    for name in policies:
        runs = []
        for i, visitors in enumerate(workloads):
            result, secs = run_policy(cfg, visitors, POLICIES[name], sim_seed + i)
            slowest = max(slowest, secs)
            runs.append(summarize(result))
            if name == "core" and i == len(workloads) - 1:
                staff = staffing(visitors, result, cfg)
                if verbose:
                    worst = sorted(service_breakdown(result).items(), key=lambda kv: kv[1]["within_15_min"])[:5]
                    print(f"   core, worst services: {json.dumps(dict(worst), ensure_ascii=False)}")
        avg = _mean_dicts(runs)
        per_policy[name] = avg
        if verbose:
            print(f"   {name:17s} within15 {avg['within_15_min']:.3f}  mean {avg['mean_wait_min']:5.2f} min  "
                  f"p95 {avg['p95_wait_min']:5.1f}  walkouts {avg['walkouts']:6.1f}  booked5 {avg['booked_within_5_min']:.3f}"
                  f"  ratio {avg['max_wait_ratio_lowest_class']:5.2f}  MAE {avg['prediction_mae_min']:.2f}"
                  f" vs {avg['baseline_mae_min']:.2f} ({avg['best_baseline']})  under5 {avg['under_prediction_over_5_min']:.4f}"
                  f"  over bound+5 {avg['over_bound_over_5_min']:.4f}  bound useful {avg['bound_useful']:.3f}"
                  f"  (margin 1: MAE {avg['margin_1_mae_min']:.2f}, no margin {avg['no_margin_mae_min']:.2f})")
    return per_policy, staff, slowest


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--config", default="examples/kryvyi-rih.yaml")
    ap.add_argument("--workload", help="workload CSV to replay (default: generate from the config's demand)")
    ap.add_argument("--demand", help="demand profile for generated workloads (default: <config>.demand.yaml)")
    ap.add_argument("--quick", action="store_true", help="one generated day at --load (default 2x)")
    ap.add_argument("--load", type=float, default=None, help="load multiplier for generated days")
    ap.add_argument("--seeds", type=int, default=3, help="generated days per load (full run)")
    ap.add_argument("--seed", type=int, default=101, help="first workload seed")
    ap.add_argument("--sim-seed", type=int, default=7, help="seed of the hall's behaviour (recalls, breaks)")
    ap.add_argument("--policies", default=",".join(POLICIES), help=f"comma list of {', '.join(POLICIES)}")
    ap.add_argument("--shape", help=f"generated days of a workload shape: {', '.join(SHAPES)} or 'all' "
                                    "(see server/sim/shapes.py; at --load, default 2x)")
    a = ap.parse_args(argv)
    try:
        cfg = load_site_config(a.config)
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        return 2
    policies = [p for p in a.policies.split(",") if p]
    unknown = [p for p in policies if p not in POLICIES]
    if unknown or "core" not in policies:
        print(f"unknown policies {unknown}; 'core' must be one of them", file=sys.stderr)
        return 2
    demand = load_demand(a.demand) if a.demand else demand_beside(a.config)
    started = time.perf_counter()

    loads: dict[str, list[list[Visitor]]] = {}
    shapes = list(SHAPES) if a.shape == "all" else [a.shape] if a.shape else []
    if any(sh not in SHAPES for sh in shapes):
        print(f"unknown shape {a.shape!r}; one of {', '.join(SHAPES)} or all", file=sys.stderr)
        return 2
    if shapes:
        load = a.load or 2.0
        for sh in shapes:
            loads[f"{sh} {load:g}x"] = [shaped(cfg, demand, sh, seed=a.seed + k, load=load)
                                        for k in range(1 if a.quick else a.seeds)]
    elif a.workload:
        loads[Path(a.workload).name] = [read_csv(a.workload, cfg)]
    elif a.quick:
        load = a.load or 2.0
        loads[f"{load:g}x"] = [generate(cfg, demand, seed=a.seed, load=load)]
    else:
        for load in ([a.load] if a.load else [1.0, 1.5, 2.0]):
            loads[f"{load:g}x"] = [generate(cfg, demand, seed=a.seed + k, load=load) for k in range(a.seeds)]

    by_load: dict[str, Any] = {}
    staff: dict[str, Any] = {}
    slowest = 0.0
    for label, workloads in loads.items():
        print(f"== {cfg.office.id} {label}: {len(workloads)} day(s), "
              f"{statistics.fmean(len(w) for w in workloads):.0f} visitors/day")
        per_policy, staff, secs = evaluate(cfg, workloads, policies, a.sim_seed, verbose=True)
        slowest = max(slowest, secs)
        by_load[label] = per_policy
    headline_label = list(loads)[-1]  # the heaviest load (2x) or the given workload
    head = by_load[headline_label]["core"]
    goal = goals(head)
    shape_table: dict[str, Any] = {}
    for label in (by_load if shapes else ()):
        r = by_load[label]["core"]
        shape_table[label] = {
            "prediction_mae_min": r["prediction_mae_min"], "baseline_mae_min": r["baseline_mae_min"],
            "best_baseline": r["best_baseline"], "margin_1_mae_min": r["margin_1_mae_min"],
            "over_bound_over_5_min": r["over_bound_over_5_min"], "bound_useful": r["bound_useful"],
            "under_prediction_over_5_min": r["under_prediction_over_5_min"],
            "margin_1_under_prediction_over_5_min": r["margin_1_under_prediction_over_5_min"],
            "goals": goals(r, SHAPE_GOALS)}
        print(f"== shape {label}: MAE {r['prediction_mae_min']:.2f} vs {r['baseline_mae_min']:.2f} "
              f"({r['best_baseline']}; margin 1: {r['margin_1_mae_min']:.2f})  over bound+5 "
              f"{r['over_bound_over_5_min']:.4f}  bound useful {r['bound_useful']:.3f}")
    def replayed_with(bigger: SiteConfig, keys: tuple[str, ...]) -> dict[str, Any]:
        """Check advice: the headline days again with the advised desks added; the mean of ``keys``."""
        factories = predictor_factories(bigger)
        runs = [summarize(simulate(bigger, w, params=SimParams(seed=a.sim_seed + i), predictors=factories))
                for i, w in enumerate(loads[headline_label])]
        return {"extra_desks": len(bigger.counters) - len(cfg.counters),
                **{k: round(statistics.fmean(float(r[k]) for r in runs), 4) for k in keys}}

    what_if: dict[str, Any] = {}
    short = staff.get("short_services") or {}
    if short and not shapes:
        # Check the advice: the same days again with the desks Erlang C asks for added.
        what_if = replayed_with(staffed_up(cfg, short),
                                ("within_15_min", "booked_within_5_min", "mean_wait_min", "p95_wait_min", "walkouts",
                                 "max_wait_ratio_lowest_class", "prediction_mae_min", "baseline_mae_min",
                                 "under_prediction_over_5_min"))
        print(f"== with the {what_if['extra_desks']} desks Erlang C asks for: within15 {what_if['within_15_min']:.3f}"
              f"  booked5 {what_if['booked_within_5_min']:.3f}  mean {what_if['mean_wait_min']:.2f} min"
              f"  MAE {what_if['prediction_mae_min']:.2f} vs {what_if['baseline_mae_min']:.2f}"
              f"  under5 {what_if['under_prediction_over_5_min']:.4f}")
    with_pools: dict[str, Any] = {}
    pools = staff.get("short_pools") or []
    if pools and not shapes:
        # The advice per desk pool, checked the same way: the same days with the pools' desks added.
        with_pools = replayed_with(staffed_up_pools(cfg, pools),
                                   ("within_15_min", "booked_within_5_min", "mean_wait_min", "p95_wait_min",
                                    "walkouts", "fairness_p95_ratio_max"))
        print(f"== with the {with_pools['extra_desks']} desks Erlang C asks for per desk pool: "
              f"within15 {with_pools['within_15_min']:.3f}  booked5 {with_pools['booked_within_5_min']:.3f}"
              f"  mean {with_pools['mean_wait_min']:.2f} min  p95 {with_pools['p95_wait_min']:.1f} min")
    report: dict[str, Any] = {
        "bench": "schedule_quality",
        "config": a.config,
        "workload": a.workload or f"generated {headline_label}, seeds {a.seed}..{a.seed + len(loads[headline_label]) - 1}",
        "mode": "quick" if a.quick else "full",
        "visitors_per_day": round(statistics.fmean(len(w) for w in loads[headline_label])),
        "policy": "core",
        **{k: head[k] for k in ("within_15_min", "p95_wait_min", "mean_wait_min", "walkouts", "booked_within_5_min",
                                "max_wait_ratio_lowest_class", "mean_wait_ratio_lowest_class",
                                "fairness_p95_ratio_max", "longest_wait_walk_in_min", "longest_wait_priority_min",
                                "longest_wait_booked_min", "prediction_mae_min", "baseline_mae_min", "best_baseline",
                                "under_prediction_over_5_min", "over_bound_over_5_min", "bound_useful",
                                "bound_width_min", "margin_1_mae_min", "margin_1_under_prediction_over_5_min")},
        "fairness": head["fairness"],
        "goals": goal,
        "shapes": shape_table,
        "shape_goals_met": all(g["met"] for r in shape_table.values() for g in r["goals"].values()),
        "goals_met": all(g["met"] for g in goal.values()),
        "policies": {label: {p: {k: v for k, v in r.items() if k != "baselines"} for p, r in pp.items()}
                     for label, pp in by_load.items()},
        "staffing_erlang_c": staff,
        "with_erlang_c_desks": what_if,
        "with_pooled_erlang_c_desks": with_pools,
        "sim_seconds_per_day_max": round(slowest, 3),
        "seconds": round(time.perf_counter() - started, 2),
    }
    print(json.dumps(report, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
