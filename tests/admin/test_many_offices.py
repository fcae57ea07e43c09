"""The administration pages on a server that runs two offices with the same service ids (issue 21): a change
saved for office B lands in B's config file, B's running service and B's kiosk (real Mosquitto), never in
A's; an administrator of office A only is refused on B in their language and cannot manage staff."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from fastapi import FastAPI
from fastapi.testclient import TestClient

from cherga.broker_bridge import contract
from cherga.broker_bridge.bridge import start_bridge
from cherga.firmware_host.outbox import Outbox
from cherga.firmware_host.session import NodeSession
from cherga.server import auth
from cherga.server.admin.i18n import catalog
from cherga.server.app import create_app
from cherga.server.siteconfig import parse_site_config
from cherga.server.store import Store, sqlite_url
from tests.admin.conftest import ADMIN_PASSWORD, OPEN, site_text
from tests.admin.helpers import changed, form_fields, post_form
from tests.firmware_host.test_session import node_config
from tests.support.mosquitto import Broker
from tests.support.wait import wait_until

LANGS = ("uk", "ru", "ky", "kk", "en")


class Two:
    def __init__(self, app: FastAPI, a: str, b: str, files: dict[str, Path]) -> None:
        self.app, self.a, self.b, self.files = app, a, b, files


@pytest.fixture
def two(tmp_path: Path, demo_config_path: Path) -> Iterator[Two]:
    tag = uuid.uuid4().hex[:6]
    a, b = f"adma{tag}", f"admb{tag}"
    files: dict[str, Path] = {}
    configs = []
    for office in (a, b):
        path = tmp_path / f"{office}.yaml"
        path.write_text(site_text(demo_config_path, office), encoding="utf-8")
        files[office] = path
        configs.append(parse_site_config(path.read_text(encoding="utf-8"), str(path)))
    store = Store(sqlite_url(tmp_path / "two.sqlite"))
    auth.create_account(store, username="boss", role="admin", password=ADMIN_PASSWORD, display_name="Boss", now=OPEN)
    auth.create_account(store, username="anna", role="admin", password=ADMIN_PASSWORD, display_name="Anna",
                        now=OPEN, offices=(a,))
    app = create_app(configs, "sqlite://", clock=lambda: OPEN, store=store, sweep_interval=None)
    app.state.config_path = files[a]  # as run_server sets them
    app.state.config_paths = dict(files)
    yield Two(app, a, b, files)
    store.close()


def _signed_in(app: FastAPI, username: str) -> TestClient:
    client = TestClient(app)
    r = client.post("/admin/signin", data={"username": username, "password": ADMIN_PASSWORD, "lang": "en"},
                    follow_redirects=False)
    assert r.status_code == 303, r.text
    return client


def _footer(path: Path) -> Any:
    return (yaml.safe_load(path.read_text(encoding="utf-8")).get("ticket") or {}).get("footer")


def _save_footer(client: TestClient, office: str, text: str) -> Any:
    action = f"/admin/office/{office}/section/display"
    page = client.get(action)
    assert page.status_code == 200, page.text
    fields = changed(form_fields(page.text, action), **{"ticket.footer.en": text})
    return post_form(client, action, fields)


@pytest.mark.mosquitto
def test_a_change_saved_for_office_b_reaches_b_only(two: Two, mosquitto: Broker, tmp_path: Path) -> None:
    app, a, b = two.app, two.a, two.b
    bridges = {o: start_bridge(app.state.services[o], mosquitto.host, mosquitto.port) for o in (a, b)}
    app.state.bridges = bridges
    app.state.bridge = bridges[a]
    seen: dict[str, list[contract.NodeConfig]] = {a: [], b: []}
    kiosks = {}
    for office in (a, b):
        kiosk = NodeSession(node_config(mosquitto.port, node="k1", role="kiosk", office=office,
                                        data_dir=tmp_path / office), outbox=Outbox(":memory:"),
                            reconnect_delays=(0.1, 0.5))
        kiosk.on_office_config(seen[office].append)
        kiosk.start()
        kiosks[office] = kiosk
    a_file_before = two.files[a].read_text(encoding="utf-8")
    try:
        wait_until(lambda: seen[a] and seen[b], what="both kiosks' first config")
        with _signed_in(app, "boss") as client:
            # Several offices: the regional administrator is asked which one first.
            r = client.get("/admin/section/display", follow_redirects=False)
            assert r.status_code == 303 and r.headers["location"] == "/admin/offices"
            listing = client.get("/admin/offices").text
            for office in (a, b):
                assert f"/admin/office/{office}/section/office" in listing
            r = _save_footer(client, b, "Office B says goodbye")
            assert r.status_code == 303, r.text
            assert r.headers["location"].startswith(f"/admin/office/{b}/section/display?saved=")
            # The page after the save is B's, with B's footer; A's page still has A's.
            assert "Office B says goodbye" in client.get(f"/admin/office/{b}/section/display").text
            assert "Office B says goodbye" not in client.get(f"/admin/office/{a}/section/display").text
        wait_until(lambda: (seen[b][-1].ticket.get("footer") or {}).get("en") == "Office B says goodbye",
                   what="B's kiosk sees B's new footer")
        assert _footer(two.files[b])["en"] == "Office B says goodbye"
        assert two.files[a].read_text(encoding="utf-8") == a_file_before
        assert app.state.services[b].config.ticket.footer.get("en") == "Office B says goodbye"
        assert app.state.services[a].config.ticket.footer.get("en") != "Office B says goodbye"
        assert all((c.ticket.get("footer") or {}).get("en") != "Office B says goodbye" for c in seen[a])
    finally:
        for kiosk in kiosks.values():
            kiosk.close()
        for bridge in bridges.values():
            bridge.stop()


def test_an_administrator_of_office_a_cannot_reach_office_b(two: Two) -> None:
    app, a, b = two.app, two.a, two.b
    b_file_before = two.files[b].read_text(encoding="utf-8")
    with _signed_in(app, "anna") as client:
        # Only A is hers: the sign-in goes straight to A's pages, which work.
        r = client.get("/admin/offices", follow_redirects=False)
        assert r.headers["location"] == f"/admin/office/{a}/section/office"
        assert client.get(f"/admin/office/{a}/section/office").status_code == 200
        for lang in LANGS:
            r = client.get(f"/admin/office/{b}/section/office", params={"lang": lang})
            assert r.status_code == 403
            assert catalog(lang)["error_office_forbidden"] in r.text
            r = client.get("/admin/staff", params={"lang": lang})
            assert r.status_code == 403
            assert catalog(lang)["error_staff_every_office"] in r.text
        # A save posted for B anyway is refused and changes nothing.
        action = f"/admin/office/{b}/section/display"
        refused = post_form(client, action, [("ticket.footer.en", "Anna was here")])
        assert refused.status_code == 403
        assert client.get(f"/admin/office/{b}/export.yaml").status_code == 403
    assert two.files[b].read_text(encoding="utf-8") == b_file_before
    assert app.state.services[b].config.ticket.footer.get("en") != "Anna was here"
    # The offices list does not offer her B either.
    with _signed_in(app, "anna") as client:
        assert f"/admin/office/{b}/" not in client.get(f"/admin/office/{a}/section/office").text


@pytest.mark.browser
def test_the_office_choice_in_a_browser_passes_axe_in_every_language(two: Two, browser: Any) -> None:
    from tests.support.axe import serious
    from tests.support.browser import serving

    with serving(two.app) as url:
        context = browser.new_context(viewport={"width": 1280, "height": 900})
        page = context.new_page()
        try:
            page.goto(f"{url}/admin/signin?lang=en")
            page.fill("input[name=username]", "boss")
            page.fill("input[name=password]", ADMIN_PASSWORD)
            page.click("button.primary")
            page.wait_for_url("**/admin/offices")
            problems: list[str] = []
            for lang in LANGS:
                page.goto(f"{url}/admin/offices?lang={lang}")
                assert page.evaluate("document.documentElement.lang") == lang
                assert page.inner_text("h1") == catalog(lang)["choose_office"]
                problems += serious(page, f"/admin/offices?lang={lang}")
                small = page.evaluate("""() => [...document.querySelectorAll('main a, nav a, button')]
                      .filter(e => e.offsetParent !== null)
                      .map(e => [e.outerHTML.slice(0, 80), e.getBoundingClientRect().height])
                      .filter(([_, h]) => h < 44)""")
                assert not small, f"{lang}: targets under 44 px: {small[:5]}"
            assert not problems, "\n".join(problems)
            # Choosing B opens B's pages, headed with B's name.
            name_b = two.app.state.services[two.b].config.office.names.get("en")
            page.goto(f"{url}/admin/offices?lang=en")
            page.click(f"a[href='/admin/office/{two.b}/section/office']")
            page.wait_for_url(f"**/admin/office/{two.b}/section/office")
            assert page.inner_text("header .office") == name_b
        finally:
            context.close()
