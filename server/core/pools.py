"""Staffing advice per pool of desks: services that share desks are staffed together.

A service checked on its own against every desk that serves it is never short when it shares
those desks with other services: each of them alone fits, together they do not. So the advice is
computed per *pool*: a set of services and the desks serving any of them (Hall's condition: the
pool's combined load must fit on those desks). Erlang C (:func:`counters_needed`) on the pool's
combined arrivals and their mean visit gives the desks it needs; its busiest hour counts.

Which pools: the connected components of the service–desk graph (services linked by a desk they
share), and, inside each, the blocks between one service and its component: ``{s}``, then every
service the desks of ``{s}`` serve, then every service *their* desks serve, ... up to the
component. So a block of services with its own desks (the residence desks) is checked on those
desks even where two desks link it to the rest of the office. The advice adds desks one pool at
a time, worst shortfall first (ties: the smaller pool), each new desk serving all the pool's
services, and checks again until no pool is short. Pure arithmetic, no I/O.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Hashable, Mapping, Sequence
from typing import Generic, TypeVar

from cherga.server.core.erlang import counters_needed

H = TypeVar("H", bound=Hashable)  # an hour: an int, "09:00", ...


@dataclasses.dataclass(frozen=True, slots=True)
class PoolAdvice(Generic[H]):
    """Desks to add to one pool: each new desk serves all of ``services``."""

    services: tuple[str, ...]
    desks: int  # desks serving any of the services before the advice
    needed: int  # Erlang C at the busiest hour, the services' combined load
    peak_hour: H
    arrivals_per_h: float  # at the busiest hour
    mean_service_s: float  # the pool's mean visit at the busiest hour
    add: int


def components(desk_services: Mapping[str, Sequence[str]]) -> list[tuple[str, ...]]:
    """Services linked by shared desks (connected components), each sorted; sorted by first service."""
    parent: dict[str, str] = {}

    def find(s: str) -> str:
        while parent.setdefault(s, s) != s:
            parent[s] = parent[parent[s]]
            s = parent[s]
        return s

    for services in desk_services.values():
        for s in services:
            find(s)
        for s in services[1:]:
            parent[find(s)] = find(services[0])
    groups: dict[str, list[str]] = {}
    for s in parent:
        groups.setdefault(find(s), []).append(s)
    return sorted(tuple(sorted(g)) for g in groups.values())


def candidate_pools(desk_services: Mapping[str, Sequence[str]]) -> list[frozenset[str]]:
    """Every block from one service out to its component (see the module's docstring)."""
    by_service: dict[str, list[frozenset[str]]] = {}
    for services in desk_services.values():
        block = frozenset(services)
        for s in services:
            by_service.setdefault(s, []).append(block)
    out: set[frozenset[str]] = set()
    for s in by_service:
        pool = frozenset([s])
        while True:
            out.add(pool)
            grown = pool.union(*(b for t in pool for b in by_service[t]))
            if grown == pool:
                break
            pool = grown
    return sorted(out, key=lambda p: (len(p), sorted(p)))


def pool_need(services: frozenset[str], arrivals: Mapping[H, Mapping[str, float]],
              service_s: Mapping[str, float], *, target_wait_s: float, target_share: float
              ) -> tuple[int, H, float, float] | None:
    """(desks needed, busiest hour, arrivals per hour then, mean visit then) for the pool's combined load.

    ``arrivals``: per hour, arrivals per hour of each service; ``service_s``: each service's mean visit.
    None when nobody of the pool came.
    """
    best: tuple[int, H, float, float] | None = None
    for hour, counts in arrivals.items():
        lam = sum(counts.get(s, 0.0) for s in services if service_s.get(s))
        if lam <= 0:
            continue
        work = sum(counts.get(s, 0.0) * service_s[s] for s in services if service_s.get(s)) / lam
        need = counters_needed(lam / 3600, work, target_wait_s=target_wait_s, target_share=target_share)
        if best is None or need > best[0]:
            best = (need, hour, lam, work)
    return best


def pool_advice(desk_services: Mapping[str, Sequence[str]], arrivals: Mapping[H, Mapping[str, float]],
                service_s: Mapping[str, float], *, target_wait_s: float = 900, target_share: float = 0.95,
                max_rounds: int = 500) -> list[PoolAdvice[H]]:
    """Desks to add per pool so that every pool's busiest hour meets the target (module docstring).

    ``desk_services``: each front desk's services. Returns one entry per pool that gets desks, in
    the order the desks were added; empty when no pool is short.
    """
    desks = {d: tuple(s) for d, s in desk_services.items() if s}
    needs: dict[frozenset[str], tuple[int, H, float, float] | None] = {}
    before: dict[frozenset[str], int] = {}
    added: dict[frozenset[str], int] = {}
    for _ in range(max_rounds):
        worst: tuple[int, int, frozenset[str]] | None = None
        for pool in candidate_pools(desks):
            if pool not in needs:
                needs[pool] = pool_need(pool, arrivals, service_s, target_wait_s=target_wait_s,
                                        target_share=target_share)
            wanted = needs[pool]
            if wanted is None:
                continue
            have = sum(1 for s in desks.values() if pool.intersection(s))
            short = wanted[0] - have
            if short > 0 and (worst is None or (short, -len(pool)) > (worst[0], -len(worst[2]))):
                worst = (short, have, pool)
        if worst is None:
            break
        short, have, pool = worst
        before.setdefault(pool, have)
        added[pool] = added.get(pool, 0) + short
        for k in range(short):
            desks[f"\0advice-{len(desks)}-{k}"] = tuple(sorted(pool))
    out = []
    for pool, n in added.items():
        got = needs[pool]
        assert got is not None
        need, hour, lam, work = got
        out.append(PoolAdvice(tuple(sorted(pool)), before[pool], need, hour, round(lam, 2), round(work, 1), n))
    return out
