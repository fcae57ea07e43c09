"""What the service hands back and hands on: action results, listener changes, the traffic light.

Also the service's clock default and its in-memory picture of one counter.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Mapping
from typing import Any, Literal

from cherga.broker_bridge.contract import CounterState, HallCall, HallState, TicketInfo
from cherga.server.store import CounterRow

CounterStatus = Literal["closed", "idle", "calling", "serving", "paused"]


def utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@dataclasses.dataclass(frozen=True)
class ActionResult:
    status: Literal["ok", "empty"]  # "empty": next on an empty queue (not an error)
    counter: CounterState
    ticket: TicketInfo | None
    hall_call: HallCall | None

    def to_json(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "counter": self.counter.model_dump(mode="json"),
            "ticket": self.ticket.model_dump(mode="json") if self.ticket else None,
            "hall_call": self.hall_call.model_dump(mode="json") if self.hall_call else None,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ActionResult:
        return cls(
            status=data["status"],
            counter=CounterState.model_validate(data["counter"]),
            ticket=TicketInfo.model_validate(data["ticket"]) if data.get("ticket") else None,
            hall_call=HallCall.model_validate(data["hall_call"]) if data.get("hall_call") else None,
        )


@dataclasses.dataclass(frozen=True)
class Change:
    """What listeners (the MQTT bridge) publish after a commit."""

    counter_states: list[CounterState]
    hall_state: HallState | None
    hall_call: HallCall | None


@dataclasses.dataclass
class CounterView:
    """One counter as the service holds it in memory (its durable copy is the store's counter row)."""

    status: CounterStatus = "closed"
    operator: str | None = None
    pause_reason: str | None = None
    ticket_id: str | None = None
    rateable_ticket: str | None = None
    seq: int = 0
    # No default: a counter nobody has used yet is stamped with the service's clock (a test's or a
    # replay's clock is not the wall clock), and its seq 0 tells pages it has no "since" to show.
    updated_at: dt.datetime = dataclasses.field(kw_only=True)

    def row(self, counter: str) -> CounterRow:
        return CounterRow(counter, self.status, self.operator, self.pause_reason, self.ticket_id,
                          self.rateable_ticket, self.seq, self.updated_at)

    @classmethod
    def of(cls, row: CounterRow) -> CounterView:
        return cls(row.status, row.operator, row.pause_reason, row.ticket_id,  # type: ignore[arg-type]
                   row.rateable_ticket, row.seq, updated_at=row.updated_at)


def light_for(minutes: float) -> Literal["green", "yellow", "orange", "red"]:
    """The public traffic light: green under 10 min, yellow to 20, orange to 30, red beyond."""
    if minutes < 10:
        return "green"
    if minutes <= 20:
        return "yellow"
    if minutes <= 30:
        return "orange"
    return "red"


def forecast_light(waiting: int, counters_open: int, point: int | None,
                   avg_wait_min: float) -> Literal["green", "yellow", "orange", "red"]:
    """The public traffic light (load page, its feed, the hall display), by what a ticket taken now
    would be told (its ≈ point).

    People waiting with no counter open are "very high" whatever the numbers say: nobody is calling
    them. A service without a walk-in forecast (by appointment only) goes by how long those waiting
    have waited so far, the only figure it has.
    """
    if waiting and not counters_open:
        return "red"
    return light_for(avg_wait_min if point is None else point)
