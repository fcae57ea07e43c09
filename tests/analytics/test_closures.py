"""Counters the hall manager closed and opened, in the reports (issue 17): the times closed and the minutes
closed per counter, from the engine's fold to the reports page in Chromium in every language."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from cherga.broker_bridge.contract import LANGUAGES, CounterAction
from cherga.server.analytics.engine import Cell, fold
from cherga.server.analytics.report import ReportQuery, build_report
from tests.analytics.eventlog import DAY, KYIV, at, ev, morning
from tests.analytics.office import Clock, make_app
from tests.support.axe import serious
from tests.support.browser import serving


def _closures(events: list[Any], until: str = "23:00") -> list[dict[str, Any]]:
    cells = fold(sorted(events, key=lambda e: e.at), tz=KYIV, office="demo", until=at(until))
    query = ReportQuery(start=DAY, end=DAY, period="day", group_by=("service",))
    return build_report(cells, query).table("counter_closures").as_dicts()


def test_closings_and_closed_minutes_are_counted_per_counter_even_without_employee_rights() -> None:
    """c2 closed 10:30-11:10 (across an hour) and again from 12:50 to the end of the range at 13:00;
    c1 closed 11:00-11:05. The closed time belongs to no operator: Taras's time at work is unchanged."""
    extra = [ev("operator_signed_out", "10:30", counter="c2", operator="taras", reason="closed_by_manager"),
             ev("counter_closed", "10:30", counter="c2", operator="maria"),
             ev("counter_opened", "11:10", counter="c2", operator="maria"),
             ev("counter_closed", "11:00", counter="c1", operator="maria"),
             ev("counter_opened", "11:05", counter="c1", operator="maria"),
             ev("counter_closed", "12:50", counter="c2", operator="maria")]
    assert _closures(morning() + extra, until="13:00") == [
        {"counter": "c1", "closed_times": 1, "closed_min": 5.0},
        {"counter": "c2", "closed_times": 2, "closed_min": 50.0}]
    assert _closures(morning()) == []
    # Employees' time is as without the closings (taras signed out at 10:30 either way).
    base = fold(morning(), tz=KYIV, office="demo", until=at("23:00"))
    staff_query = ReportQuery(start=DAY, end=DAY, period="total", show_employees=True)
    both = fold(sorted(morning() + extra, key=lambda e: e.at), tz=KYIV, office="demo", until=at("13:00"))
    assert build_report(both, staff_query).table("staff").rows == build_report(base, staff_query).table("staff").rows


def test_closings_survive_the_daily_aggregate_and_old_days_still_load() -> None:
    events = sorted(morning() + [ev("counter_closed", "11:00", counter="c1", operator="maria"),
                                 ev("counter_opened", "11:45", counter="c1", operator="maria")], key=lambda e: e.at)
    cells = fold(events, tz=KYIV, office="demo", until=at("23:00"))
    restored = {k: Cell.from_row(json.loads(json.dumps(c.to_row()))) for k, c in cells.items()}
    query = ReportQuery(start=DAY, end=DAY, period="total", group_by=("counter",))
    assert build_report(restored, query).table("counter_closures").as_dicts() == [
        {"counter": "c1", "closed_times": 1, "closed_min": 45.0}]
    old_row = [3, 1, 2, 0, 0, 0, [60.0], [300.0], [-30.0], [[5, 1]], 300.0, 3600.0, [], [], 1]
    assert (Cell.from_row(old_row).closed_count, Cell.from_row(old_row).closed_s) == (0, 0.0)


# --- the reports page, in Chromium -------------------------------------------------------------------

@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Petro works counter 4 from 08:00; the hall manager closes it at 08:10 (he is signed out), opens
    it at 08:40 and closes it again at 09:00; the reports are read at 09:15: twice, 45 minutes."""
    clock = Clock()
    app = make_app(tmp_path_factory.mktemp("office"), clock)
    svc = app.state.service
    clock.set("08:00")
    svc.counter_action(command_id="in", counter="c4", action=CounterAction.SIGN_IN, source="test", operator="petro",
                       pin="2222")
    for hhmm, cid, closed in (("08:10", "x1", True), ("08:40", "o1", False), ("09:00", "x2", True)):
        clock.set(hhmm)
        (svc.close_counter if closed else svc.open_counter)(command_id=cid, counter="c4", source="test",
                                                            operator="manager")
    clock.set("09:15")
    with serving(app) as url:
        yield url
    app.state.store.close()


TITLES = {"uk": "Вікна, закриті адміністратором залу", "ru": "Окна, закрытые администратором зала",
          "ky": "Зал администратору жапкан терезелер", "kk": "Зал әкімшісі жапқан терезелер",
          "en": "Counters closed by the hall manager"}


@pytest.mark.browser
def test_the_reports_page_shows_each_counter_closed_by_the_manager_in_every_language(
        browser: Any, served: str, tmp_path: Path) -> None:
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.set_default_timeout(15_000)
    page.goto(f"{served}/reports/demo?lang=en")
    page.fill("input[name=username]", "manager")
    page.fill("input[name=password]", "cherga-manager")
    page.click("button[type=submit]")
    page.wait_for_url("**/reports/demo**")
    assert set(TITLES) == set(LANGUAGES)
    for lang, title in TITLES.items():
        page.goto(f"{served}/reports/demo?lang={lang}&period=day")
        section = page.locator("#t-counter_closures")
        assert title in section.locator("h2").inner_text(), lang
        rows = [r.split("\t") for r in section.locator("tbody tr").all_inner_texts()]
        assert rows == [["4", "2", "45"]], (lang, rows)
        assert serious(page, f"reports {lang}") == []
    page.close()
