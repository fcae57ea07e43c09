"""Builders for hall messages the display tests feed in."""

from __future__ import annotations

import datetime as dt

from cherga.broker_bridge.contract import CallEntry, HallCall, HallState, ServiceLoad

T0 = dt.datetime(2026, 11, 25, 8, 30, tzinfo=dt.UTC)  # 10:30 in Kyiv


def at(seconds: float) -> dt.datetime:
    return T0 + dt.timedelta(seconds=seconds)


def call(label: str, counter_number: str, seconds: float = 0.0, *, call_id: str | None = None,
         recall: bool = False) -> HallCall:
    prefix, _, number = label.partition("-")
    return HallCall(call_id=call_id or f"id-{label}-{counter_number}{'-r' if recall else ''}", ticket_id=f"t-{label}",
                    label=label, prefix=prefix, number=int(number), counter=f"c{counter_number}",
                    counter_number=counter_number, service="passport", recall=recall, at=at(seconds))


def entry(label: str, counter_number: str, seconds: float = 0.0, *, call_id: str | None = None) -> CallEntry:
    return CallEntry(call_id=call_id or f"id-{label}-{counter_number}", label=label, counter=f"c{counter_number}",
                     counter_number=counter_number, service="passport", called_at=at(seconds))


def state(*entries: CallEntry, seconds: float = 0.0, office: str = "demo", seq: int = 1,
          languages: tuple[str, ...] = ("uk", "en")) -> HallState:
    return HallState(
        office=office, office_names={"uk": "ЦНАП «Демо»", "en": "Demo Centre"}, languages=list(languages),
        calls=list(entries),
        load=[ServiceLoad(service="passport", names={"uk": "Паспорт", "en": "Passport"}, waiting=7,
                          counters_open=2, avg_wait_min=6.0, light="yellow")],
        ticker={"uk": "Ласкаво просимо!", "en": "Welcome!"}, updated_at=at(seconds), seq=seq,
    )
