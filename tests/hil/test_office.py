"""Hardware-in-the-loop scenarios: the whole office as separate processes on emulated hardware.

Broker (Mosquitto), server, a kiosk writing real ESC/POS bytes to a printer emulator, a hall
display with an emulated LED board, two counter pads on gpiozero mock pins. Each scenario keeps
its artefacts (ticket PNGs, screenshots, logs, database) under ``artifacts/hil/<scenario>/``.
"""

from __future__ import annotations

import contextlib
import http.cookiejar
import queue
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest

from cherga.broker_bridge import contract
from cherga.broker_bridge.contract import Telemetry
from cherga.office import Layout, Office
from tests.hil.proxy import CuttableProxy
from tests.hil.scenario import (
    differs,
    press,
    printed_ticket,
    qr_payloads,
    screenshot,
    sign_in,
    take_ticket,
    wait_office,
)
from tests.support.mqtt import subscribe_and_wait

pytestmark = pytest.mark.slow
OLENA_PIN = "1111"  # demo operator accounts the server creates for `cherga office`
PETRO_PIN = "2222"


@pytest.mark.emulated_only
def test_a_kiosk_ticket_is_called_at_a_counter_and_the_hall_shows_lights_and_speaks_it(
        office: Office, artifacts: Path) -> None:
    """GIVEN a whole office WHEN a citizen takes a Kyrgyz ticket and counter 1 presses next
    THEN the printed ticket carries Kyrgyz text and a QR to its live status, and the call reaches
    the hall screen, the LED board and the voice."""
    view = take_ticket(office, "kiosk-1", "passport", lang="ky", purpose="submit")
    assert view["screen"] == "ticket" and view["big"] == "A-001"
    assert any("Сиздин алдыңызда" in line for line in view["lines"])  # "people ahead of you" in Kyrgyz

    ticket = printed_ticket(office, "kiosk-1", 1, artifacts)
    urls = qr_payloads(ticket.image)
    assert len(urls) == 1 and urls[0].startswith(office.url + "/")
    status = office.api("GET", "/api/v1/tickets/" + urls[0].rstrip("/").rsplit("/", 1)[-1])
    assert status["label"] == "A-001" and status["status"] == "waiting"

    before = screenshot(office, "display-1", artifacts / "hall-before.png")
    sign_in(office, "pad-c1", OLENA_PIN)
    pad = press(office, "pad-c1", "next")
    wait_office(lambda: office.node("pad-c1").call("view")["number"] == "A-001", what="pad shows A-001")
    pad = office.node("pad-c1").call("view")
    assert pad["leds"]["calling"] == "on"

    display = office.node("display-1")
    calls = wait_office(lambda: display.call("calls"), what="the call on the hall screen")
    assert calls[0] == ["A-001", "1"]
    led = wait_office(lambda: display.call("led"), what="LED board frame")
    assert any("A-001" in line and line.rstrip().endswith("1") for line in led["1"])
    after = screenshot(office, "display-1", artifacts / "hall-after.png")
    assert differs(before, after) > 0.5, "the hall screen did not change when the call came"
    spoken = wait_office(lambda: display.call("spoken"), timeout=60, what="the announcement")
    assert spoken == ["A-001"]

    # The citizen's status page now says which window.
    status = office.api("GET", "/api/v1/tickets/" + urls[0].rstrip("/").rsplit("/", 1)[-1])
    assert status["status"] == "called" and status["counter_number"] == "1"


