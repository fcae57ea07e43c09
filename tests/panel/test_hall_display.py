"""The browser hall display matches the TV program: readable while it blinks, office time, the ticker
in each configured language, and the chime with the spoken call. Real Chromium against uvicorn."""

from __future__ import annotations

import io
import re
import wave
from typing import Any

import pytest

from cherga.broker_bridge.contract import CounterAction
from cherga.server.service import OfficeService

pytestmark = pytest.mark.browser


def _rgb(css: str) -> tuple[float, ...]:
    return tuple(float(x) for x in re.findall(r"[\d.]+", css)[:3])


def _contrast(a: tuple[float, ...], b: tuple[float, ...]) -> float:
    def lum(c: tuple[float, ...]) -> float:
        ch = [v / 255 for v in c]
        lin = [v / 12.92 if v <= 0.03928 else ((v + 0.055) / 1.055) ** 2.4 for v in ch]
        return 0.2126 * lin[0] + 0.7152 * lin[1] + 0.0722 * lin[2]
    hi, lo = sorted((lum(a), lum(b)), reverse=True)
    return (hi + 0.05) / (lo + 0.05)


def _call(service: OfficeService, n: int = 1) -> None:
    for i in range(n):
        service.issue_ticket(command_id=f"h{i}", source="test", service="residence", language="uk")
    service.counter_action(command_id="n1", counter="c5", action=CounterAction.NEXT, source="test", operator=None)


def test_the_blinking_newest_call_is_readable_at_every_instant(browser: Any, served: str,
                                                              service: OfficeService) -> None:
    _call(service)
    page = browser.new_page(viewport={"width": 1920, "height": 1080})
    page.goto(f"{served}/office/demo/hall")
    cell = page.locator("tr.newest.blink td").first
    cell.wait_for()
    assert cell.inner_text() == "C-001"
    # Step the blink animation through one whole period (the Web Animations clock, not wall time).
    samples = page.evaluate("""() => {
        const td = document.querySelector('tr.newest.blink td');
        const anims = td.getAnimations();
        const out = [];
        for (let t = 0; t < 1000; t += 25) {
            anims.forEach(a => { a.pause(); a.currentTime = t; });
            const cs = getComputedStyle(td);
            out.push([t, cs.color, cs.backgroundColor]);
        }
        return [anims.length, out];
    }""")
    count, frames = samples
    assert count >= 1, "the newest call does not blink"
    ratios = [(t, _contrast(_rgb(fg), _rgb(bg))) for t, fg, bg in frames]
    worst = min(ratios, key=lambda x: x[1])
    assert worst[1] >= 4.5, f"at {worst[0]} ms of the blink the text contrast is {worst[1]:.2f}:1"
    # It does blink: two distinct pictures within the period, as on the TV (yellow <-> blue).
    assert len({(fg, bg) for _, fg, bg in frames}) == 2
    page.close()


def test_the_clock_shows_the_offices_time_not_the_viewers(browser: Any, served: str) -> None:
    # The server's clock reads 08:00 UTC on 2 March 2026: 10:00 in Kyiv, 03:00 in New York.
    context = browser.new_context(timezone_id="America/New_York", viewport={"width": 1920, "height": 1080})
    page = context.new_page()
    page.goto(f"{served}/office/demo/hall")
    page.wait_for_function("document.getElementById('clock').textContent.length > 0")
    assert re.fullmatch(r"10:0\d", page.inner_text("#clock")), page.inner_text("#clock")
    context.close()


