"""How long the wait estimate printed on a new ticket takes, with 300, 1,000 and 10,000 tickets waiting.

The estimate runs inside the kiosk's issue request (the server's ``OfficeService.info``), so it
must stay well under a second however long the queue. For each queue length the office's
front-office counters are busy, the waiting tickets are spread over the services (7 % with a
priority category), and new tickets are issued one after another at the back, each estimated
the way the server estimates it (its service's queue, the counters serving it) and then queued.

    .venv/bin/python bench/estimate_speed.py --quick
    .venv/bin/python bench/estimate_speed.py --config examples/kryvyi-rih.yaml

The last line of output is one JSON object: ``{"bench": "estimate_speed", "replay": {"300": {"mean_ms",
"p99_ms", "max_ms"}, ...}, "v1": {...}}``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import random
import statistics
import time
from pathlib import Path

from cherga.server.core.prediction import ServiceRatePredictor, WaitPredictor, default_predictor
from cherga.server.core.tickets import Ticket, call
from cherga.server.sim.engine import policy_settings
from cherga.server.siteconfig import SiteConfig, load_site_config

REPO = Path(__file__).resolve().parent.parent
T0 = dt.datetime(2026, 11, 25, 9, 0, tzinfo=dt.UTC)


def _ticket(n: int, service: str, at: dt.datetime, priority: str | None) -> Ticket:
    return Ticket(id=f"t{n}", office="bench", service=service, purpose="consult", prefix="A", number=n % 699 + 1,
                  day=at.date(), issued_at=at, token=f"t{n}", priority=priority, queued_at=at)


def measure(config: SiteConfig, predictor: WaitPredictor, waiting: int, issues: int, seed: int = 1) -> list[float]:
    """Milliseconds per estimate of ``issues`` new tickets behind ``waiting`` tickets."""
    rng = random.Random(seed)
    services = [s.id for s in config.services if not s.appointment_only and config.counters_for(s.id)]
    categories = [p.id for p in config.priority_categories]
    front = [c for c in config.counters if not c.back_office and c.services]
    feed = getattr(predictor, "observe_call", None)
    queues: dict[str, list[Ticket]] = {s: [] for s in services}
    n = 0
    for _ in range(waiting):  # the queue, issued over the last two hours
        at = T0 - dt.timedelta(seconds=rng.uniform(0, 7200))
        prio = rng.choice(categories) if categories and rng.random() < 0.07 else None
        s = rng.choice(services)
        queues[s].append(_ticket(n, s, at, prio))
        n += 1
    now = T0
    if feed is not None:
        for c in front:  # every counter busy, called at some point in the last ten minutes
            busy = _ticket(n, c.services[0].id, now - dt.timedelta(seconds=rng.uniform(0, 600)), None)
            n += 1
            feed(call(busy, counter=c.id, now=busy.issued_at), busy.issued_at)
    out = []
    for k in range(issues):
        now = T0 + dt.timedelta(seconds=k)
        s = services[k % len(services)]
        t = _ticket(n, s, now, None)
        n += 1
        counters = [c for c in front if c.weight_for(s) is not None]
        start = time.perf_counter()
        predictor.estimate(t, [*queues[s], t], counters, now)
        out.append((time.perf_counter() - start) * 1000)
        queues[s].append(t)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", type=Path, default=REPO / "examples" / "kryvyi-rih.yaml")
    parser.add_argument("--quick", action="store_true", help="fewer estimates per queue length")
    args = parser.parse_args()
    config = load_site_config(args.config)
    settings = policy_settings(config)
    prior = {s.id: s.mean_service_min * 60 for s in config.services}
    issues = 50 if args.quick else 200
    result: dict[str, object] = {"bench": "estimate_speed", "config": str(args.config.relative_to(REPO))
                                 if args.config.is_relative_to(REPO) else str(args.config),
                                 "estimates_per_length": issues}
    for name, make in (("replay", lambda: default_predictor(prior, settings)),
                       ("v1", lambda: ServiceRatePredictor(prior, settings))):
        rows = {}
        for waiting in (300, 1000, 10000):
            ms = sorted(measure(config, make(), waiting, issues))
            rows[str(waiting)] = {"mean_ms": round(statistics.fmean(ms), 2),
                                  "p99_ms": round(ms[min(len(ms) - 1, int(0.99 * len(ms)))], 2),
                                  "max_ms": round(ms[-1], 2)}
            print(f"{name:6} {waiting:6} waiting: mean {rows[str(waiting)]['mean_ms']} ms, "
                  f"max {rows[str(waiting)]['max_ms']} ms")
        result[name] = rows
    result["load_avg_1min"] = round(os.getloadavg()[0], 2)
    result["cpus"] = os.cpu_count()
    print(json.dumps(result))


if __name__ == "__main__":
    main()
