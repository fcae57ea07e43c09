"""One counter's presses reaching two server processes on one database leave no visitor behind.

A pad's presses may reach either process (two bridges, a load balancer in front of the REST API).
Each process keeps an in-memory view of the counter; when the other process pressed last, that view
is stale. Whatever the interleaving, every ticket that is called or being served must be the one a
counter shows, and no counter may show a ticket that is already finished: otherwise a citizen stays
"called" forever with no window calling them.
"""

from __future__ import annotations

import datetime as dt
import threading

import pytest

from cherga.broker_bridge.contract import CounterAction
from cherga.server.core.tickets import TicketStatus
from cherga.server.service import OfficeService
from cherga.server.store import Store
from tests.server.helpers import Clock, wide_config

COUNTERS = 6
PRESSES = 40  # per counter


def _called_without_counter(store: Store, office: str) -> tuple[list[str], list[str]]:
    rows = {row.counter: row for row in store.counter_rows(office)}
    shown = {row.ticket_id for row in rows.values() if row.ticket_id}
    open_tickets = [rec for rec in store.active_tickets(office)
                    if rec.ticket.status in (TicketStatus.CALLED, TicketStatus.SERVING)]
    orphans = [rec.ticket.label for rec in open_tickets if rec.ticket.id not in shown]
    stale = []
    for row in rows.values():
        if row.ticket_id:
            rec = store.ticket(row.ticket_id)
            if rec is None or rec.ticket.status not in (TicketStatus.CALLED, TicketStatus.SERVING):
                stale.append(row.counter)
    return orphans, stale


def _alternate(store: Store, *, concurrent: bool) -> None:
    clock = Clock(tick=dt.timedelta(microseconds=50))
    a = OfficeService(wide_config(services=4, counters=COUNTERS), store, clock=clock)
    b = OfficeService(wide_config(services=4, counters=COUNTERS), store, clock=clock)
    for i in range(COUNTERS * PRESSES):
        a.issue_ticket(command_id=f"k{i}", source="kiosk", service=f"s{i % 4}")
    errors: list[BaseException] = []

    def counter(i: int) -> None:
        try:
            for j in range(PRESSES):
                # Presses of one counter land on either process, as a pad's would behind two bridges.
                svc = (a, b)[(j + (j // 3)) % 2]
                svc.counter_action(command_id=f"c{i}-{j}", counter=f"c{i}", action=CounterAction.NEXT,
                                   source="pad")
        except BaseException as exc:
            errors.append(exc)

    if concurrent:
        threads = [threading.Thread(target=counter, args=(i,)) for i in range(COUNTERS)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    else:
        for i in range(COUNTERS):
            counter(i)
    assert not errors, errors[:3]
    orphans, stale = _called_without_counter(store, "wide")
    assert orphans == [], f"{len(orphans)} visitors stay called with no counter showing them: {orphans[:5]}"
    assert stale == [], f"counters {stale} show a ticket that is no longer called"
    finished = sum(1 for e in store.events("wide") if e["kind"] == "finished")
    # Every press but each counter's last finished the visitor before it.
    assert finished == COUNTERS * (PRESSES - 1)


def test_a_counter_pressed_through_two_processes_leaves_nobody_called_on_sqlite(sqlite_store: Store) -> None:
    _alternate(sqlite_store, concurrent=False)


def test_counters_pressed_through_two_processes_at_once_leave_nobody_called_on_sqlite(sqlite_store: Store) -> None:
    _alternate(sqlite_store, concurrent=True)


@pytest.mark.postgres
def test_counters_pressed_through_two_processes_at_once_leave_nobody_called_on_postgresql(pg_url: str) -> None:
    store = Store(pg_url)
    try:
        _alternate(store, concurrent=True)
    finally:
        store.close()
