"""The analytics pages in a real browser: Playwright driving Debian's Chromium against uvicorn on loopback.

Screenshots are checked for what a viewer would notice: the service names and numbers in the
page text, the four traffic-light colours as pixels, the charts drawn.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from tests.analytics.office import Clock, make_app, play_morning
from tests.support.browser import serving

pytestmark = pytest.mark.browser
LIGHTS = {"green": (0x2E, 0x9E, 0x48), "yellow": (0xF1, 0xC4, 0x0F), "orange": (0xE6, 0x7E, 0x22),
          "red": (0xC0, 0x39, 0x2B)}


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Any, Clock]]:
    clock = Clock()
    app = make_app(tmp_path_factory.mktemp("office"), clock)
    play_morning(app, clock)
    with serving(app) as url:
        yield url, app, clock
    app.state.store.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    pg = browser.new_page(viewport={"width": 1280, "height": 900})
    pg.set_default_timeout(15_000)
    yield pg
    pg.close()


def colours_present(png: bytes, wanted: dict[str, tuple[int, int, int]] = LIGHTS) -> set[str]:
    img = Image.open(io.BytesIO(png)).convert("RGB")
    seen = {tuple(c) for _, c in img.getcolors(maxcolors=1 << 22) or [] if isinstance(c, tuple)}
    return {name for name, rgb in wanted.items()
            if any(all(abs(a - b) <= 6 for a, b in zip(rgb, c, strict=True)) for c in seen)}


def test_the_hall_screen_shows_each_service_with_its_traffic_light(
        page: Any, served: tuple[str, Any, Clock], tmp_path: Path) -> None:
    url, _, _ = served
    page.goto(f"{url}/load/demo?lang=uk")
    body = page.inner_text("body")
    for name in ("Паспорт громадянина", "Закордонний паспорт", "Соціальні виплати", "Реєстрація місця проживання"):
        assert name in body
    passport = page.inner_text("tr[data-service=passport]")
    assert "1" in page.inner_text("tr[data-service=passport] td.waiting")
    assert "40 хв" in passport and "Дуже висока" in passport
    assert "Помірна" in page.inner_text("tr[data-service=foreign-passport]")
    shot = page.screenshot(full_page=True)
    (tmp_path / "load-uk.png").write_bytes(shot)
    Path("/tmp/cherga-analytics-load-uk.png").write_bytes(shot)
    assert colours_present(shot) == {"green", "yellow", "orange", "red"}


def test_the_hall_screen_refreshes_by_itself_when_the_queue_moves(
        page: Any, served: tuple[str, Any, Clock]) -> None:
    url, app, clock = served
    page.goto(f"{url}/load/demo?lang=ky&refresh=5")
    assert "Жарандын паспорту" in page.inner_text("body")
    assert page.inner_text("tr[data-service=residence] td.waiting") == "0"
    app.state.service.issue_ticket(command_id="browser-refresh", source="kiosk-1", service="residence")
    page.wait_for_function(
        "document.querySelector('tr[data-service=residence] td.waiting').textContent === '1'", timeout=15_000)
    assert "мүн" in page.inner_text("tr[data-service=residence]")


def test_a_manager_signs_in_and_reads_charts_and_tables_in_kyrgyz(
        page: Any, served: tuple[str, Any, Clock], tmp_path: Path) -> None:
    url, _, _ = served
    page.goto(f"{url}/reports/demo?lang=ky")
    assert "/reports/signin" in page.url
    page.fill("input[name=username]", "manager")
    page.fill("input[name=password]", "cherga-manager")
    page.click("button[type=submit]")
    page.wait_for_selector("table[data-table=summary]")
    page.goto(f"{url}/reports/demo?lang=ky&period=total&group=service")
    summary = page.inner_text("table[data-table=summary]")
    assert "Жарандын паспорту" in summary and "Берилген талондор" in summary
    row = page.inner_text("table[data-table=summary] tbody tr:has-text('Жарандын паспорту')")
    assert row.split("\t")[:4] == ["Жарандын паспорту", "3", "2", "0"]
    assert page.locator("figure.chart svg").count() == 3
    assert "Олена Коваль" in page.inner_text("table[data-table=staff]")
    shot = page.screenshot(full_page=True)
    (tmp_path / "reports-ky.png").write_bytes(shot)
    Path("/tmp/cherga-analytics-reports-ky.png").write_bytes(shot)
    # The bars of the volume chart: issued in blue, served in orange.
    assert colours_present(shot, {"issued": (0x1F, 0x5F, 0xA8), "served": (0xE0, 0x8A, 0x1E)}) == {"issued", "served"}


def test_the_printable_summary_prints_on_paper(page: Any, served: tuple[str, Any, Clock], tmp_path: Path) -> None:
    url, _, _ = served
    page.goto(f"{url}/reports/signin?next=/reports/demo/print")
    page.fill("input[name=username]", "admin")
    page.fill("input[name=password]", "cherga-admin")
    page.click("button[type=submit]")
    page.wait_for_selector("figure.chart svg")
    assert page.locator("form.filters").count() == 0
    pdf = page.pdf(format="A4")
    (tmp_path / "summary.pdf").write_bytes(pdf)
    assert pdf.startswith(b"%PDF") and len(pdf) > 10_000
