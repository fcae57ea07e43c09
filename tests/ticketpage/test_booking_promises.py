"""Booking on a phone (Chromium, 390 px): the code's QR is at least 150 px and a scanner reads it
(zbarimg, as a kiosk's scanner would), and the page promises only what happens: "a late visitor
gets an ordinary ticket" for a walk-in service, what really happens for one taken by appointment only."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from cherga.server.mirror.i18n import catalog
from tests.ticketpage.conftest import Office

pytestmark = pytest.mark.browser


def book(page: Any, served: str, service: str, lang: str) -> str:
    """Book the first free slot of ``service`` through the page; the confirmation's code."""
    page.goto(f"{served}/office/demo/book?lang={lang}&service={service}")
    page.locator("a.b").first.click()  # the first day with free time
    page.locator("button[name=slot]").first.click()
    page.locator(".code").wait_for()
    return str(page.inner_text(".code")).strip()


@pytest.mark.parametrize("lang", ["uk", "ky", "en"])
def test_the_booking_qr_is_big_enough_to_scan_and_the_promise_fits_the_service(
        browser: Any, served: str, office: Office, lang: str, tmp_path: Path) -> None:
    t = catalog(lang)
    page = browser.new_page(viewport={"width": 390, "height": 844})
    early, late = office.service.config.appointments.early_s // 60, office.service.config.appointments.late_grace_s // 60

    code = book(page, served, "passport", lang)
    box = page.locator("svg.qr").bounding_box()
    assert box is not None and box["width"] >= 150 and box["height"] >= 150, box
    assert t["how"].format(early=early, late=late) in page.inner_text(".how")
    assert page.evaluate("document.scrollingElement.scrollWidth") <= 390
    if shutil.which("zbarimg"):
        shot = tmp_path / "qr.png"
        page.locator(".qrbox").screenshot(path=str(shot))
        read = subprocess.run(["zbarimg", "--quiet", "--raw", str(shot)], capture_output=True, text=True, check=False)
        assert read.stdout.strip() == code

    book(page, served, "notary", lang)  # by appointment only: no walk-ins
    how = page.inner_text(".how")
    assert how == t["how_appointment_only"].format(early=early, late=late)
    promise = t["how"].format(early=early, late=late).split(". ")[-1]  # "... you get an ordinary ticket."
    assert promise and promise not in how, how
    page.close()
