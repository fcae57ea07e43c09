"""Workload shapes the demand profile alone does not make: days to test the wait forecast on.

Each shape takes the office's own demand profile and bends one thing, keeping the day's volume:

* ``surge`` — a third of the day's visitors in the first opening hour (a queue at the door);
* ``heavy_tail`` — visit times with a heavier tail (CV 1.0) and 3 % of visits lasting 60–120 min;
* ``booked_half`` — half of the visitors booked;
* ``skewed`` — the busiest service gets 60 % of the load, the rest share 40 % in their old proportions.

``shaped(config, demand, shape, seed=, load=)`` draws one such day (deterministic for a seed).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import random

from cherga.server.sim.workload import (
    DemandProfile,
    Visitor,
    generate,
    open_intervals,
    opening_time,
    service_mix,
)
from cherga.server.siteconfig import SiteConfig

SHAPES = ("surge", "heavy_tail", "booked_half", "skewed")


def shaped_demand(config: SiteConfig, demand: DemandProfile, shape: str,
                  day: dt.date = dt.date(2017, 3, 14)) -> DemandProfile:
    """The demand profile of ``shape`` (the part a profile can say; see :func:`shaped` for the rest)."""
    if shape == "surge":
        opening = opening_time(config, day)
        spans = open_intervals(config, day)
        if opening is None or not spans:
            return demand
        first = opening.hour
        last = first + int(max(e for _, e in spans) // 3600)
        hours = [f"{h:02d}" for h in range(first, last)]
        base = {h: demand.hourly_profile.get(h, 1.0) if demand.hourly_profile else 1.0 for h in hours}
        rest = sum(w for h, w in base.items() if h != hours[0])
        base[hours[0]] = rest / 2  # the first hour: a third of the day
        return demand.model_copy(update={"hourly_profile": base})
    if shape == "heavy_tail":
        return demand.model_copy(update={"service_time_cv": 1.0})
    if shape == "booked_half":
        return demand.model_copy(update={"booked_share": 0.5})
    if shape == "skewed":
        mix = service_mix(config, demand)
        top = max(mix, key=lambda k: mix[k])
        others = sum(v for k, v in mix.items() if k != top)
        skew = {k: (0.6 if k == top else 0.4 * v / others) for k, v in mix.items()}
        return demand.model_copy(update={"service_mix": skew})
    raise ValueError(f"unknown shape {shape!r}; one of {', '.join(SHAPES)}")


def shaped(config: SiteConfig, demand: DemandProfile, shape: str, *, seed: int, load: float = 1.0,
           day: dt.date = dt.date(2017, 3, 14)) -> list[Visitor]:
    """One day of ``shape`` at ``load`` (the generator's volume for the day)."""
    visitors = generate(config, shaped_demand(config, demand, shape, day), seed=seed, load=load, day=day)
    if shape == "heavy_tail":
        rng = random.Random(seed * 7919 + 1)
        visitors = [dataclasses.replace(v, service_s=round(rng.uniform(3600, 7200), 1)) if rng.random() < 0.03 else v
                    for v in visitors]
    return visitors
