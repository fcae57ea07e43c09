"""Staff rotation advice (server/region/rotation.py): a hand-made network whose answer is obvious."""

from __future__ import annotations

import datetime as dt

from cherga.server.analytics.engine import Cell, CellKey
from cherga.server.region.rotation import Demand, Move, OfficeServices, advise, demand_from_cells

TUESDAY = 1
OFFERS = {"a": frozenset({"passport", "birth"}), "b": frozenset({"passport"}), "c": frozenset({"birth"})}


def _d(office: str, hour: int, arrivals: float, desks: float, service: str = "passport", weekday: int = TUESDAY) -> Demand:
    return Demand(office, service, weekday, hour, arrivals, 15 * 60, desks)


def test_idle_desks_at_a_move_to_short_b_for_the_morning_as_one_line() -> None:
    # a: 6 an hour of 15-min visits need 4 desks (95 % called within 15 min); 6 sit there: 2 idle.
    # b: 24 an hour need 8; 4 sit there: 4 short. Whole desks move: 2, from 09:00 to 12:00.
    demand = [d for h in (9, 10, 11) for d in (_d("a", h, 6, 6), _d("b", h, 24, 4))]
    assert _d("a", 9, 6, 6).idle == 2 and _d("b", 9, 24, 4).short == 4
    assert advise(demand, OFFERS) == [Move("passport", "a", "b", TUESDAY, 9, 12, 2)]
    move = advise(demand, OFFERS)[0]
    assert move.weekday_id == "tue" and move.hours == "09:00–12:00"


def test_a_balanced_network_gets_no_advice() -> None:
    demand = [_d("a", h, 6, 4) for h in (9, 10)] + [_d("b", h, 24, 8) for h in (9, 10)]
    assert advise(demand, OFFERS) == []


def test_desks_move_only_for_a_service_both_offices_offer_and_never_a_fraction() -> None:
    # c sits idle on births but does not offer passports: b stays short rather than get c's desks
    demand = [_d("c", 9, 0, 3, service="passport"), _d("b", 9, 24, 4)]
    assert advise(demand, OFFERS) == []
    # b short by less than half a desk: nothing moves
    assert _d("b", 9, 24, 7.6).short == 0
    assert advise([_d("a", 9, 6, 6), _d("b", 9, 24, 7.6)], OFFERS) == []


def test_hours_with_different_moves_stay_apart_and_days_never_merge() -> None:
    demand = [_d("a", 9, 6, 6), _d("b", 9, 24, 4), _d("a", 10, 6, 5), _d("b", 10, 24, 4),
              _d("a", 9, 6, 6, weekday=3), _d("b", 9, 24, 4, weekday=3)]
    assert advise(demand, OFFERS) == [Move("passport", "a", "b", TUESDAY, 9, 10, 2),
                                      Move("passport", "a", "b", TUESDAY, 10, 11, 1),
                                      Move("passport", "a", "b", 3, 9, 10, 2)]


def test_demand_comes_from_the_hourly_cells_averaged_over_the_weekdays_worked() -> None:
    info = {"a": OfficeServices(services=frozenset({"passport"}), prior_service_s={"passport": 600},
                                target_wait_s={"passport": 900}, counter_services={"c1": ["passport"], "c2": ["passport"]})}
    cells = {}
    for day, issued in ((dt.date(2026, 11, 3), 10), (dt.date(2026, 11, 10), 20)):  # two Tuesdays
        cells[CellKey("a", day, 9, "passport", None, None)] = Cell(issued=issued)
        cells[CellKey("a", day, 9, "passport", "c1", "olena")] = Cell(served=2, services=[300.0, 300.0], busy_s=600,
                                                                       open_s=3600)
        cells[CellKey("a", day, 9, None, "c2", "petro")] = Cell(open_s=1800)  # half an hour, idle
    [row] = demand_from_cells(cells, info)
    assert (row.office, row.service, row.weekday, row.hour) == ("a", "passport", TUESDAY, 9)
    assert row.arrivals_per_h == 15  # (10 + 20) / 2 Tuesdays
    assert row.mean_service_s == 300  # observed, not the 600 s prior
    assert row.desks_open == 1.5  # c1 the whole hour, c2 half of it (idle: its own service)
