"""The event log's two ends in the store (server/region/eventlog.py): what the office reads never skips
an event a slower transaction is still writing, and the region stores each event once, in order."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from cherga.broker_bridge.contract import LoggedEvent
from cherga.server.region.eventlog import BatchRefused, SettledHorizon, cursor_of, events_after, store_batch
from cherga.server.store import Store, Tx, sqlite_url
from tests.support.postgres import PostgresServer
from tests.support.wait import wait_until

AT = dt.datetime(2026, 3, 4, 8, 0, tzinfo=dt.UTC)


def ev(seq: int, kind: str = "issued") -> LoggedEvent:
    return LoggedEvent(seq=seq, kind=kind, ticket_id=f"t{seq}", at=AT)


def held(store: Store, office: str) -> list[int]:
    return [e["origin_seq"] for e in store.events(office)]


@pytest.fixture(params=["sqlite", "postgresql"])
def region_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    """The region's store on both databases (PostgreSQL takes the array statements, SQLite the plain ones)."""
    if request.param == "sqlite":
        store = Store(sqlite_url(tmp_path / "region.db"))
    else:
        pg: PostgresServer = request.getfixturevalue("postgres")
        store = Store(pg.create_database(f"region_{uuid.uuid4().hex[:8]}"))
    yield store
    store.close()


def test_a_batch_that_follows_on_is_stored_and_moves_the_cursor(region_store: Store) -> None:
    got = store_batch(region_store, "north", 0, [ev(1), ev(2), ev(5)], AT)
    assert (got.upto, got.gap, got.added) == (5, False, 3)
    assert held(region_store, "north") == [1, 2, 5] and cursor_of(region_store, "north") == 5
    # the next batch starts after 5 (seqs need not be contiguous: other offices share the office database)
    assert store_batch(region_store, "north", 5, [ev(9)], AT).upto == 9
    # what the reports read is what the office wrote (time, data, every field)
    sent = LoggedEvent(seq=12, kind="finished", ticket_id="t12", service="passport", counter="c1", operator="olena",
                       at=AT + dt.timedelta(minutes=7, microseconds=5), data={"result": "done", "note": "Ң Ө Ү"})
    store_batch(region_store, "north", 9, [sent], AT)
    row = region_store.events("north")[-1]
    assert {k: row[k] for k in ("kind", "ticket_id", "service", "counter", "operator", "at", "data", "origin_seq")} == {
        "kind": "finished", "ticket_id": "t12", "service": "passport", "counter": "c1", "operator": "olena",
        "at": sent.at, "data": sent.data, "origin_seq": 12}


def test_a_resent_batch_is_stored_once(region_store: Store) -> None:
    store_batch(region_store, "north", 0, [ev(1), ev(2), ev(3)], AT)
    again = store_batch(region_store, "north", 0, [ev(1), ev(2), ev(3)], AT)
    assert (again.upto, again.gap, again.added) == (3, False, 0)
    # a go-back that overlaps: the held part is skipped, the rest stored
    more = store_batch(region_store, "north", 1, [ev(2), ev(3), ev(4)], AT)
    assert (more.upto, more.added) == (4, 1)
    assert held(region_store, "north") == [1, 2, 3, 4]


def test_a_batch_that_skips_events_gets_gap_and_stores_nothing(region_store: Store) -> None:
    store_batch(region_store, "north", 0, [ev(1), ev(2)], AT)
    gap = store_batch(region_store, "north", 4, [ev(5), ev(6)], AT)
    assert (gap.upto, gap.gap, gap.added) == (2, True, 0)
    # starting before the cursor but jumping over its event: the region cannot know nothing lies between
    assert store_batch(region_store, "north", 1, [ev(3)], AT).gap
    assert held(region_store, "north") == [1, 2]


def test_a_batch_whose_seqs_do_not_increase_is_refused(region_store: Store) -> None:
    with pytest.raises(BatchRefused):
        store_batch(region_store, "north", 3, [ev(2)], AT)
    with pytest.raises(BatchRefused):
        store_batch(region_store, "north", 0, [ev(2), ev(2)], AT)
    assert held(region_store, "north") == [] and cursor_of(region_store, "north") == 0


def test_offices_keep_their_own_cursors(region_store: Store) -> None:
    store_batch(region_store, "north", 0, [ev(1), ev(2)], AT)
    store_batch(region_store, "mobile", 0, [ev(1)], AT)
    assert held(region_store, "north") == [1, 2] and held(region_store, "mobile") == [1]


def _append(tx: Tx, office: str) -> int:
    return tx.append_event("issued", office=office, at=AT, ticket_id=uuid.uuid4().hex)


def test_on_postgresql_the_office_never_reads_past_an_event_still_being_written(postgres: PostgresServer) -> None:
    store = Store(postgres.create_database(f"office_{uuid.uuid4().hex[:8]}"))
    office = "north"
    try:
        with store.transaction() as tx:
            first = _append(tx, office)
        horizon = SettledHorizon(store)
        horizon.current()  # a mark taken while nothing is being written: the first event settles at the next look
        slow = store.engine.connect()
        slow_tx = slow.begin()
        slow_seq = _append(Tx(slow), office)  # drawn, not committed (a transaction still at work)
        with store.transaction() as tx:
            fast_seq = _append(tx, office)  # a later seq, committed first
        assert first < slow_seq < fast_seq
        # a plain reader sees the later event and not the slower one: moving its cursor there would skip it
        assert [e.seq for e in events_after(store, office, first, 100)] == [fast_seq]
        for _ in range(3):
            upto = horizon.current()
            assert upto is not None and upto < slow_seq
            assert [e.seq for e in events_after(store, office, 0, 100, upto)] == [first]
        slow_tx.commit()
        slow.close()
        upto = wait_until(lambda: (horizon.current() or 0) >= fast_seq and horizon.current(), what="the horizon")
        assert [e.seq for e in events_after(store, office, 0, 100, upto)] == [first, slow_seq, fast_seq]
    finally:
        store.close()


def test_on_sqlite_there_is_no_horizon(tmp_path: Path) -> None:
    store = Store(sqlite_url(tmp_path / "office.db"))
    assert SettledHorizon(store).current() is None


def test_batches_that_arrived_together_are_decided_in_arrival_order(region_store: Store) -> None:
    from cherga.server.region.eventlog import store_batches

    results = store_batches(region_store, [
        ("north", 0, [ev(1), ev(2)]),
        ("mobile", 0, [ev(1)]),
        ("north", 2, [ev(3)]),  # follows the first batch of the same group
        ("north", 7, [ev(8)]),  # skips 4..7: gap, nothing stored
        ("mobile", 1, [ev(1)]),  # seqs not above after: refused
        ("north", 0, [ev(1), ev(2), ev(3)]),  # a resend: held already
    ], AT)
    assert [(r.upto, r.gap, r.added) if not isinstance(r, BatchRefused) else "refused" for r in results] == [
        (2, False, 2), (1, False, 1), (3, False, 1), (3, True, 0), "refused", (3, False, 0)]
    assert held(region_store, "north") == [1, 2, 3] and held(region_store, "mobile") == [1]
    assert cursor_of(region_store, "north") == 3
