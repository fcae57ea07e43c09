"""Reports built from the hand-computed morning of ``tests/analytics/eventlog.py`` give exact numbers."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from cherga.server.analytics.engine import Cell, fold, merge_cells
from cherga.server.analytics.report import Context, ReportQuery, build_report
from cherga.server.analytics.staffing import staffing_table
from cherga.server.analytics.stats import percentile, share_over
from cherga.server.core.erlang import wait_within_share
from tests.analytics.eventlog import DAY, KYIV, at, morning


@pytest.fixture
def cells() -> dict:
    return fold(morning(), tz=KYIV, office="demo", until=at("23:00"))


def q(**kw: object) -> ReportQuery:
    base: dict[str, object] = {"start": DAY, "end": DAY, "period": "total"}
    base.update(kw)
    return ReportQuery(**base)  # type: ignore[arg-type]


def test_office_totals_count_every_ticket_and_wait(cells: dict) -> None:
    """Waits 2, 5, 5, 13, 18, 20 min: mean 10.5, median 9, p90 (rank 6 of 6) 20, 2 of 6 over 15 min.
    Service times 8, 10, 12, 20: mean 12.5, median 11, p90 (rank 4) 20."""
    table = build_report(cells, q(group_by=())).table("summary")
    (row,) = table.as_dicts()
    assert (row["issued"], row["served"], row["no_show"], row["cancelled"], row["transferred"]) == (6, 4, 1, 1, 1)
    assert (row["wait_mean"], row["wait_median"], row["wait_p90"], row["wait_max"]) == (10.5, 9.0, 20.0, 20.0)
    assert row["waited_over_15"] == 33.3
    assert (row["service_mean"], row["service_median"], row["service_p90"], row["service_max"]) == (
        12.5, 11.0, 20.0, 20.0)


def test_per_service_report_credits_a_transfer_to_the_service_that_served_it(cells: dict) -> None:
    """Passport waits 5, 13 (the transferred C1), 18, 20; residence waited 2 and transferred 1."""
    rows = {r["service"]: r for r in build_report(cells, q()).table("summary").as_dicts()}
    assert set(rows) == {"passport", "residence", "notary"}
    pas = rows["passport"]
    assert (pas["issued"], pas["served"], pas["no_show"], pas["transferred"]) == (3, 3, 1, 0)
    assert (pas["wait_mean"], pas["wait_median"], pas["wait_p90"], pas["waited_over_15"]) == (14.0, 15.5, 20.0, 50.0)
    assert (pas["service_mean"], pas["service_p90"]) == (10.0, 12.0)
    res = rows["residence"]
    assert (res["issued"], res["served"], res["cancelled"], res["transferred"], res["wait_mean"]) == (2, 0, 1, 1, 2.0)
    assert res["service_mean"] is None


def test_booked_visitor_waits_from_the_slot_not_from_an_early_check_in(cells: dict) -> None:
    """Checked in 09:50 for a 10:00 slot, called 10:05: waited 5 minutes, arrived 10 minutes early."""
    report = build_report(cells, q())
    notary = {r["service"]: r for r in report.table("summary").as_dicts()}["notary"]
    assert (notary["wait_mean"], notary["service_mean"]) == (5.0, 20.0)
    (punct,) = report.table("punctuality").as_dicts()
    assert punct == {"service": "notary", "booked": 1, "early": 1, "on_time": 0, "late": 0, "booked_missed": 0,
                     "offset_mean": -10.0, "offset_median": -10.0}


def test_booked_visitors_who_did_not_come_are_counted_per_service() -> None:
    from tests.analytics.eventlog import ev

    events = [*morning(), ev("booking_missed", "10:41", service="notary", code="ABCD-2345", slot="x"),
              ev("booking_missed", "11:11", service="passport", code="EFGH-2345", slot="x")]
    report = build_report(fold(events, tz=KYIV, office="demo", until=at("23:00")), q())
    rows = {r["service"]: r for r in report.table("punctuality").as_dicts()}
    assert (rows["notary"]["booked"], rows["notary"]["booked_missed"]) == (1, 1)
    assert (rows["passport"]["booked"], rows["passport"]["booked_missed"]) == (0, 1)


def test_a_day_stored_before_booked_no_shows_were_counted_still_loads() -> None:
    old_row = [3, 1, 2, 0, 0, 0, [60.0], [300.0], [-30.0], [[5, 1]], 300.0, 3600.0, [], []]
    cell = Cell.from_row(old_row)
    assert (cell.issued, cell.booked_missed) == (3, 0)
    assert Cell.from_row(cell.to_row()) == cell


def test_hourly_report_uses_kyiv_hours(cells: dict) -> None:
    rows = build_report(cells, q(period="hour", group_by=())).table("summary").as_dicts()
    assert [(r["hour"], r["issued"], r["served"]) for r in rows] == [
        ("2026-11-02 09:00", 6, 3), ("2026-11-02 10:00", 0, 1)]


def test_employee_time_splits_into_busy_pause_and_idle(cells: dict) -> None:
    """Olena: open 60 min, busy 11 + 13 + 8 = 32, break 15, idle 13. Taras: open 90, busy 8 + 3 + 20 = 31, idle 59."""
    report = build_report(cells, q(show_employees=True), Context(operator_names={"olena": "Олена К."}))
    staff = {r["operator"]: r for r in report.table("staff").as_dicts()}
    assert staff["Олена К."] == {"operator": "Олена К.", "served": 3, "open_h": 1.0, "busy_h": 0.53, "pause_h": 0.25,
                                 "idle_h": 0.22, "utilisation": 71.1, "service_mean": 10.0}
    assert (staff["taras"]["open_h"], staff["taras"]["busy_h"], staff["taras"]["idle_h"]) == (1.5, 0.52, 0.98)
    assert report.table("pauses").as_dicts() == [
        {"operator": "Олена К.", "pause_reason": "break", "pause_times": 1, "pause_min": 15.0}]


def test_ratings_are_counted_per_face_for_the_employee_who_served(cells: dict) -> None:
    report = build_report(cells, q(show_employees=True))
    (olena,) = report.table("ratings_staff").as_dicts()
    assert olena == {"operator": "olena", "ratings": 3, "score_1": 2, "score_2": 1, "score_3": 0, "score_4": 0,
                     "score_mean": 1.33}
    (passport,) = report.table("ratings_service").as_dicts()
    assert (passport["service"], passport["ratings"], passport["score_1"]) == ("passport", 3, 2)


def test_reports_hide_employees_from_viewers_not_allowed_to_see_them(cells: dict) -> None:
    report = build_report(cells, q(group_by=("service", "operator"), show_employees=False))
    names = [t.name for t in report.tables]
    assert "staff" not in names and "pauses" not in names and "ratings_staff" not in names
    summary = report.table("summary")
    assert "operator" not in [c.key for c in summary.columns]
    assert "olena" not in repr(report.tables)


def test_a_second_day_and_a_second_office_roll_up_by_month_and_territory() -> None:
    day2 = DAY + dt.timedelta(days=1)
    events = sorted(morning() + morning(day2) + morning(office="east"), key=lambda e: e.at)
    cells = fold(events, tz=KYIV, until=at("23:00", day2))
    ctx = Context(territories={"demo": "kryvyi-rih", "east": "kryvyi-rih"})
    rows = build_report(cells, q(end=day2, period="month", group_by=("territory",)), ctx).table("summary").as_dicts()
    assert [(r["month"], r["territory"], r["issued"], r["served"], r["wait_mean"]) for r in rows] == [
        ("2026-11", "kryvyi-rih", 18, 12, 10.5)]


def test_daily_aggregates_give_the_same_report_as_raw_events(cells: dict) -> None:
    restored = {k: Cell.from_row(json.loads(json.dumps(c.to_row()))) for k, c in cells.items()}
    for query in (q(), q(show_employees=True, group_by=("counter", "operator"), period="hour")):
        assert build_report(restored, query).tables == build_report(cells, query).tables
    doubled = merge_cells(cells, restored)
    (row,) = build_report(doubled, q(group_by=())).table("summary").as_dicts()
    assert (row["issued"], row["wait_mean"]) == (12, 10.5)


def test_fifteen_minute_share_and_p90_follow_their_definitions() -> None:
    waits = [60.0 * m for m in (1, 14, 15, 15.5, 16, 30, 2, 3, 4, 5)]
    assert share_over(waits) == 30.0  # 15.5, 16 and 30 are over; exactly 15 is not
    assert percentile(waits, 90) == 60.0 * 16  # rank 9 of 10


def test_staffing_advice_matches_erlang_c(cells: dict) -> None:
    """Passports at 09:00: 3 arrivals in the hour, 10-minute visits: a = 0.5 Erlang.
    One counter calls 76 % within 15 minutes, two call 98.9 %: two are needed. Open: Olena's 45
    working minutes all went to passports, Taras gave passports 3 of his 11 busy minutes: 1.02."""
    assert round(wait_within_share(1, 3 / 3600, 600, 900), 3) == 0.764
    assert round(wait_within_share(2, 3 / 3600, 600, 900), 3) == 0.989
    table = staffing_table(cells, q())
    rows = {(r["service"], r["hour_of_day"]): r for r in table.as_dicts()}
    pas = rows[("passport", "09:00")]
    assert (pas["arrivals_per_h"], pas["service_mean"], pas["counters_needed"], pas["counters_open"]) == (
        3.0, 10.0, 2, 1.02)
    assert pas["counters_gap"] == 0.98
    assert pas["called_within_15"] == 50.0
    assert rows[("residence", "09:00")]["counters_open"] == 0.73
    assert rows[("notary", "10:00")]["counters_open"] == 0.5
