"""Staffing advice: per service and hour of day, the counters needed against the counters that were open.

*Needed* is Erlang C (:func:`server.core.erlang.counters_needed`): the fewest counters for which
95 % of visitors are called within 15 minutes, from the observed arrivals in that hour of day
(tickets issued, averaged over the days the office worked in that hour) and the service's
observed mean service time over the range (the configured prior when nothing was served).

*Open* is the average number of counters at work for the service in that hour: each counter's
signed-in time minus its pauses, credited to the services in proportion to the busy time the
counter gave each of them in that hour of day (a counter idle all hour is split evenly over the
services the site configuration gives it). So a counter serving two services half and half
counts as half a counter for each, which is what Erlang C's "servers" means.

*Pools.* Services that share desks are also staffed together: a shortfall of a group of services
sharing desks shows in no single service's line (each alone fits its share). For every pool of two
or more services (:func:`server.core.pools.candidate_pools` over the configured desks: each block of
services linked by shared desks, out to its component) a line follows the services' lines: its
``service`` is the pool's service ids joined by ``+`` (the report names each), *needed* is Erlang C
on the pool's combined arrivals and their arrival-weighted mean visit (as
:func:`server.core.pools.pool_need`), and *open* is every desk at work that serves any of them,
whole (Hall's condition: the pool's load must fit on those desks).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence

from cherga.server.analytics.engine import Cells
from cherga.server.analytics.report import Column, ReportQuery, Table, select
from cherga.server.analytics.stats import mean, share_over
from cherga.server.core.erlang import counters_needed
from cherga.server.core.pools import candidate_pools

TARGET_WAIT_S = 15 * 60
TARGET_SHARE = 0.95


def staffing_table(cells: Cells, query: ReportQuery, *, prior_service_s: Mapping[str, float] | None = None,
                   counter_services: Mapping[str, Sequence[str]] | None = None,
                   target_wait_s: float = TARGET_WAIT_S, target_share: float = TARGET_SHARE) -> Table:
    chosen = select(cells, query)
    prior_service_s = prior_service_s or {}
    counter_services = counter_services or {}

    days: dict[int, set[object]] = defaultdict(set)  # hour of day -> days the office worked then
    arrivals: dict[tuple[str, int], int] = defaultdict(int)
    waits: dict[tuple[str, int], list[float]] = defaultdict(list)
    durations: dict[str, list[float]] = defaultdict(list)
    busy: dict[tuple[str, int, str], float] = defaultdict(float)  # (counter, hour, service)
    available: dict[tuple[str, int], float] = defaultdict(float)  # (counter, hour)
    for key, cell in chosen.items():
        if cell.issued or cell.open_s or cell.served:
            days[key.hour].add((key.office, key.day))
        if key.service is not None:
            arrivals[(key.service, key.hour)] += cell.issued
            waits[(key.service, key.hour)].extend(cell.waits)
            durations[key.service].extend(cell.services)
            if key.counter is not None:
                busy[(key.counter, key.hour, key.service)] += cell.busy_s
        if key.counter is not None and cell.open_s:
            available[(key.counter, key.hour)] += cell.open_s - sum(cell.pauses.values())

    busy_total: dict[tuple[str, int], float] = defaultdict(float)
    for (counter, hour, _), seconds in busy.items():
        busy_total[(counter, hour)] += seconds
    open_for: dict[tuple[str, int], float] = defaultdict(float)  # (service, hour) -> counter-seconds
    for (counter, hour), seconds in available.items():
        total = busy_total.get((counter, hour), 0.0)
        if total > 0:
            for (c, h, service), b in busy.items():
                if c == counter and h == hour:
                    open_for[(service, hour)] += seconds * b / total
        elif counter_services.get(counter):
            share = seconds / len(counter_services[counter])
            for service in counter_services[counter]:
                open_for[(service, hour)] += share

    services = sorted({s for s, _ in arrivals} | {s for s, _ in open_for})
    rows = []
    for service in services:
        service_s = mean(durations.get(service, [])) or prior_service_s.get(service)
        for hour in sorted(days):
            n_days = len(days[hour])
            per_hour = arrivals.get((service, hour), 0) / n_days
            open_avg = open_for.get((service, hour), 0.0) / (3600 * n_days)
            if per_hour == 0 and open_avg == 0:
                continue
            needed: int | None = None
            if service_s:
                try:
                    needed = counters_needed(per_hour / 3600, service_s, target_wait_s=target_wait_s,
                                             target_share=target_share)
                except ValueError:
                    needed = None
            over = share_over(waits.get((service, hour), []), target_wait_s)
            rows.append([
                service, f"{hour:02d}:00", round(per_hour, 2),
                None if not service_s else round(service_s / 60, 2),
                needed, round(open_avg, 2),
                None if needed is None else round(needed - open_avg, 2),
                None if over is None else round(100 - over, 1),
            ])
    pools = [p for p in candidate_pools({c: list(s) for c, s in counter_services.items() if s}) if len(p) > 1]
    for pool in pools:
        desks = [c for c, served in counter_services.items() if pool.intersection(served)]
        for hour in sorted(days):
            n_days = len(days[hour])
            lam = sum(arrivals.get((s, hour), 0) for s in pool) / n_days
            open_avg = sum(available.get((c, hour), 0.0) for c in desks) / (3600 * n_days)
            if lam == 0 and open_avg == 0:
                continue
            visit = {s: mean(durations.get(s, [])) or prior_service_s.get(s) for s in pool}
            weighted = [(arrivals.get((s, hour), 0), v) for s, v in visit.items() if v]
            count = sum(n for n, _ in weighted)
            service_s = sum(n * v for n, v in weighted) / count if count else None
            needed = None
            if service_s:
                try:
                    needed = counters_needed(lam / 3600, service_s, target_wait_s=target_wait_s,
                                             target_share=target_share)
                except ValueError:
                    needed = None
            over = share_over([w for s in pool for w in waits.get((s, hour), [])], target_wait_s)
            rows.append([
                "+".join(sorted(pool)), f"{hour:02d}:00", round(lam, 2),
                None if not service_s else round(service_s / 60, 2),
                needed, round(open_avg, 2),
                None if needed is None else round(needed - open_avg, 2),
                None if over is None else round(100 - over, 1),
            ])
    return Table("staffing", [
        Column("service", "text"), Column("hour_of_day", "text"), Column("arrivals_per_h", "float"),
        Column("service_mean", "min"), Column("counters_needed"), Column("counters_open", "float"),
        Column("counters_gap", "float"), Column("called_within_15", "pct"),
    ], rows)
