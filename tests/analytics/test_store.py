"""Reports read from a real store (SQLite, and PostgreSQL) equal the hand-computed ones; retention
prunes raw events while the reports keep their numbers."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from pathlib import Path

import pytest

from cherga.server.analytics.engine import fold
from cherga.server.analytics.records import EventRecord
from cherga.server.analytics.report import ReportQuery, build_report
from cherga.server.analytics.retention import main
from cherga.server.analytics.store import days, load_cells, prune, read_events
from cherga.server.db import schema
from cherga.server.store import Store, sqlite_url
from tests.analytics.eventlog import DAY, KYIV, at, morning
from tests.analytics.office import REPO
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


def test_a_day_already_folded_takes_late_events_from_an_offline_kiosk(sqlite_store: Store) -> None:
    """The morning is folded on the first report; a kiosk then syncs an offline ticket issued at 09:15."""
    write(sqlite_store, morning())
    first = build_report(load_cells(sqlite_store, {"demo": KYIV}, DAY, DAY), q()).table("summary")
    assert sum(first.column("issued")) == 6
    write(sqlite_store, [EventRecord("issued", at("18:00"), "late-1", "demo", "passport",
                                     data={"origin": "offline", "issued_at": at("09:15").isoformat()})])
    again = build_report(load_cells(sqlite_store, {"demo": KYIV}, DAY, DAY),
                         ReportQuery(start=DAY, end=DAY, period="hour", group_by=())).table("summary")
    assert [(r["hour"], r["issued"]) for r in again.as_dicts()] == [("2026-11-02 09:00", 7), ("2026-11-02 10:00", 0)]


def test_today_is_read_live_from_the_raw_events(sqlite_store: Store) -> None:
    write(sqlite_store, morning())
    now = at("09:30")  # the morning is still going on: Olena is at work, A2 is at her counter
    cells = load_cells(sqlite_store, {"demo": KYIV}, DAY, DAY, now=now)
    (row,) = build_report(cells, ReportQuery(start=DAY, end=DAY, period="total", group_by=())).table(
        "summary").as_dicts()
    assert (row["issued"], row["served"], row["no_show"]) == (4, 1, 1)  # A1-A3 and C1; A1 served; A3 gone
    with sqlite_store.reading() as conn:
        assert conn.execute(days.select()).fetchall() == []  # nothing of today is frozen into the day cells


def test_the_retention_command_prunes_old_days(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    store = Store(sqlite_url(tmp_path / "office.db"))
    write(store, morning(office="demo"))
    store.close()
    code = main(["--config", str(REPO / "examples" / "demo-office.yaml"), "--db", sqlite_url(tmp_path / "office.db"),
                 "--days", "7"])
    assert code == 0 and "1 day(s)" in capsys.readouterr().out
    store = Store(sqlite_url(tmp_path / "office.db"))
    assert store.events("demo") == []
    (row,) = build_report(load_cells(store, {"demo": KYIV}, DAY, DAY),
                          ReportQuery(start=DAY, end=DAY, period="total", group_by=())).table("summary").as_dicts()
    assert (row["issued"], row["wait_mean"]) == (6, 10.5)
    store.close()
