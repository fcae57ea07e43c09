"""Builders for counter states and replies the server would send a pad."""

from __future__ import annotations

import datetime as dt

from cherga.broker_bridge.contract import CounterState, Reply, TicketInfo

T0 = dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.UTC)


def ticket(label: str = "A-012", ticket_id: str = "t12") -> TicketInfo:
    prefix, number = label.split("-")
    return TicketInfo(ticket_id=ticket_id, label=label, prefix=prefix, number=int(number), service="passport",
                      purpose="submit", status="called", issued_at=T0)


def state(status: str = "idle", *, operator: str | None = "olena", label: str | None = None, seq: int = 1,
          rateable: str | None = None, counter: str = "c1") -> CounterState:
    return CounterState(office="demo", counter=counter, number="1", status=status,  # type: ignore[arg-type]
                        ticket=ticket(label) if label else None, operator=operator, rateable_ticket=rateable,
                        updated_at=T0 + dt.timedelta(seconds=seq), seq=seq)


def reply(cid: str, status: str = "ok", *, key: str | None = None, counter: CounterState | None = None) -> Reply:
    body = {"key": key, "message": key} if key else None
    return Reply.model_validate({"id": cid, "status": status, "error": body,
                                 "counter": counter.model_dump() if counter else None})
