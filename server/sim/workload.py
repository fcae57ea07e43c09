"""Workloads: one visitor per row, the CSV format any workload is replayed from, and the generator.

CSV header (seconds count from the office's opening on the simulated day)::

    arrival_s,service,purpose,priority,appointment_s,service_s,patience_s

``priority`` is a priority category id or empty; ``appointment_s`` the booked slot or empty for a
walk-in; ``service_s`` how long the visit really takes at the counter (the simulator uses it, no
predictor may see it); ``patience_s`` how long the visitor waits before walking out (empty: never).

The generator draws a day from a :class:`DemandProfile`: a non-homogeneous Poisson arrival process
whose hourly rates follow ``hourly_profile`` (morning and after-lunch peaks) and are calibrated so
that the office's open hours over ``period_start..period_end`` receive ``period_visitors``; a
service mix; booked and priority shares; log-normal service times around each service's
``mean_service_min`` and log-normal patience. ``load`` multiplies every rate (1×, 1.5×, 2×).
Deterministic for a seed.
"""

from __future__ import annotations

import csv
import dataclasses
import datetime as dt
import io
import math
import random
from collections.abc import Iterable, Mapping
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field

from cherga.server.siteconfig import WEEKDAYS, SiteConfig

HEADER = ("arrival_s", "service", "purpose", "priority", "appointment_s", "service_s", "patience_s")
SLOT_S = 900  # booking grid: quarter hours


@dataclasses.dataclass(frozen=True, slots=True)
class Visitor:
    """One row of a workload."""

    arrival_s: float
    service: str
    purpose: str
    priority: str | None
    appointment_s: float | None
    service_s: float
    patience_s: float | None


class DemandProfile(BaseModel):
    """What citizens ask of one office: volume, timing, mix. Read from ``<office>.demand.yaml``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    period_visitors: int = Field(default=0, ge=0, description="visitors over the period; 0: use visitors_per_day")
    period_start: dt.date = dt.date(2017, 1, 1)
    period_end: dt.date = dt.date(2017, 6, 30)
    holidays: list[dt.date] = Field(default_factory=list)
    visitors_per_day: float = Field(default=200.0, gt=0, description="used when period_visitors is 0")
    hourly_profile: dict[str, float] = Field(default_factory=dict, description="'HH' -> relative weight; empty: flat")
    service_mix: dict[str, float] = Field(default_factory=dict, description="service id -> share; empty: even")
    booked_share: float = Field(default=0.15, ge=0, le=1)
    late_share: float = Field(default=0.05, ge=0, le=1, description="booked visitors arriving after the slot")
    priority_share: float = Field(default=0.05, ge=0, le=1)
    priority_mix: dict[str, float] = Field(default_factory=dict, description="category -> share; empty: even")
    purpose_mix: dict[str, float] = Field(default_factory=lambda: {"consult": 0.3, "submit": 0.5, "collect": 0.2})
    service_time_cv: float = Field(default=0.6, gt=0, le=3)
    patience_median_min: float = Field(default=45.0, gt=0)
    patience_sigma: float = Field(default=0.5, gt=0)
    never_walk_out_share: float = Field(default=0.4, ge=0, le=1)


def load_demand(path: str | Path) -> DemandProfile:
    data = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
    return DemandProfile.model_validate(data)


def demand_beside(config_path: str | Path) -> DemandProfile:
    """The demand file next to an office config (``x.yaml`` → ``x.demand.yaml``), else defaults."""
    p = Path(config_path)
    candidate = p.with_name(p.stem + ".demand.yaml")
    return load_demand(candidate) if candidate.exists() else DemandProfile()


# --- calendar and rates -------------------------------------------------------------------------

def open_intervals(config: SiteConfig, day: dt.date) -> list[tuple[float, float]]:
    """The office's open intervals on ``day`` in seconds since its opening (breaks cut out)."""
    ranges = config.hours.days.get(WEEKDAYS[day.weekday()], [])
    if not ranges:
        return []
    opening = min(_secs(r.start) for r in ranges)
    spans = sorted((_secs(r.start) - opening, _secs(r.end) - opening) for r in ranges)
    for b in config.hours.breaks:
        bs, be = _secs(b.start) - opening, _secs(b.end) - opening
        cut: list[tuple[float, float]] = []
        for s, e in spans:
            if be <= s or bs >= e:
                cut.append((s, e))
                continue
            if s < bs:
                cut.append((s, bs))
            if be < e:
                cut.append((be, e))
        spans = cut
    return spans