def test_a_broker_restart_loses_and_duplicates_nothing(office: Office, artifacts: Path) -> None:
    """GIVEN tickets issued and one called WHEN Mosquitto restarts THEN every node comes back,
    the display rebuilds its picture, and the next calls go on without loss or repeats."""
    labels = [take_ticket(office, "kiosk-1", "residence")["big"] for _ in range(3)]
    assert labels == ["C-001", "C-002", "C-003"]
    sign_in(office, "pad-c1", OLENA_PIN)  # c1 does not serve residence: use c4 through the API instead
    token = office.api("POST", "/api/v1/auth/login", {"username": "petro", "password": "cherga-operator"})["token"]
    office.api("POST", "/api/v1/offices/demo/counters/c4/sign-in", {}, token=token)
    first = office.api("POST", "/api/v1/offices/demo/counters/c4/next", {}, token=token)
    assert first["ticket"]["label"] == "C-001"

    office.restart_broker(down_s=2.0)
    display = office.node("display-1")
    wait_office(lambda: display.call("health").get("connected") is not False and not display.call("offline"),
                what="display back online")
    # Issue and call through the MQTT path again after the restart.
    assert take_ticket(office, "kiosk-1", "residence")["big"] == "C-004"
    called = [office.api("POST", "/api/v1/offices/demo/counters/c4/next", {}, token=token)["ticket"]["label"]
              for _ in range(3)]
    assert called == ["C-002", "C-003", "C-004"]
    calls = wait_office(lambda: (c := display.call("calls")) and c[0][0] == "C-004" and c,
                        what="the display showing the latest call after the restart")
    assert [c[0] for c in calls] == ["C-004", "C-003", "C-002", "C-001"]
    empty = office.api("POST", "/api/v1/offices/demo/counters/c4/next", {}, token=token)
    assert empty["status"] == "empty"


@pytest.mark.emulated_only
def test_server_killed_mid_day_the_kiosk_issues_offline_and_nothing_is_lost(office: Office, artifacts: Path) -> None:
    """GIVEN a ticket issued WHEN the server is killed with SIGKILL THEN the kiosk issues from its
    own range with 'estimate unavailable', and after the restart the server has both tickets."""
    assert take_ticket(office, "kiosk-1", "passport")["big"] == "A-001"
    office.kill_server()
    view = take_ticket(office, "kiosk-1", "passport")
    offline_label = view["big"]
    assert offline_label and int(offline_label.split("-")[1]) >= 900, view  # the offline range
    printed_ticket(office, "kiosk-1", 2, artifacts)
    office.start_server()
    token = office.api("POST", "/api/v1/auth/login", {"username": "olena", "password": "cherga-operator"})["token"]
    office.api("POST", "/api/v1/offices/demo/counters/c1/sign-in", {}, token=token)
    waiting = wait_office(lambda: len(w := office.api("GET", "/api/v1/offices/demo/counters/c1/waiting",
                                                        token=token)) == 2 and w,
                          what="the offline ticket handed over")
    assert sorted(t["label"] for t in waiting) == sorted(["A-001", offline_label])
    offline = next(t for t in waiting if t["label"] == offline_label)
    assert offline["origin"] == "offline"
    assert office.node("kiosk-1").call("health")["offline_tickets"] == 1
    # The kiosk counts what waits in its outbox in its heartbeat (node telemetry, every 5 s here): once the
    # server has the offline ticket, the kiosk hears the answer and drops it from the outbox.
    beat = kiosk_heartbeat(office, "kiosk-1", lambda t: t.outbox == 0 and t.health.get("offline_tickets") == 1,
                           what="a kiosk heartbeat with its outbox drained")
    assert beat.health["tickets"] == 2


def kiosk_heartbeat(office: Office, node: str, check: Callable[[Telemetry], bool], *, what: str) -> Telemetry:
    """The first heartbeat ``node`` sends from now on that passes ``check``."""
    beats: queue.Queue[Telemetry] = queue.Queue()
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2)
    client.on_message = lambda c, u, m: beats.put(contract.decode(m.topic, bytes(m.payload)).message)  # type: ignore[arg-type]
    client.connect("127.0.0.1", office.broker_port)
    client.loop_start()
    heard: list[Telemetry] = []

    def passing() -> Telemetry | None:
        with contextlib.suppress(queue.Empty):
            heard.append(beats.get(timeout=0.5))
            return heard[-1] if check(heard[-1]) else None
        return None

    try:
        subscribe_and_wait(client, contract.topic("node_telemetry", office.office_id, node=node))
        return wait_office(passing, 60, what=lambda: f"{what} (heard {[(t.outbox, t.health) for t in heard]})")
    finally:
        client.disconnect()
        client.loop_stop()


