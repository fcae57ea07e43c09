"""Write a workload CSV (one visitor per row) for an office config.

    python bench/workload.py --config examples/kryvyi-rih.yaml --load 2 --seed 1 --out kr-2x.csv

The demand profile is read from ``<config>.demand.yaml`` beside the config (or ``--demand``);
see server/sim/workload.py for the format and the calibration. The last line of output is one
JSON object describing what was written.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
from collections import Counter

from cherga.server.sim.workload import demand_beside, generate, load_demand, visitors_per_day, write_csv
from cherga.server.siteconfig import ConfigError, load_site_config


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--config", default="examples/kryvyi-rih.yaml")
    ap.add_argument("--demand", help="demand profile YAML (default: <config>.demand.yaml)")
    ap.add_argument("--load", type=float, default=1.0, help="load multiplier: 1, 1.5, 2 ...")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--day", default="2017-03-14", help="which weekday's hours to use (ISO date)")
    ap.add_argument("--out", default="-", help="CSV path, '-' for stdout")
    a = ap.parse_args(argv)
    try:
        cfg = load_site_config(a.config)
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        return 2
    demand = load_demand(a.demand) if a.demand else demand_beside(a.config)
    day = dt.date.fromisoformat(a.day)
    visitors = generate(cfg, demand, seed=a.seed, load=a.load, day=day)
    text = write_csv(visitors, None if a.out == "-" else a.out)
    if a.out == "-":
        sys.stdout.write(text)
        return 0
    mix = Counter(v.service for v in visitors)
    print(json.dumps({
        "bench": "workload", "config": a.config, "out": a.out, "load": a.load, "seed": a.seed,
        "visitors": len(visitors), "expected_per_day": round(visitors_per_day(cfg, demand, day, a.load), 1),
        "booked": sum(v.appointment_s is not None for v in visitors),
        "priority": sum(v.priority is not None for v in visitors),
        "top_services": dict(mix.most_common(5)),
    }, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
