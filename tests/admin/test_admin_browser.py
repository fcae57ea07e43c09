"""The administration pages in Chromium: every form refuses bad input with a clear word beside the
field in the administrator's language and saves nothing; the pages pass axe-core in every language
with 44 px targets; a version is restored from the browser; a change saved in the browser reaches a
running kiosk through real Mosquitto."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from cherga.broker_bridge import contract
from cherga.broker_bridge.bridge import start_bridge
from cherga.firmware_host.outbox import Outbox
from cherga.firmware_host.session import NodeSession
from cherga.server.admin import versions
from cherga.server.admin.i18n import catalog
from cherga.server.service import OfficeService
from tests.admin.conftest import ADMIN_PASSWORD
from tests.firmware_host.test_session import node_config
from tests.support.axe import serious
from tests.support.mosquitto import Broker
from tests.support.wait import wait_until

LANGS = ("uk", "ru", "ky", "kk", "en")


@pytest.fixture
def page(browser: Any, served: str) -> Iterator[Any]:
    """A signed-in administrator's page."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    p = context.new_page()
    p.goto(f"{served}/admin/signin?lang=en")
    p.fill("input[name=username]", "boss")
    p.fill("input[name=password]", ADMIN_PASSWORD)
    p.click("button.primary")
    p.wait_for_url("**/admin/section/office")
    yield p
    context.close()


def _field(page: Any, name: str) -> Any:
    return page.locator(f'[name="{name}"]')


def _error_beside(page: Any, name: str) -> str:
    """The error text shown in the same field box (or group) as the input ``name``."""
    return str(page.locator(f'.field:has([name="{name}"]) .error').all_inner_texts())


def _versions(service: OfficeService) -> int:
    return len(versions.versions(service.store, service.office))


# (section, language, field, bad value, the catalog key of the word expected beside it)
BAD_INPUT = [
    ("office", "uk", "office.timezone", "Mars/Olympus", "e_unknown_timezone"),
    ("services", "ky", "services.1.prefix", "A", "e_duplicate_prefix"),
    ("services", "ru", "services.0.daily_cap", "много", "e_int_parsing"),
    ("bundles", "kk", "bundles.0.id", "Новонароджений", "e_string_pattern_mismatch__id"),
    ("counters", "en", "counters.0.number", "", "e_missing"),
    ("categories", "uk", "priority_categories.0.weight", "11", "e_less_than_equal"),
    ("hours", "ru", "hours.days.mon", "8-18", "e_time_format"),
    ("hours", "kk", "hours.holidays", "2026-01-01, 2026-13-01", "e_date_from_datetime_parsing"),
    ("rules", "ky", "numbering.booked.first", "500", "e_ranges_overlap"),
    ("rules", "en", "appointments.slot_min", "2", "e_greater_than_equal"),
    ("display", "kk", "display.recent_calls", "lots", "e_int_parsing"),
    ("display", "uk", "voice.volume", "2", "e_less_than_equal"),
]


@pytest.mark.parametrize(("section", "lang", "name", "bad", "key"), BAD_INPUT,
                         ids=[f"{s}-{n}" for s, _, n, _, _ in BAD_INPUT])
def test_bad_input_is_named_beside_its_field_and_nothing_is_saved(
        page: Any, served: str, service: OfficeService, section: str, lang: str, name: str, bad: str,
        key: str) -> None:
    before, count = service.config, _versions(service)
    page.goto(f"{served}/admin/section/{section}?lang={lang}")
    _field(page, name).fill(bad)
    page.locator("form.editor button.primary").click()
    page.wait_for_load_state()
    words = max(re.split(r"\{[^}]*\}", catalog(lang)[key]), key=len).strip(" «»'")
    assert words and words in _error_beside(page, name), (_error_beside(page, name), words)
    assert _field(page, name).input_value() == bad  # what was typed is still there
    assert _field(page, name).get_attribute("aria-invalid") == "true" or page.locator(
        f'fieldset.bad:has([name="{name}"])').count()
    assert catalog(lang)["not_saved"].split("(")[0].strip() in page.inner_text("p.flash.error")
    assert service.config is before and _versions(service) == count


def test_a_good_change_saved_in_the_browser_is_live(page: Any, served: str, service: OfficeService) -> None:
    page.goto(f"{served}/admin/section/services?lang=en")
    _field(page, "services.0.target_wait_min").fill("25")
    page.fill('[name="__comment"]', "summer queue")
    page.locator("form.editor button.primary").click()
    page.wait_for_url("**saved=2")
    assert "Saved as version 2" in page.inner_text("p.flash")
    assert service.config.services[0].target_wait_min == 25
    assert _field(page, "services.0.target_wait_min").input_value() == "25"


