"""The operator panel on a server that runs two offices (issue 21): the sign-in asks which office,
shows that office's counters, refuses an account not for it, and every page then acts on that office.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from cherga.broker_bridge.contract import LANGUAGES
from cherga.server import auth
from cherga.server.app import create_app
from cherga.server.panel.i18n import catalog
from cherga.server.security import audit
from cherga.server.siteconfig import SiteConfig
from cherga.server.store import Store
from tests.panel.conftest import OPEN, PASSWORD, Clock
from tests.support.axe import serious
from tests.support.browser import serving


def _south(site: SiteConfig) -> SiteConfig:
    data = site.model_dump(mode="json", exclude_none=True)
    data["office"]["id"] = "south"
    data["office"]["names"] = {lang: f"Південь {lang}" for lang in data["office"]["names"]}
    for counter in data["counters"]:  # the same counter ids, south's own window numbers: 71, 72, ...
        counter["number"] = f"7{counter['number']}"
    return SiteConfig.model_validate(data)


@pytest.fixture
def two(site: SiteConfig, store: Store, clock: Clock) -> FastAPI:
    auth.create_account(store, username="north.op", role="operator", password=PASSWORD, offices=["demo"], now=OPEN)
    auth.create_account(store, username="south.boss", role="hall_manager", password=PASSWORD, offices=["south"],
                        now=OPEN)
    auth.create_account(store, username="regional", role="admin", password=PASSWORD, now=OPEN)  # every office
    return create_app([site, _south(site)], "sqlite://", clock=clock, store=store, sweep_interval=None)


@pytest.fixture
def c(two: FastAPI) -> Iterator[TestClient]:
    with TestClient(two) as client:
        yield client


def _sign_in(c: TestClient, office: str, user: str, counter: str) -> Any:
    return c.post("/panel/signin", data={"username": user, "password": PASSWORD, "counter": counter, "lang": "en",
                                         "office": office}, follow_redirects=False)


def test_the_sign_in_asks_which_office_then_lists_that_offices_counters(c: TestClient) -> None:
    t = catalog("en")
    first = c.get("/panel/signin?lang=en")
    assert t["choose_office"] in first.text
    assert 'href="/panel/signin?office=south&amp;lang=en"' in first.text and "Південь en" in first.text
    south = c.get("/panel/signin?office=south&lang=en")
    assert 'name="office" value="south"' in south.text
    assert "Counter 71</option>" in south.text and "Counter 1</option>" not in south.text  # south's windows
    north = c.get("/panel/signin?office=demo&lang=en")
    assert "Counter 1</option>" in north.text and "Counter 71</option>" not in north.text


def test_an_account_for_another_office_is_refused_at_sign_in_and_leaves_no_session(
        c: TestClient, two: FastAPI) -> None:
    r = _sign_in(c, "south", "north.op", "c1")
    assert r.status_code == 403 and catalog("en")["error_office_forbidden"] in r.text
    assert "cherga_panel" not in r.cookies
    south = two.state.services["south"]
    assert south.counter_state("c1").operator is None  # nobody was signed in at south's counter
    assert _sign_in(c, "demo", "north.op", "c1").status_code == 303


def test_the_pages_act_on_the_office_chosen_at_sign_in(c: TestClient, two: FastAPI) -> None:
    north, south = two.state.services["demo"], two.state.services["south"]
    south.issue_ticket(command_id="s1", source="test", service="passport")
    north.issue_ticket(command_id="n1", source="test", service="passport")
    north.issue_ticket(command_id="n2", source="test", service="passport")
    r = _sign_in(c, "south", "south.boss", "c1")
    assert r.status_code == 303 and r.headers["location"] == "/panel/counter/c1"
    assert south.counter_state("c1").operator == "south.boss" and north.counter_state("c1").operator is None
    page = c.get("/panel/counter/c1?lang=en")
    assert "Південь en" in page.text
    form = c.get("/panel/manager?lang=en")
    assert form.status_code == 200 and "Південь en" in form.text
    # "next" at the panel's counter calls south's only visitor, not one of north's.
    r = c.post("/panel/counter/c1/action", data={"action": "next", "command_id": uuid.uuid4().hex, "lang": "en"},
               follow_redirects=False)
    assert r.status_code in (200, 303), r.text
    called = south.counter_state("c1").ticket
    assert called is not None and called.label == "A-001"
    assert sum(x.waiting for x in north.load()) == 2 and sum(x.waiting for x in south.load()) == 0
    # The audit log names the office acted on, not the server's first office.
    pressed = [e for e in audit.entries(two.state.store, office="south") if e["action"].endswith("/action")]
    assert [(e["actor"], e["office"]) for e in pressed] == [("south.boss", "south")]
    # The cookie names south: a hand-made cookie for north is refused, the account is for south only.
    c.cookies.set("cherga_office", "demo", path="/panel")
    refused = c.get("/panel/manager?lang=en")
    assert refused.status_code == 403 and catalog("en")["error_office_forbidden"] in refused.text


@pytest.mark.browser
def test_the_office_choice_passes_axe_in_every_language(browser: Any, two: FastAPI) -> None:
    found: list[str] = []
    with serving(two) as url:
        page = browser.new_page()
        for lang in LANGUAGES:
            page.goto(f"{url}/panel/signin?lang={lang}")
            assert page.evaluate("document.documentElement.lang") == lang
            for w, h in ((1920, 1080), (360, 740)):
                page.set_viewport_size({"width": w, "height": h})
                found += serious(page, f"office choice {lang} {w}x{h}")
            links = page.locator("ul.offices a")
            assert links.count() == 2
            assert all(links.nth(i).bounding_box()["height"] >= 44 for i in range(2))  # type: ignore[index]
        page.close()
    assert found == [], "\n".join(found)


@pytest.mark.browser
def test_the_staff_page_with_office_choices_passes_axe_in_every_language(browser: Any, two: FastAPI) -> None:
    found: list[str] = []
    with serving(two) as url:
        page = browser.new_page()
        page.goto(f"{url}/admin/signin?lang=en")
        page.fill("input[name=username]", "regional")
        page.fill("input[name=password]", PASSWORD)
        page.click("button.primary")
        for lang in LANGUAGES:
            page.goto(f"{url}/admin/staff?lang={lang}")
            assert page.locator("input[type=checkbox][name=offices]").count() >= 2
            for w, h in ((1920, 1080), (390, 844)):
                page.set_viewport_size({"width": w, "height": h})
                found += serious(page, f"staff page {lang} {w}x{h}")
        page.close()
    assert found == [], "\n".join(found)
