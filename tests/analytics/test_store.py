"""Reports read from a real store (SQLite, and PostgreSQL) equal the hand-computed ones; retention
prunes raw events while the reports keep their numbers."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from pathlib import Path

import pytest

from server.analytics.engine import fold
from server.analytics.records import EventRecord
from server.analytics.report import ReportQuery, build_report
from server.analytics.store import load_cells, prune, read_events
from server.db import schema
from server.store import Store, sqlite_url
from tests.analytics.eventlog import DAY, KYIV, at, morning
from tests.support.postgres import PostgresServer


def write(store: Store, events: Iterable[EventRecord]) -> None:
    with store.transaction() as tx:
        for e in events:
            tx.append_event(e.kind, office=e.office, at=e.at, ticket_id=e.ticket_id, service=e.service,
                            counter=e.counter, operator=e.operator, data=e.data)


def q(start: dt.date = DAY, end: dt.date = DAY) -> ReportQuery:
    return ReportQuery(start=start, end=end, period="day", group_by=("service", "operator"), show_employees=True)


@pytest.fixture
def sqlite_store(tmp_path: Path) -> Store:
    return Store(sqlite_url(tmp_path / "office.db"))


def test_events_read_back_from_sqlite_as_written(sqlite_store: Store) -> None:
    write(sqlite_store, morning())
    back = list(read_events(sqlite_store, ["demo"], at("00:00"), at("23:59")))
    assert back == morning()


def test_monthly_report_from_the_store_equals_the_hand_computed_one(sqlite_store: Store) -> None:
    write(sqlite_store, morning())
    write(sqlite_store, morning(office="other"))  # another office's events stay out
    cells = load_cells(sqlite_store, {"demo": KYIV}, DAY, DAY)
    expected = fold(morning(), tz=KYIV, until=at("00:00", DAY + dt.timedelta(days=1)))
    assert build_report(cells, q()).tables == build_report(expected, q()).tables
    (row,) = build_report(cells, ReportQuery(start=DAY, end=DAY, period="total", group_by=())).table(
        "summary").as_dicts()
    assert (row["issued"], row["served"], row["wait_mean"]) == (6, 4, 10.5)


def test_old_events_are_pruned_after_retention_and_reports_keep_their_numbers(sqlite_store: Store) -> None:
    day2 = DAY + dt.timedelta(days=1)
    write(sqlite_store, morning())
    write(sqlite_store, morning(day2))
    before = build_report(load_cells(sqlite_store, {"demo": KYIV}, DAY, day2), q(DAY, day2)).tables
    now = at("12:00", DAY + dt.timedelta(days=40))
    assert prune(sqlite_store, "demo", KYIV, retain_days=39, now=now) == 1  # only DAY is older than 39 days
    left = sqlite_store.events("demo")
    assert left and all(e["at"] >= at("00:00", day2) for e in left)
    assert not [e for e in left if str(e["ticket_id"]).startswith("demo-2026-11-02")]
    after = build_report(load_cells(sqlite_store, {"demo": KYIV}, DAY, day2), q(DAY, day2)).tables
    assert after == before
    assert prune(sqlite_store, "demo", KYIV, retain_days=39, now=now) == 0  # idempotent
    with sqlite_store.reading() as conn:
        stored = conn.execute(schema.events.select()).fetchall()
    assert len(stored) == len(morning())


@pytest.mark.postgres
def test_reports_from_postgresql_equal_those_from_sqlite(postgres: PostgresServer, sqlite_store: Store) -> None:
    pg = Store(postgres.create_database("analytics_reports"))
    try:
        for store in (pg, sqlite_store):
            write(store, morning())
        tables = [build_report(load_cells(s, {"demo": KYIV}, DAY, DAY), q()).tables for s in (pg, sqlite_store)]
        assert tables[0] == tables[1]
        assert prune(pg, "demo", KYIV, retain_days=1, now=at("12:00", DAY + dt.timedelta(days=3))) == 1
        assert build_report(load_cells(pg, {"demo": KYIV}, DAY, DAY), q()).tables == tables[1]
    finally:
        pg.close()
