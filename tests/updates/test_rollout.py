"""Staged rollout per role, and the versions on the manager's side.

A release signed for one kiosk first reaches that kiosk only; once the technician opens it to every
node (``cherga provision updates rollout --all`` then ``publish``), the others take it too. The
nodes' running versions come from their birth messages (real NodeSession over real Mosquitto into
the real bridge) and show in ``/devices`` and ``/updates`` with what each is offered.
"""

from __future__ import annotations

import subprocess
from typing import Any

import httpx
import pytest

from cherga.broker_bridge.bridge import start_bridge
from cherga.firmware_host.config import NodeConfig
from cherga.firmware_host.outbox import Outbox
from cherga.firmware_host.session import NodeSession
from cherga.server import auth
from tests.support.mosquitto import Broker
from tests.support.wait import wait_until
from tests.updates.conftest import CHERGA, REPO, Office, make_node, now

PASSWORD = "correct-horse-1"


def manager_token(office: Office) -> str:
    auth.create_account(office.app.state.store, username="maria", role="hall_manager", password=PASSWORD, now=now())
    reply = httpx.post(f"{office.url}/api/v1/auth/login", json={"username": "maria", "password": PASSWORD}, timeout=30)
    assert reply.status_code == 200, reply.text
    token: str = reply.json()["token"]
    return token


def manager_get(office: Office, path: str, token: str) -> Any:
    reply = httpx.get(f"{office.url}{path}", headers={"Authorization": f"Bearer {token}"}, timeout=30)
    assert reply.status_code == 200, reply.text
    return reply.json()


def cli(*args: str) -> str:
    done = subprocess.run([CHERGA, "provision", "updates", *args], capture_output=True, text=True, cwd=REPO, timeout=120)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_a_release_staged_for_one_kiosk_reaches_the_others_once_rolled_out(office: Office) -> None:
    first, second = make_node(office, "kiosk-1"), make_node(office, "kiosk-2")
    pad = make_node(office, "pad-1", role="pad")
    office.release("1.1.0", nodes=["kiosk-1"], roles=["kiosk"])

    held = second.update()
    assert held["outcome"] == "up_to_date" and held["skipped"] == ["1.1.0"]
    assert second.layout.current() == "slot-a" and second.run_current() == "1.0.0"
    assert first.update()["outcome"] == "installed" and first.run_current() == "1.1.0"

    workdir = str(office.repo.workdir)
    cli("rollout", "1.1.0", "--all", "--workdir", workdir)
    cli("publish", str(office.published), "--workdir", workdir)
    assert "1.1.0\tkiosk\tevery node" in cli("list", "--workdir", workdir)

    assert second.update()["outcome"] == "installed" and second.run_current() == "1.1.0"
    assert pad.update()["outcome"] == "up_to_date", "a kiosk release is not for a pad"
    assert pad.run_current() == "1.0.0"


def test_the_rollout_command_needs_either_nodes_or_all(office: Office) -> None:
    done = subprocess.run([CHERGA, "provision", "updates", "rollout", "1.1.0", "--workdir", str(office.repo.workdir)],
                          capture_output=True, text=True, cwd=REPO, timeout=120)
    assert done.returncode == 1 and "--nodes A,B or --all" in done.stderr


@pytest.mark.mosquitto
def test_the_manager_sees_each_nodes_version_and_what_it_is_offered(office: Office, fresh_mosquitto: Broker) -> None:
    office.release("1.1.0", nodes=["kiosk-1"], roles=["kiosk"])
    bridge = start_bridge(office.app.state.service, fresh_mosquitto.host, fresh_mosquitto.port,
                          config=office.app.state.config)
    office.app.state.bridge = bridge
    sessions = []
    token = manager_token(office)
    try:
        for name, version in (("kiosk-1", "1.0.0"), ("kiosk-2", "1.0.0"), ("pad-1", "0.9.0")):
            role = "pad" if name.startswith("pad") else "kiosk"
            cfg = NodeConfig.model_validate({"node": name, "role": role, "office": "demo", "data_dir": str(office.tmp / name),
                                             "counter": "c1" if role == "pad" else None,
                                             "broker": {"port": fresh_mosquitto.port}})
            session = NodeSession(cfg, outbox=Outbox(cfg.outbox_path), version=version)
            session.start()
            sessions.append(session)
        wait_until(lambda: {n["node"]: n["version"] for n in manager_get(office, "/api/v1/offices/demo/devices", token)["nodes"]
                            if n["state"] == "online"} == {"kiosk-1": "1.0.0", "kiosk-2": "1.0.0", "pad-1": "0.9.0"},
                   what="every node's version on the device page")
        view = manager_get(office, "/api/v1/offices/demo/updates", token)
        assert view["published"] is True
        assert view["releases"][0]["version"] == "1.1.0" and view["releases"][0]["nodes"] == ["kiosk-1"]
        offered = {n["node"]: (n["running"], n["offered"]) for n in view["nodes"]}
        assert offered == {"kiosk-1": ("1.0.0", "1.1.0"), "kiosk-2": ("1.0.0", None), "pad-1": ("0.9.0", None)}
        manager_page_shows_versions(office)
    finally:
        for s in sessions:
            s.close()
        office.app.state.bridge = None
        bridge.stop()