def opening_time(config: SiteConfig, day: dt.date) -> dt.time | None:
    ranges = config.hours.days.get(WEEKDAYS[day.weekday()], [])
    return min((dt.time.fromisoformat(r.start) for r in ranges), default=None)


def _secs(hhmm: str) -> float:
    t = dt.time.fromisoformat(hhmm)
    return t.hour * 3600.0 + t.minute * 60.0


def period_open_hours(config: SiteConfig, demand: DemandProfile) -> float:
    holidays = set(demand.holidays)
    day = demand.period_start
    total = 0.0
    while day <= demand.period_end:
        if day not in holidays:
            total += sum(e - s for s, e in open_intervals(config, day)) / 3600
        day += dt.timedelta(days=1)
    return total


def hourly_rates(config: SiteConfig, demand: DemandProfile, day: dt.date, load: float = 1.0
                 ) -> list[tuple[float, float, float]]:
    """Piecewise-constant arrival rates on ``day``: ``(start_s, end_s, visitors_per_s)``.

    Calibrated so an average open hour of the period gets ``period_visitors / open hours``; the
    hourly profile shapes the day around that mean.
    """
    spans = open_intervals(config, day)
    if not spans:
        return []
    opening = opening_time(config, day)
    assert opening is not None
    open_h = sum(e - s for s, e in spans) / 3600
    if demand.period_visitors:
        per_hour = demand.period_visitors / period_open_hours(config, demand)
    else:
        per_hour = demand.visitors_per_day / open_h
    pieces: list[tuple[float, float, float]] = []  # (start, end, profile weight)
    for s, e in spans:
        t = s
        while t < e:
            nxt = min(e, (math.floor(t / 3600) + 1) * 3600)
            clock_hour = int((opening.hour * 3600 + opening.minute * 60 + t) // 3600)
            w = demand.hourly_profile.get(f"{clock_hour:02d}", 1.0) if demand.hourly_profile else 1.0
            pieces.append((t, nxt, w))
            t = nxt
    mean_w = sum((e - s) * w for s, e, w in pieces) / sum(e - s for s, e, _ in pieces)
    return [(s, e, load * per_hour / 3600 * w / mean_w) for s, e, w in pieces]


def visitors_per_day(config: SiteConfig, demand: DemandProfile, day: dt.date, load: float = 1.0) -> float:
    return sum((e - s) * r for s, e, r in hourly_rates(config, demand, day, load))


# --- the generator ------------------------------------------------------------------------------

def lognormal(rng: random.Random, mean: float, cv: float) -> float:
    """A log-normal draw with the given mean and coefficient of variation."""
    sigma2 = math.log(1 + cv * cv)
    return rng.lognormvariate(math.log(mean) - sigma2 / 2, math.sqrt(sigma2))


def _pick(rng: random.Random, mix: Mapping[str, float]) -> str:
    r = rng.random() * sum(mix.values())
    acc = 0.0
    for key, w in mix.items():
        acc += w
        if r < acc:
            return key
    return next(reversed(list(mix)))


def service_mix(config: SiteConfig, demand: DemandProfile) -> dict[str, float]:
    walk_in = [s.id for s in config.services]
    if not demand.service_mix:
        return {sid: 1.0 for sid in walk_in}
    unknown = set(demand.service_mix) - set(walk_in)
    if unknown:
        raise ValueError(f"demand names services the office does not have: {', '.join(sorted(unknown))}")
    return {k: v for k, v in demand.service_mix.items() if v > 0}


def generate(config: SiteConfig, demand: DemandProfile, *, seed: int, load: float = 1.0,
             day: dt.date = dt.date(2017, 3, 14)) -> list[Visitor]:
    """Draw one day's visitors, sorted by arrival. ``day`` only picks the weekday's hours."""
    rng = random.Random(seed)
    mix = service_mix(config, demand)
    pmix = demand.priority_mix or {p.id: 1.0 for p in config.priority_categories}
    spans = hourly_rates(config, demand, day, load)
    close = max((e for _, e, _ in spans), default=0.0)
    out: list[Visitor] = []
    for start, end, rate in spans:
        t = start
        while rate > 0:
            t += rng.expovariate(rate)
            if t >= end:
                break
            out.append(_visitor(rng, config, demand, mix, pmix, t, close))
    out.sort(key=lambda v: (v.arrival_s, v.service))
    return out


def _visitor(rng: random.Random, config: SiteConfig, demand: DemandProfile, mix: Mapping[str, float],
             pmix: Mapping[str, float], t: float, close: float) -> Visitor:
    service = config.service(_pick(rng, mix))
    purposes: dict[str, float] = {p: w for p, w in demand.purpose_mix.items() if p in service.purposes}
    purposes = purposes or {service.purposes[0]: 1.0}
    purpose = _pick(rng, purposes)
    priority = _pick(rng, pmix) if pmix and rng.random() < demand.priority_share else None
    appointment: float | None = None
    arrival = t
    if service.appointment_only or rng.random() < demand.booked_share:
        # The booking is for the quarter hour after the moment this visitor would have come.
        slot = min(math.ceil(t / SLOT_S) * SLOT_S, close - SLOT_S)
        appointment = float(max(slot, 0.0))
        if rng.random() < demand.late_share:
            arrival = appointment + rng.uniform(60, 900)
        else:
            arrival = max(0.0, appointment - rng.uniform(0, config.appointments.early_s))
    duration = lognormal(rng, service.mean_service_min * 60, demand.service_time_cv)
    patience: float | None = None
    if rng.random() >= demand.never_walk_out_share:
        patience = rng.lognormvariate(math.log(demand.patience_median_min * 60), demand.patience_sigma)
    return Visitor(round(arrival, 1), service.id, purpose, priority, appointment, round(duration, 1),
                   None if patience is None else round(patience, 1))


# --- CSV ----------------------------------------------------------------------------------------

def _opt(value: float | str | None) -> str:
    return "" if value is None else str(value)


def write_csv(visitors: Iterable[Visitor], path: str | Path | None = None) -> str:
    """Write the workload (to ``path`` if given) and return the CSV text."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(HEADER)
    for v in visitors:
        w.writerow([v.arrival_s, v.service, v.purpose, _opt(v.priority), _opt(v.appointment_s), v.service_s,
                    _opt(v.patience_s)])
    text = buf.getvalue()
    if path is not None:
        Path(path).write_text(text, encoding="utf-8")
    return text


def read_csv(source: str | Path | io.TextIOBase, config: SiteConfig | None = None) -> list[Visitor]:
    """Read a workload; with ``config``, unknown services and priority categories are refused."""
    text = Path(source).read_text(encoding="utf-8") if isinstance(source, str | Path) else source.read()
    rows = list(csv.DictReader(io.StringIO(text)))
    if rows and tuple(rows[0].keys()) != HEADER:
        raise ValueError(f"workload header must be {','.join(HEADER)}")
    services = {s.id for s in config.services} if config else None
    categories = {p.id for p in config.priority_categories} if config else None
    out = []
    for n, row in enumerate(rows, start=2):
        try:
            v = Visitor(
                arrival_s=float(row["arrival_s"]), service=row["service"], purpose=row["purpose"] or "consult",
                priority=row["priority"] or None,
                appointment_s=float(row["appointment_s"]) if row["appointment_s"] else None,
                service_s=float(row["service_s"]),
                patience_s=float(row["patience_s"]) if row["patience_s"] else None,
            )
        except (TypeError, ValueError) as exc:
            raise ValueError(f"workload line {n}: {exc}") from exc
        if services is not None and v.service not in services:
            raise ValueError(f"workload line {n}: unknown service {v.service!r}")
        if categories is not None and v.priority is not None and v.priority not in categories:
            raise ValueError(f"workload line {n}: unknown priority category {v.priority!r}")
        if v.service_s < 0 or v.arrival_s < 0:
            raise ValueError(f"workload line {n}: times cannot be negative")
        out.append(v)
    out.sort(key=lambda v: v.arrival_s)
    return out
