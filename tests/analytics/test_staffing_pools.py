"""The staffing table has a line per pool of services sharing desks (issue 20): a group of services
short of desks together shows there even when each service's own line spreads the shared desks."""

from __future__ import annotations

import datetime as dt

from cherga.server.analytics.engine import Cell, CellKey
from cherga.server.analytics.export import Labels
from cherga.server.analytics.report import ReportQuery
from cherga.server.analytics.staffing import staffing_table

DAY = dt.date(2026, 3, 2)
DESKS = {"d1": ["passport", "residence"], "d2": ["passport", "residence"], "d3": ["passport", "residence"],
         "d4": ["notary"]}


def key(service: str | None, counter: str | None, hour: int = 9) -> CellKey:
    return CellKey("demo", DAY, hour, service, counter, None)


def morning() -> dict[CellKey, Cell]:
    """09:00-10:00: 6 passport and 6 residence visitors, 10-minute visits, on three shared desks open all
    hour (each spending half its busy time on each service); the notary's own desk, 1 visitor."""
    cells: dict[CellKey, Cell] = {}
    for service in ("passport", "residence"):
        cells[key(service, None)] = Cell(issued=6, waits=[60.0] * 5 + [1200.0], services=[600.0] * 6)
        for desk in ("d1", "d2", "d3"):
            cells[key(service, desk)] = Cell(busy_s=1200.0)
    for desk in ("d1", "d2", "d3", "d4"):
        cells[key(None, desk)] = Cell(open_s=3600.0)
    cells[key("notary", None)] = Cell(issued=1, waits=[0.0], services=[1200.0])
    cells[key("notary", "d4")] = Cell(busy_s=1200.0)
    return cells


def test_a_pool_of_services_on_shared_desks_gets_its_own_line_with_the_combined_load() -> None:
    """Each service alone: 6 an hour of 10-minute visits (1 Erlang) needs 3 desks (two call 92.6 % within
    15 min, three 99.5 %). Together: 12 an hour (2 Erlang) needs 4 (three call 90.1 %, four 99.1 %),
    against the 3 desks that serve them: one short, which the pool's line says."""
    table = staffing_table(morning(), ReportQuery(start=DAY, end=DAY, period="total"),
                           counter_services=DESKS)
    rows = {r["service"]: r for r in table.as_dicts()}
    pool = rows["passport+residence"]
    assert (pool["hour_of_day"], pool["arrivals_per_h"], pool["service_mean"]) == ("09:00", 12.0, 10.0)
    assert (pool["counters_needed"], pool["counters_open"], pool["counters_gap"]) == (4, 3.0, 1.0)
    assert pool["called_within_15"] == round(100 * 10 / 12, 1)
    assert rows["passport"]["counters_needed"] == 3 and rows["passport"]["counters_open"] == 1.5
    assert not any("notary+" in s or "+notary" in s for s in rows)  # its own desk: no pool


def test_without_shared_desks_there_are_only_service_lines() -> None:
    table = staffing_table(morning(), ReportQuery(start=DAY, end=DAY, period="total"),
                           counter_services={"d1": ["passport"], "d2": ["residence"], "d3": ["residence"],
                                             "d4": ["notary"]})
    assert all("+" not in r["service"] for r in table.as_dicts())


def test_the_pool_line_reads_with_the_services_names_in_the_managers_language() -> None:
    labels = Labels("uk", {"service": {"passport": "Паспорт", "residence": "Реєстрація місця проживання"}})
    assert labels.value("service", "passport+residence") == "Паспорт + Реєстрація місця проживання"
