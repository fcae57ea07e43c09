"""Many counters pressing "next" at once never get the same ticket, on SQLite and on PostgreSQL.

Twenty counters, all serving the same twenty services, press "next" 60 times each (500 under
``CHERGA_SOAK=full``) from their own threads, on each store. In shorter runs on both stores half of
them go through a second :class:`OfficeService` on the same database, the way a second server
process would: its view goes stale, and only the store's compare-and-set keeps two counters from
calling one ticket. The counters start together at a barrier, so the races happen at any size.
"""

from __future__ import annotations

import collections
import datetime as dt
import threading

import pytest

from cherga.broker_bridge.contract import CounterAction
from cherga.server.service import OfficeService
from cherga.server.store import Store
from tests.server.helpers import Clock, wide_config
from tests.support.soak import soak_size

COUNTERS = 20
PRESSES = soak_size(60, 500)  # per counter
STALE_PRESSES = soak_size(30, 60)  # per counter, with two server processes: every race is a retry


def _issue(svc: OfficeService, n: int, kiosks: int = 8) -> None:
    """``n`` tickets from ``kiosks`` concurrent kiosks (their commits are grouped)."""

    def kiosk(k: int) -> None:
        for i in range(k, n, kiosks):
            svc.issue_ticket(command_id=f"k{i}", source=f"kiosk{k}", service=f"s{i % 20}",
                             priority="veteran" if i % 7 == 0 else None)

    threads = [threading.Thread(target=kiosk, args=(k,)) for k in range(kiosks)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert svc.waiting_total() == n


def _press_all(services: list[OfficeService], presses: int) -> tuple[list[str], list[BaseException]]:
    called: list[str] = []
    errors: list[BaseException] = []
    lock = threading.Lock()
    start = threading.Barrier(COUNTERS)

    def counter(i: int) -> None:
        svc = services[i % len(services)]
        start.wait()
        try:
            for j in range(presses):
                r = svc.counter_action(command_id=f"c{i}-{j}", counter=f"c{i}", action=CounterAction.NEXT,
                                       source="pad")
                if r.ticket is not None:
                    with lock:
                        called.append(r.ticket.ticket_id)
        except BaseException as exc:  # reported below with the counter that failed
            errors.append(exc)

    threads = [threading.Thread(target=counter, args=(i,)) for i in range(COUNTERS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return called, errors


def _assert_no_ticket_called_twice(store: Store, called: list[str], tickets: int) -> None:
    assert len(called) == tickets, f"{tickets - len(called)} presses found nobody"
    twice = [t for t, n in collections.Counter(called).items() if n > 1]
    assert not twice, f"{len(twice)} tickets were called twice"
    log = collections.Counter(e["ticket_id"] for e in store.events("wide") if e["kind"] == "called")
    assert len(log) == tickets and max(log.values()) == 1


def _run(store: Store, *, processes: int, presses: int = PRESSES) -> None:
    clock = Clock(tick=dt.timedelta(microseconds=50))
    first = OfficeService(wide_config(), store, clock=clock)
    _issue(first, COUNTERS * presses)
    # Further services on the same database behave like further server processes: stale views.
    services = [first] + [OfficeService(wide_config(), store, clock=clock) for _ in range(processes - 1)]
    called, errors = _press_all(services, presses)
    assert not errors, errors[:3]
    _assert_no_ticket_called_twice(store, called, COUNTERS * presses)


@pytest.mark.slow
def test_twenty_counters_never_call_a_ticket_twice_on_sqlite(sqlite_store: Store) -> None:
    _run(sqlite_store, processes=1)


@pytest.mark.slow
def test_two_server_processes_on_one_sqlite_file_never_call_a_ticket_twice(sqlite_store: Store) -> None:
    _run(sqlite_store, processes=2, presses=STALE_PRESSES)


@pytest.mark.slow
@pytest.mark.postgres
def test_twenty_counters_never_call_a_ticket_twice_on_postgresql(pg_url: str) -> None:
    store = Store(pg_url)
    try:
        _run(store, processes=1)
    finally:
        store.close()


@pytest.mark.slow
@pytest.mark.postgres
def test_two_server_processes_on_postgresql_never_call_a_ticket_twice(pg_url: str) -> None:
    store = Store(pg_url)
    try:
        _run(store, processes=2, presses=STALE_PRESSES)
    finally:
        store.close()


def test_numbers_stay_unique_when_two_services_issue_at_once(any_store: Store) -> None:
    clock = Clock(tick=dt.timedelta(microseconds=50))
    a = OfficeService(wide_config(), any_store, clock=clock)
    b = OfficeService(wide_config(), any_store, clock=clock)
    labels: list[str] = []
    lock = threading.Lock()

    def issue(svc: OfficeService, prefix: str) -> None:
        for i in range(150):
            t = svc.issue_ticket(command_id=f"{prefix}{i}", source="kiosk", service=f"s{i % 3}")
            with lock:
                labels.append(t.label)

    threads = [threading.Thread(target=issue, args=(svc, p)) for svc, p in ((a, "a"), (b, "b"), (a, "c"), (b, "d"))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(labels) == 600 and len(set(labels)) == 600