def test_the_server_serves_the_signed_repository_and_nothing_else(office: Office) -> None:
    office.release("1.1.0")
    base = f"{office.url}/updates"
    ts = httpx.get(f"{base}/metadata/timestamp.json", timeout=30)
    assert ts.status_code == 200 and ts.json()["signed"]["_type"] == "timestamp"
    assert ts.headers["cache-control"] == "no-store"
    bundle = httpx.get(f"{base}/targets/bundles/cherga-1.1.0.tar.gz", timeout=30)
    assert bundle.status_code == 200 and bundle.content == (office.published / "targets/bundles/cherga-1.1.0.tar.gz").read_bytes()
    (office.tmp / "served" / "secret.txt").write_text("office password")
    for path in ("secret.txt", "metadata/../secret.txt", "targets/../secret.txt", "targets/%2e%2e/secret.txt",
                 "metadata/notes.txt", "targets/.hidden", "targets/bundles/..%2fsecret.txt"):
        assert httpx.get(f"{base}/{path}", timeout=30).status_code == 404, path
    assert httpx.get(f"{office.url}/api/v1/offices/demo/updates", timeout=30).status_code == 401


# The device table's version column in each staff language: its heading and "1.1.0 offered".
VERSION_WORDS = {"uk": ("Версія", "пропонується 1.1.0"), "ru": ("Версия", "предлагается 1.1.0"),
                 "ky": ("Версия", "1.1.0 сунушталат"), "kk": ("Нұсқа", "1.1.0 ұсынылады"),
                 "en": ("Version", "1.1.0 offered")}


ROLE_WORDS = {"uk": {"kiosk-1": "Кіоск", "pad-1": "Пульт"}, "ru": {"kiosk-1": "Киоск", "pad-1": "Пульт"},
              "ky": {"kiosk-1": "Киоск", "pad-1": "Пульт"}, "kk": {"kiosk-1": "Киоск", "pad-1": "Пульт"},
              "en": {"kiosk-1": "Kiosk", "pad-1": "Counter pad"}}


def manager_page_shows_versions(office: Office) -> None:
    """The hall manager's page (real Chromium) shows each node's running version and the newer one it is
    offered, in the manager's language, and the table passes axe-core."""
    from tests.support.axe import serious
    from tests.support.browser import chromium

    with chromium() as browser:
        context = browser.new_context(viewport={"width": 1280, "height": 900})
        page = context.new_page()
        page.set_default_timeout(10_000)
        page.goto(f"{office.url}/panel/signin?lang=uk")
        page.fill("input[name=username]", "maria")
        page.fill("input[name=password]", PASSWORD)
        page.select_option("select[name=counter]", "none")
        page.click("button.primary")
        page.wait_for_url("**/panel/manager**")
        for lang, (heading, offered) in VERSION_WORDS.items():
            page.goto(f"{office.url}/panel/manager?lang={lang}")
            table = page.locator("#device-table")
            assert heading in table.locator("thead").inner_text(), lang
            cells = {n: table.locator(f"tr[data-node='{n}'] td.version").inner_text().strip()
                     for n in ("kiosk-1", "kiosk-2", "pad-1")}
            assert cells == {"kiosk-1": f"1.0.0 ({offered})", "kiosk-2": "1.0.0", "pad-1": "0.9.0"}, (lang, cells)
            # The role in the manager's words, never the internal id ("pad", "kiosk").
            roles = {n: table.locator(f"tr[data-node='{n}'] td").nth(1).inner_text().strip() for n in ("kiosk-1", "pad-1")}
            assert roles == ROLE_WORDS[lang], (lang, roles)
        assert serious(page, "manager page") == []
        context.close()
