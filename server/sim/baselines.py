"""Simple wait estimates the core's predictor must beat (each is a :class:`WaitPredictor`).

* :class:`AheadTimesMean` — people ahead in the same service × mean service time, divided by the
  open desks that serve the service (the formula most queue systems print).
* :class:`HistoricalMeanWait` — the mean wait of the service's tickets called so far today.
* :class:`LastServedWait` — the wait of the service's last called ticket.

The two learning ones are told about calls through ``observe_call(ticket, now)``, which the
simulator calls when a counter calls a ticket.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping

from cherga.server.core.prediction import Estimate
from cherga.server.core.tickets import Origin, Ticket, TicketStatus
from cherga.server.siteconfig import Counter


def _fifo_ahead(ticket: Ticket, waiting: Iterable[Ticket]) -> int:
    return sum(1 for o in waiting if o.id != ticket.id and o.status is TicketStatus.WAITING
               and o.service == ticket.service and o.waiting_since <= ticket.waiting_since)


class AheadTimesMean:
    def __init__(self, prior_mean_s: Mapping[str, float]) -> None:
        self._sum = {k: v for k, v in prior_mean_s.items()}
        self._n = {k: 1 for k in prior_mean_s}

    def observe_service(self, service: str, duration_s: float) -> None:
        self._sum[service] = self._sum.get(service, 0.0) + duration_s
        self._n[service] = self._n.get(service, 0) + 1

    def estimate(self, ticket: Ticket, waiting: Iterable[Ticket], open_counters: Iterable[Counter],
                 now: dt.datetime) -> Estimate:
        ahead = _fifo_ahead(ticket, waiting)
        desks = sum(1 for c in open_counters if c.weight_for(ticket.service) is not None)
        if desks == 0:
            return Estimate(ahead, None)
        mean = self._sum.get(ticket.service, 600.0) / max(1, self._n.get(ticket.service, 1))
        return Estimate(ahead, ahead * mean / desks)


class _CallObserver:
    def observe_service(self, service: str, duration_s: float) -> None:
        return None

    def observe_call(self, ticket: Ticket, now: dt.datetime) -> None:
        if ticket.origin is Origin.BOOKED:
            return
        self._record(ticket.service, max(0.0, (now - ticket.waiting_since).total_seconds()))

    def _record(self, service: str, wait_s: float) -> None:
        raise NotImplementedError


class HistoricalMeanWait(_CallObserver):
    def __init__(self) -> None:
        self._sum: dict[str, float] = {}
        self._n: dict[str, int] = {}

    def _record(self, service: str, wait_s: float) -> None:
        self._sum[service] = self._sum.get(service, 0.0) + wait_s
        self._n[service] = self._n.get(service, 0) + 1

    def estimate(self, ticket: Ticket, waiting: Iterable[Ticket], open_counters: Iterable[Counter],
                 now: dt.datetime) -> Estimate:
        n = self._n.get(ticket.service, 0)
        return Estimate(_fifo_ahead(ticket, waiting), self._sum[ticket.service] / n if n else 0.0)


class LastServedWait(_CallObserver):
    def __init__(self) -> None:
        self._last: dict[str, float] = {}

    def _record(self, service: str, wait_s: float) -> None:
        self._last[service] = wait_s

    def estimate(self, ticket: Ticket, waiting: Iterable[Ticket], open_counters: Iterable[Counter],
                 now: dt.datetime) -> Estimate:
        return Estimate(_fifo_ahead(ticket, waiting), self._last.get(ticket.service, 0.0))
