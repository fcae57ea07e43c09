"""A small stand-in for ``server.service.OfficeService`` (docs/service-layer.md), used only until
the real service lands and by tests that need a service that fails on purpose."""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from broker_bridge.contract import CounterState, HallCall, HallState, TicketInfo
from server.errors import Conflict
from server.siteconfig import SiteConfig


@dataclass(frozen=True)
class ActionResult:
    status: Literal["ok", "empty"]
    counter: CounterState
    ticket: TicketInfo | None
    hall_call: HallCall | None


@dataclass(frozen=True)
class Change:
    counter_states: list[CounterState]
    hall_state: HallState | None
    hall_call: HallCall | None


class FakeService:
    """Issues tickets into one FIFO and calls them; remembers command ids in memory."""

    def __init__(self, config: SiteConfig) -> None:
        self.config = config
        self.lock = threading.Lock()
        self.results: dict[str, Any] = {}
        self.applied: list[str] = []
        self.queue: list[TicketInfo] = []
        self.number = 0
        self.listeners: list[Callable[[Change], None]] = []
        self.states = {c.id: self._state(c.id, "idle", None) for c in config.counters}

    def _now(self) -> dt.datetime:
        return dt.datetime.now(dt.UTC)

    def _state(self, counter: str, status: Any, ticket: TicketInfo | None) -> CounterState:
        c = self.config.counter(counter)
        return CounterState(office=self.config.office.id, counter=counter, number=c.number, status=status,
                            ticket=ticket, updated_at=self._now(), waiting=len(getattr(self, "queue", [])))

    def add_listener(self, listener: Callable[[Change], None]) -> None:
        self.listeners.append(listener)

    def issue_ticket(self, *, command_id: str, source: str, service: str | None = None, **_: Any) -> TicketInfo:
        with self.lock:
            if command_id in self.results:
                return self.results[command_id]  # type: ignore[no-any-return]
            if service == "full":
                raise Conflict("daily_cap_reached", "no more tickets today")
            self.number += 1
            t = TicketInfo(ticket_id=f"t{self.number}", label=f"A-{self.number:03d}", prefix="A", number=self.number,
                           service=service or "passport", purpose="consult", status="waiting", issued_at=self._now())
            self.queue.append(t)
            self.results[command_id] = t
            self.applied.append(command_id)
        return t

    def counter_action(self, *, command_id: str, counter: str, action: str, source: str, **_: Any) -> ActionResult:
        with self.lock:
            if command_id in self.results:
                return self.results[command_id]  # type: ignore[no-any-return]
            if action != "next":
                raise Conflict("illegal_transition", f"{action} is not supported by the fake")
            if not self.queue:
                res = ActionResult("empty", self.states[counter], None, None)
                self.results[command_id] = res
                self.applied.append(command_id)
                return res
            t = self.queue.pop(0)
            c = self.config.counter(counter)
            call = HallCall(call_id=command_id, ticket_id=t.ticket_id, label=t.label, prefix=t.prefix, number=t.number,
                            counter=counter, counter_number=c.number, service=t.service, at=self._now())
            self.states[counter] = self._state(counter, "calling", t)
            res = ActionResult("ok", self.states[counter], t, call)
            self.results[command_id] = res
            self.applied.append(command_id)
        for listener in self.listeners:
            listener(Change([res.counter], self.hall_state(), call))
        return res

    def check_in(self, **kwargs: Any) -> TicketInfo:
        raise Conflict("appointment_not_found", "no such booking")

    def take_offline_ticket(self, **kwargs: Any) -> TicketInfo:
        return self.issue_ticket(command_id=kwargs["command_id"], source=kwargs["source"], service=kwargs["service"])

    def counter_state(self, counter: str) -> CounterState:
        return self.states[counter]

    def hall_state(self) -> HallState:
        o = self.config.office
        return HallState(office=o.id, office_names=o.names.as_dict(), languages=list(o.languages), calls=[],  # type: ignore[arg-type]
                         updated_at=self._now())