def test_the_ticker_follows_every_configured_language_and_never_borrows_another(
        browser: Any, served: str, service: OfficeService) -> None:
    cfg = service.config
    ticker = cfg.display.ticker.as_dict() if cfg.display.ticker else {}
    page = browser.new_page(viewport={"width": 1920, "height": 1080})
    page.clock.install()
    page.goto(f"{served}/office/demo/hall")
    page.wait_for_function("document.getElementById('office').textContent.length > 0")
    seen: dict[str, str] = {}
    for _ in range(60):
        lang = page.evaluate("document.documentElement.lang")
        seen.setdefault(lang, page.inner_text("#ticker").strip())
        if len(seen) == len(cfg.office.languages):
            break
        page.clock.run_for(1000)
    assert sorted(seen) == sorted(cfg.office.languages)
    for lang, text in seen.items():
        assert text == ticker.get(lang, ""), f"{lang}: {text!r}"
    assert seen["en"] == ticker["en"] and seen["ru"] == ""  # the demo has no Russian ticker text
    page.close()


def test_a_call_is_spoken_after_sound_is_turned_on_once(browser: Any, served: str, service: OfficeService) -> None:
    page = browser.new_page(viewport={"width": 1920, "height": 1080})
    page.goto(f"{served}/office/demo/hall")
    button = page.locator("#sound")
    button.wait_for()
    assert button.is_visible()
    button.click()
    assert not button.is_visible()
    with page.expect_response(lambda r: "/hall/call/" in r.url, timeout=60_000) as got:
        _call(service)
    response = got.value
    assert response.status in (200, 206) and response.headers["content-type"] == "audio/wav"  # 206: a range
    whole = page.request.get(response.url)
    with wave.open(io.BytesIO(whole.body())) as w:
        seconds = w.getnframes() / w.getframerate()
    assert seconds > 2.0  # the chime and the call in the office's voice languages (uk, en)
    src = page.evaluate("document.getElementById('voice').src")
    assert "/hall/call/" in src
    page.close()


def test_lang_in_the_address_comes_first_and_the_other_languages_still_alternate(
        browser: Any, served: str, service: OfficeService) -> None:
    """GIVEN the hall page opened with ?lang=kk, THEN it is in Kazakh from the first instant (headings and
    the lang attribute), and every 6 s the next configured language follows, as without the parameter."""
    from playwright.sync_api import expect

    from cherga.server.mirror.i18n import catalog

    configured = list(service.config.office.languages)
    page = browser.new_page(viewport={"width": 1920, "height": 1080})
    page.clock.install()
    page.goto(f"{served}/office/demo/hall?lang=kk")
    expect(page.locator("#h-ticket")).not_to_be_empty()  # (no wait_for_function: a CSP may forbid eval)
    assert page.evaluate("document.documentElement.lang") == "kk"
    assert page.inner_text("#h-ticket").strip() == catalog("kk")["ticket"]
    order: list[str] = []
    for _ in range(6 * len(configured) + 2):
        lang = page.evaluate("document.documentElement.lang")
        if not order or order[-1] != lang:
            order.append(lang)
        page.clock.run_for(1000)
    assert order[: len(configured)] == ["kk"] + [x for x in configured if x != "kk"]
    page.goto(f"{served}/office/demo/hall?lang=xx")  # not a language: the office's order, from its first
    expect(page.locator("#h-ticket")).not_to_be_empty()
    assert page.evaluate("document.documentElement.lang") == configured[0]
    page.close()


def test_on_a_phone_the_sound_button_covers_nothing(browser: Any, served: str, service: OfficeService) -> None:
    """At 390x844 the "turn on sound" button sits in the page's flow: no row of the calls or the load list
    lies under it (fixed at the bottom, it hid a service's row)."""
    from playwright.sync_api import expect

    _call(service)
    page = browser.new_page(viewport={"width": 390, "height": 844})
    page.goto(f"{served}/office/demo/hall?lang=ru")
    expect(page.locator("#load tr").first).to_be_visible()
    button = page.locator("#sound").bounding_box()
    assert button is not None and button["height"] >= 44
    for row in page.locator("#load tr, #calls tr").all():
        box = row.bounding_box()
        assert box is not None
        overlap = min(box["y"] + box["height"], button["y"] + button["height"]) - max(box["y"], button["y"])
        assert overlap <= 0, f"the sound button covers {row.inner_text()!r}"
    assert page.evaluate("document.scrollingElement.scrollWidth") <= 390
    page.close()