def test_staff_forms_refuse_bad_input_beside_the_field(page: Any, served: str, service: OfficeService) -> None:
    page.goto(f"{served}/admin/staff?lang=uk")
    form = page.locator('form[action="/admin/staff/add"]')
    form.locator("[name=username]").fill("ivan")
    form.locator("[name=password]").fill("short")
    form.locator("button").click()
    page.wait_for_load_state()
    assert catalog("uk")["staff_error_weak_password"] in page.inner_text("#add\\.password-err")
    assert page.locator('form[action="/admin/staff/add"] [name=username]').input_value() == "ivan"
    assert service.store.staff("ivan") is None
    pin = page.locator('form[action="/admin/staff/olena/pin"]')
    pin.locator("[name=pin]").fill("12")
    pin.locator("button").click()
    page.wait_for_load_state()
    assert catalog("uk")["staff_error_bad_pin"] in page.inner_text("#olena\\.pin-err")
    # A good add, then lock: the account can no longer sign in anywhere.
    form = page.locator('form[action="/admin/staff/add"]')
    form.locator("[name=username]").fill("ivan")
    form.locator("[name=password]").fill("long-enough-1")
    form.locator("[name=role]").select_option("hall_manager")
    form.locator("button").click()
    page.wait_for_url("**done=added")
    assert service.store.staff("ivan").role == "hall_manager"  # type: ignore[union-attr]
    page.locator('form[action="/admin/staff/ivan/lock"] button').click()
    page.wait_for_url("**done=lock")
    assert not service.store.staff("ivan").active  # type: ignore[union-attr]


def test_a_version_is_restored_from_the_browser(page: Any, served: str, service: OfficeService) -> None:
    original = service.config
    page.goto(f"{served}/admin/section/rules?lang=en")
    _field(page, "no_show.recalls").fill("5")
    page.locator("form.editor button.primary").click()
    page.wait_for_url("**saved=2")
    assert service.config.no_show.recalls == 5
    page.goto(f"{served}/admin/versions/2?lang=en")
    assert "+  recalls: 5" in page.inner_text("pre.diff")
    page.goto(f"{served}/admin/versions?lang=en")
    page.locator('form[action="/admin/versions/1/restore"] button').click()
    page.wait_for_url("**restored=3")
    assert service.config == original
    first, third = (versions.version(service.store, service.office, n) for n in (1, 3))
    assert first is not None and third is not None and third.yaml == first.yaml


def test_every_page_passes_axe_in_every_language_with_44px_targets(page: Any, served: str) -> None:
    pages = [f"/admin/section/{s}" for s in ("office", "services", "bundles", "counters", "categories", "hours",
                                             "rules", "display")] + ["/admin/staff", "/admin/versions",
                                                                    "/admin/versions/1", "/admin/import"]
    problems: list[str] = []
    for i, path in enumerate(pages):
        lang = LANGS[i % len(LANGS)]
        page.goto(f"{served}{path}?lang={lang}")
        assert page.evaluate("document.documentElement.lang") == lang
        problems += serious(page, f"{path}?lang={lang}")
        small = page.evaluate("""() => [...document.querySelectorAll(
                'button, a, select, input:not([type=hidden]):not([type=checkbox]), label:has(input[type=checkbox])')]
              .filter(e => e.offsetParent !== null)
              .map(e => [e.outerHTML.slice(0, 80), e.getBoundingClientRect().height])
              .filter(([_, h]) => h < 44)""")
        assert not small, f"{path}: targets under 44 px: {small[:5]}"
    assert not problems, "\n".join(problems)
    for lang in LANGS:  # the words are the language's own, not English borrowed
        page.goto(f"{served}/admin/section/services?lang={lang}")
        assert page.inner_text("h1") == catalog(lang)["section_services"]
        if lang != "en":
            assert page.inner_text("h1") != catalog("en")["section_services"]


def test_a_non_administrator_is_refused(browser: Any, served: str) -> None:
    context = browser.new_context()
    p = context.new_page()
    p.goto(f"{served}/admin/signin?lang=en")
    p.fill("input[name=username]", "olena")
    p.fill("input[name=password]", "operator-pass-1")
    p.click("button.primary")
    p.wait_for_load_state()
    assert "not an administrator" in p.inner_text("p.flash.error")
    assert p.goto(f"{served}/admin/section/office").url.endswith("/admin/signin")
    context.close()


@pytest.mark.mosquitto
def test_a_change_saved_in_the_browser_reaches_a_running_kiosk(
        page: Any, served: str, service: OfficeService, mosquitto: Broker, tmp_path: Path, app: Any) -> None:
    bridge = start_bridge(service, mosquitto.host, mosquitto.port)
    app.state.bridge = bridge
    seen: list[contract.NodeConfig] = []
    kiosk = NodeSession(node_config(mosquitto.port, node="k1", role="kiosk", office=service.office,
                                    data_dir=tmp_path), outbox=Outbox(":memory:"), reconnect_delays=(0.1, 0.5))
    kiosk.on_office_config(seen.append)
    kiosk.start()
    try:
        wait_until(lambda: seen, what="the kiosk's first config")
        page.goto(f"{served}/admin/section/services?lang=en")
        _field(page, "services.0.names.en").fill("Passports, all kinds")
        page.locator("form.editor button.primary").click()
        page.wait_for_url("**saved=2")
        wait_until(lambda: seen[-1].services[0].names.get("en") == "Passports, all kinds",
                   what="the kiosk shows the new service name")
    finally:
        kiosk.close()
        bridge.stop()
        app.state.bridge = None
