"""An offline ticket's ``issued_at`` is the kiosk's clock: a wrong one must neither lose the citizen
(queued on a closed day) nor put them ahead of everybody (a date far in the past)."""

from __future__ import annotations

import datetime as dt

import pytest

from cherga.broker_bridge.contract import CounterAction
from cherga.server.errors import Invalid
from cherga.server.service import OfficeService
from tests.server.helpers import Clock

WRONG_CLOCKS = {
    "1970": dt.datetime(1970, 1, 1, tzinfo=dt.UTC),
    "yesterday": None,  # filled from the clock
    "year 1": dt.datetime(1, 1, 1, tzinfo=dt.UTC),
    "next week": None,
}


def _offline(service: OfficeService, number: int, issued_at: dt.datetime, **kw: object) -> str:
    return service.take_offline_ticket(command_id=f"k1:o{number}", source="k1", service="passport",
                                       purpose="consult", priority=None, language="uk", number=number,
                                       issued_at=issued_at, **kw).label  # type: ignore[arg-type]


def _call_next(service: OfficeService, cid: str) -> str | None:
    out = service.counter_action(command_id=cid, counter="c1", action=CounterAction.NEXT, source="test")
    return out.ticket.label if out.ticket else None


@pytest.mark.parametrize("which", sorted(WRONG_CLOCKS))
def test_an_offline_ticket_with_a_wrong_kiosk_clock_is_called_in_its_turn(service: OfficeService, clock: Clock,
                                                                          which: str) -> None:
    issued_at = WRONG_CLOCKS[which] or {"yesterday": clock.now - dt.timedelta(days=1),
                                        "next week": clock.now + dt.timedelta(days=7)}[which]
    walk_in = service.issue_ticket(command_id="w1", source="kiosk", service="passport").label
    clock.advance(60)
    label = _offline(service, 901, issued_at)
    assert label == "A-901"
    clock.advance(1)
    service.sweep()  # the sweep cancels yesterday's leftovers: this one is today's
    waiting = sorted(t.label for t in service.waiting_list("c1"))
    assert waiting == sorted([walk_in, "A-901"]), "the citizen holding A-901 must still be in the queue"
    # The walk-in came first; the offline ticket queues from when the server took it, not from year 1.
    assert _call_next(service, "n1") == walk_in
    assert _call_next(service, "n2") == "A-901"


def test_an_offline_ticket_from_earlier_today_keeps_its_place(service: OfficeService, clock: Clock) -> None:
    walk_in = service.issue_ticket(command_id="w1", source="kiosk", service="passport").label
    clock.advance(600)
    _offline(service, 901, clock.now - dt.timedelta(minutes=15))  # printed before the walk-in, handed over later
    assert _call_next(service, "n1") == "A-901"
    assert _call_next(service, "n2") == walk_in


def test_an_offline_number_outside_the_kiosks_own_range_is_refused(service: OfficeService, clock: Clock) -> None:
    with pytest.raises(Invalid) as exc:
        _offline(service, 960, clock.now, own_range=(900, 949))
    assert exc.value.key == "number_not_yours"
    assert service.waiting_list("c1") == []
    assert _offline(service, 949, clock.now, own_range=(900, 949)) == "A-949"