def manager_page(office: Office) -> str:
    """The hall manager's page in Ukrainian, signed in through the panel's own form."""
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    form = urllib.parse.urlencode({"username": "manager", "password": "cherga-manager", "lang": "uk"}).encode()
    opener.open(office.url + "/panel/signin", data=form, timeout=10).read()
    with opener.open(office.url + "/panel/manager?lang=uk", timeout=10) as r:
        return str(r.read().decode("utf-8"))


@pytest.mark.emulated_only
def test_paper_out_in_the_middle_keeps_the_ticket_and_shows_the_number_on_screen(
        office: Office, artifacts: Path) -> None:
    """GIVEN the printer runs out of paper WHEN a citizen takes a ticket THEN the kiosk shows the
    number large with a QR for a phone, raises an alert, and the ticket is issued on the server."""
    office.printers["kiosk-1"].set_scenario("paper_out")
    kiosk = office.node("kiosk-1")
    wait_office(lambda: kiosk.call("health").get("printer") not in (None, "ok"),
                what="the kiosk noticing the printer")
    view = take_ticket(office, "kiosk-1", "passport")
    assert view["big"] == "A-001" and view["alert"] is True and view["qr"], view
    kiosk.call("screenshot", path=str(artifacts / "kiosk-paper-out.png"))
    token = office.api("POST", "/api/v1/auth/login", {"username": "olena", "password": "cherga-operator"})["token"]
    waiting = office.api("GET", "/api/v1/offices/demo/counters/c1/waiting", token=token)
    assert [t["label"] for t in waiting] == ["A-001"]
    # The hall manager sees who needs paper: in the device monitor and on the manager's page.
    manager = office.api("POST", "/api/v1/auth/login", {"username": "manager", "password": "cherga-manager"})["token"]
    kinds = lambda: [(a["node"], a["kind"]) for a in office.api("GET", "/api/v1/offices/demo/devices",  # noqa: E731
                                                                  token=manager)["alerts"]]
    wait_office(lambda: ("kiosk-1", "printer_paper_out") in kinds(), what="the paper-out alert")
    nodes = {n["node"]: n["state"] for n in office.api("GET", "/api/v1/offices/demo/devices", token=manager)["nodes"]}
    assert nodes["kiosk-1"] == "online" and nodes["display-1"] == "online", nodes
    assert "Принтер: закінчився папір" in manager_page(office)
    office.printers["kiosk-1"].set_scenario("ok")
    wait_office(lambda: kiosk.call("health").get("printer") == "ok", what="printer back")
    wait_office(lambda: kinds() == [], what="the alert cleared")
    assert "Принтер: закінчився папір" not in manager_page(office)


