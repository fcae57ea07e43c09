"""The panel in a real browser: Playwright driving Debian's Chromium against uvicorn on loopback."""

from __future__ import annotations

import io
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import Image, ImageStat

from cherga.server.service import OfficeService
from tests.panel.conftest import PASSWORD
from tests.support.browser import chromium

pytestmark = pytest.mark.browser


@pytest.fixture
def page(served: str) -> Iterator[object]:
    with chromium() as browser:
        pg = browser.new_page(viewport={"width": 1280, "height": 900})
        pg.set_default_timeout(10_000)
        yield pg


def not_blank(png: bytes) -> bool:
    img = Image.open(io.BytesIO(png)).convert("L")
    return max(ImageStat.Stat(img).stddev) > 10


def test_an_operator_signs_in_presses_next_and_sees_the_called_ticket(
        page: object, served: str, service: OfficeService, tmp_path: Path) -> None:
    from playwright.sync_api import Page, expect

    assert isinstance(page, Page)
    label = service.issue_ticket(command_id="b1", source="kiosk-1", service="passport", purpose="submit").label
    page.goto(f"{served}/panel/signin?lang=uk")
    page.fill("input[name=username]", "olena")
    page.fill("input[name=password]", PASSWORD)
    page.select_option("select[name=counter]", "c1")
    page.click("button.primary")
    expect(page.locator("#waiting-count")).to_have_text("1")
    page.click("button[data-action=next]")
    expect(page.locator("#current-label")).to_have_text(label)
    expect(page.locator(".status")).to_have_text("Виклик")
    assert label in page.inner_text("body") and "Паспорт громадянина" in page.inner_text("body")
    shot = page.screenshot(full_page=True)
    (tmp_path / "panel-after-next.png").write_bytes(shot)
    assert not_blank(shot)
    state = service.counter_state("c1")
    assert state.ticket is not None and state.ticket.label == label


def test_the_page_follows_changes_made_elsewhere_without_reloading(
        page: object, served: str, service: OfficeService) -> None:
    from playwright.sync_api import Page, expect

    assert isinstance(page, Page)
    page.goto(f"{served}/panel/signin?lang=en")
    page.fill("input[name=username]", "olena")
    page.fill("input[name=password]", PASSWORD)
    page.select_option("select[name=counter]", "c1")
    page.click("button.primary")
    expect(page.locator("#live")).to_have_text("Live")
    page.evaluate("window.__marker = 42")  # survives only if the page is never reloaded
    label = service.issue_ticket(command_id=uuid.uuid4().hex, source="kiosk-1", service="passport").label
    expect(page.locator("#waiting-count")).to_have_text("1")
    assert label in page.inner_text("#panel-live")
    # The pad at the same counter presses next (same service layer): the panel shows the call.
    service.counter_action(command_id=uuid.uuid4().hex, counter="c1", action="next", source="pad-c1")  # type: ignore[arg-type]
    expect(page.locator("#current-label")).to_have_text(label)
    assert page.evaluate("window.__marker") == 42


def test_the_hall_manager_issues_a_ticket_for_a_visitor_and_sees_the_load(
        page: object, served: str, service: OfficeService, tmp_path: Path) -> None:
    from playwright.sync_api import Page, expect

    assert isinstance(page, Page)
    page.goto(f"{served}/panel/signin?lang=ky")
    page.fill("input[name=username]", "maria")
    page.fill("input[name=password]", PASSWORD)
    page.select_option("select[name=counter]", "")
    page.click("button.primary")
    page.select_option("select[name=service]", "passport")
    page.select_option("select[name=priority]", "veteran")
    page.click("form[action$='/manager/issue'] button")
    expect(page.locator(".flash")).to_contain_text("Талон берилди: A-001")
    expect(page.locator("#load")).to_contain_text("Жарандын паспорту")
    row = page.locator("#load tr", has_text="Жарандын паспорту")
    expect(row.locator("td.num").first).to_have_text("1")
    # A kiosk issues another ticket: the page refreshes, the number to tell the visitor stays.
    service.issue_ticket(command_id=uuid.uuid4().hex, source="kiosk-1", service="passport")
    expect(row.locator("td.num").first).to_have_text("2")
    expect(page.locator(".flash")).to_contain_text("A-001")
    shot = page.screenshot(full_page=True)
    (tmp_path / "manager.png").write_bytes(shot)
    assert not_blank(shot)
    assert service.waiting_list("c1")[0].priority == "veteran"
