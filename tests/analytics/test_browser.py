"""The analytics pages in a real browser: Playwright driving Debian's Chromium against uvicorn on loopback.

Screenshots are checked for what a viewer would notice: the service names and numbers in the
page text, the traffic-light colours as pixels, the charts drawn.
"""

from __future__ import annotations

import io
import json
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from tests.analytics.office import Clock, make_app, play_morning
from tests.support.browser import serving
from tests.support.wait import wait_until

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
    # what a ticket taken now would be told, in the kiosk's words; never the wait so far (40 min)
    assert "не більше" in page.inner_text("tr[data-service=passport] td.forecast") and "40 хв" not in passport
    # social payments: one waiting, no counter open for it: "very high", red
    assert "Дуже висока" in page.inner_text("tr[data-service=social]")
    assert "Низька" in page.inner_text("tr[data-service=residence]")
    shot = page.screenshot(full_page=True)
    (tmp_path / "load-uk.png").write_bytes(shot)
    Path("/tmp/cherga-analytics-load-uk.png").write_bytes(shot)
    with urllib.request.urlopen(f"{url}/load/demo/feed.json") as feed:
        lights = {row["light"] for row in json.load(feed)["services"]}
    assert colours_present(shot) == lights and {"green", "red"} <= lights


def test_the_hall_screen_refreshes_by_itself_when_the_queue_moves(
        page: Any, served: tuple[str, Any, Clock]) -> None:
    url, app, clock = served
    page.goto(f"{url}/load/demo?lang=ky&refresh=5")
    assert "Жарандын паспорту" in page.inner_text("body")
    assert page.inner_text("tr[data-service=residence] td.waiting") == "0"
    app.state.service.issue_ticket(command_id="browser-refresh", source="kiosk-1", service="residence")
    # Polled through page.evaluate: the page's Content-Security-Policy (no 'unsafe-eval') refuses the
    # string evaluation wait_for_function uses.
    wait_until(lambda: page.evaluate(
        "document.querySelector('tr[data-service=residence] td.waiting').textContent === '1'"),
        timeout=15, what="the load page shows the new ticket")
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
    assert page.locator("figure.chart svg:visible").count() == 3
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


# Every text element of the visible charts, as displayed: its font size times the scale from SVG units
# to screen pixels (the viewBox and any rotation), its box, and whether the chart fits the window.
CHART_TEXT = """() => [...document.querySelectorAll('figure.chart svg')].filter(svg => svg.getClientRects().length)
  .flatMap(svg => [...svg.querySelectorAll('text')].filter(t => t.textContent.trim()).map(t => {
    const m = t.getScreenCTM(), box = t.getBoundingClientRect(), svgBox = svg.getBoundingClientRect();
    return {text: t.textContent.trim(), px: parseFloat(getComputedStyle(t).fontSize) * Math.hypot(m.a, m.b),
            height: box.height, right: svgBox.right};
  }))"""


@pytest.mark.parametrize(("width", "height"), [(1920, 1080), (390, 844)])
@pytest.mark.parametrize("lang", ["uk", "ky", "en"])
def test_chart_text_reads_at_14_px_or_more_on_a_desk_and_on_a_phone(
        browser: Any, served: tuple[str, Any, Clock], lang: str, width: int, height: int, tmp_path: Path) -> None:
    """GIVEN the reports page with its three charts, WHEN shown at 1920x1080 and at 390x844, THEN every
    chart text (title, ticks, legend) is displayed at 14 px or more and every chart fits the window."""
    url, _, _ = served
    context = browser.new_context(viewport={"width": width, "height": height})
    page = context.new_page()
    page.goto(f"{url}/reports/signin?next=/reports/demo")
    page.fill("input[name=username]", "manager")
    page.fill("input[name=password]", "cherga-manager")
    page.click("button[type=submit]")
    page.goto(f"{url}/reports/demo?lang={lang}&period=day&group=service")
    page.wait_for_selector("figure.chart svg:visible")
    texts = page.evaluate(CHART_TEXT)
    Path(f"/tmp/cherga-reports-{lang}-{width}.png").write_bytes(page.screenshot(full_page=True))
    context.close()
    assert len({t["text"] for t in texts}) > 10  # titles, legends and ticks of three charts
    small = [(t["text"], round(t["px"], 1)) for t in texts if t["px"] < 14]
    assert not small, f"chart text under 14 px at {width}: {small[:8]}"
    assert all(t["height"] >= 14 for t in texts)
    assert max(t["right"] for t in texts) <= width