def test_a_pad_cut_off_from_the_broker_shows_offline_calls_nobody_and_comes_back(
        office_factory: Callable[..., Office], artifacts: Path) -> None:
    """GIVEN pad c2 reaches the broker through a proxy WHEN the link is cut THEN the pad shows
    offline and 'next' calls nobody; WHEN the link returns THEN it is online and works again."""
    from cherga.broker_bridge.embedded import free_port

    broker_port = free_port()
    proxy = CuttableProxy(("127.0.0.1", broker_port)).start()
    try:
        with office_factory(broker_port=broker_port, broker_ports={"pad-c2": proxy.port}) as office:
            take_ticket(office, "kiosk-1", "passport")
            sign_in(office, "pad-c2", PETRO_PIN)
            proxy.cut()
            wait_office(lambda: office.node("pad-c2").call("view")["leds"]["offline"] in ("on", "blink"),
                        what="pad c2 offline LED")
            view = press(office, "pad-c2", "next")
            assert view["number"] == ""
            time.sleep(1.0)
            token = office.api("POST", "/api/v1/auth/login",
                               {"username": "olena", "password": "cherga-operator"})["token"]
            waiting = office.api("GET", "/api/v1/offices/demo/counters/c1/waiting", token=token)
            assert [t["label"] for t in waiting] == ["A-001"], "an offline pad must call nobody"
            proxy.restore()
            wait_office(lambda: office.node("pad-c2").call("view")["link"] is True, timeout=40,
                        what="pad c2 back online")
            view = press(office, "pad-c2", "next")
            wait_office(lambda: office.node("pad-c2").call("view")["number"] == "A-001",
                        what="pad c2 calls A-001 after the link returns")
            assert office.api("GET", "/api/v1/offices/demo/counters/c1/waiting", token=token) == []
    finally:
        proxy.close()


def test_unknown_office_status_is_404_not_a_crash(office: Office) -> None:
    with pytest.raises(urllib.error.HTTPError) as err:
        office.api("GET", "/api/v1/tickets/not-a-real-token")
    assert err.value.code == 404


def test_the_development_office_says_loudly_that_it_is_plain_and_not_secure(office: Office) -> None:
    """`cherga office` stays plain MQTT and HTTP on purpose (issue 23): its banner says so and points
    to what a real hall gets (TLS by default from `cherga provision`)."""
    from cherga.office import _banner

    banner = _banner(office)
    assert "NOT SECURE" in banner and "plain HTTP and MQTT" in banner and "cherga provision" in banner
    assert office.url.startswith("http://")


def test_layout_nodes_match_the_site_registry(office_factory: Callable[..., Office]) -> None:
    layout = Layout(kiosks=["kiosk-a"], displays=[], pads={"pad-x": "c3"})
    with office_factory(layout=layout) as office:
        assert office.node("kiosk-a").call("ping") == "pong"
        assert take_ticket(office, "kiosk-a", "foreign-passport")["big"] == "B-001"


def test_the_day_rolls_over_at_midnight_numbers_restart_and_history_stays(
        office_factory: Callable[..., Office], artifacts: Path) -> None:
    """GIVEN the office clock at 23:59:40 Kyiv time WHEN two tickets are issued and the clock jumps
    past midnight THEN the next ticket is A-001 of the new day and yesterday's tickets are kept."""
    import datetime as dt
    from zoneinfo import ZoneInfo

    offset_file = artifacts / "clock-offset"
    kyiv = ZoneInfo("Europe/Kyiv")
    now = dt.datetime.now(kyiv)
    evening = now.replace(hour=23, minute=59, second=40, microsecond=0)
    offset_file.write_text(str((evening - now).total_seconds()))
    with office_factory(server_env={"CHERGA_CLOCK_OFFSET_FILE": str(offset_file)}) as office:
        first = [take_ticket(office, "kiosk-1", "passport")["big"] for _ in range(2)]
        assert first == ["A-001", "A-002"]
        yesterday = printed_ticket(office, "kiosk-1", 2, artifacts)
        token = qr_payloads(yesterday.image)[0].rstrip("/").rsplit("/", 1)[-1]
        # The clock jumps over midnight (as an NTP correction or a long night would).
        now = dt.datetime.now(kyiv)
        offset_file.write_text(str((evening + dt.timedelta(minutes=1) - now).total_seconds()))
        time.sleep(0.2)
        assert take_ticket(office, "kiosk-1", "passport")["big"] == "A-001"
        old = office.api("GET", f"/api/v1/tickets/{token}")
        assert old["label"] == "A-002"  # history is never deleted by the reset
        today = printed_ticket(office, "kiosk-1", 3, artifacts)
        assert today.image.size[0] > 0
