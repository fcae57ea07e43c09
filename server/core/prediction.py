"""Wait prediction: people ahead and an estimated wait for a ticket.

A :class:`WaitPredictor` is a replaceable policy; :class:`ServiceRatePredictor` is v1. It learns
each service's mean service time from finished visits (an exponentially weighted mean starting
from the configured prior) and divides the work ahead by the counters that serve the service,
each counted by the share of its attention the service gets.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Iterable, Mapping
from typing import Protocol

from server.core.scheduling import PolicySettings, score
from server.core.tickets import Ticket, TicketStatus
from server.siteconfig import Counter


@dataclasses.dataclass(frozen=True, slots=True)
class Estimate:
    people_ahead: int
    wait_s: float | None  # None: no counter open for the service, no estimate

    @property
    def wait_min(self) -> int | None:
        return None if self.wait_s is None else int(round(self.wait_s / 60))


class WaitPredictor(Protocol):
    def observe_service(self, service: str, duration_s: float) -> None: ...

    def estimate(self, ticket: Ticket, waiting: Iterable[Ticket], open_counters: Iterable[Counter],
                 now: dt.datetime) -> Estimate: ...


class ServiceRatePredictor:
    """v1: (work ahead + own slack) / effective counters, with learned mean service times."""

    def __init__(self, prior_mean_s: Mapping[str, float], settings: PolicySettings, alpha: float = 0.1) -> None:
        self._mean = dict(prior_mean_s)
        self._settings = settings
        self._alpha = alpha

    def mean_service_s(self, service: str) -> float:
        return self._mean.get(service, 600.0)

    def observe_service(self, service: str, duration_s: float) -> None:
        if duration_s <= 0:
            return
        old = self._mean.get(service, duration_s)
        self._mean[service] = (1 - self._alpha) * old + self._alpha * duration_s

    def people_ahead(self, ticket: Ticket, waiting: Iterable[Ticket], now: dt.datetime,
                     counters: Iterable[Counter]) -> int:
        """Waiting tickets of the same service that the policy ranks above this one now."""
        counters = list(counters)
        ref = next((c for c in counters if c.weight_for(ticket.service) is not None), None)
        ahead = 0
        for other in waiting:
            if other.id == ticket.id or other.status is not TicketStatus.WAITING or other.service != ticket.service:
                continue
            if ref is None:
                ahead += other.waiting_since <= ticket.waiting_since
            elif score(other, ref, now, self._settings) >= score(ticket, ref, now, self._settings):
                ahead += 1
        return ahead

    def estimate(self, ticket: Ticket, waiting: Iterable[Ticket], open_counters: Iterable[Counter],
                 now: dt.datetime) -> Estimate:
        waiting = list(waiting)
        counters = list(open_counters)
        ahead = self.people_ahead(ticket, waiting, now, counters)
        capacity = 0.0
        for c in counters:
            w = c.weight_for(ticket.service)
            if w is None:
                continue
            total = sum(s.weight for s in c.services) or 1.0
            capacity += w / total
        if capacity <= 0:
            return Estimate(ahead, None)
        # Work ahead: the people ahead, plus half a visit for whoever is at the counter now.
        work = (ahead + 0.5) * self.mean_service_s(ticket.service)
        return Estimate(ahead, work / capacity)


def default_predictor(prior_mean_s: Mapping[str, float], settings: PolicySettings) -> WaitPredictor:
    """The predictor an office uses unless told otherwise."""
    return ServiceRatePredictor(prior_mean_s, settings)
