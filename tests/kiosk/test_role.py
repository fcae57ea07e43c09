"""The kiosk role on the real node runtime, a real Mosquitto, the pty printer and a stand-in server."""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import paho.mqtt.client as mqtt
import pygame
import pytest
from PIL import ImageChops
from pyzbar import pyzbar

from cherga.broker_bridge import contract
from cherga.broker_bridge.contract import NodeAlert
from cherga.broker_bridge.contract import NodeConfig as OfficeConfig
from cherga.firmware_host.config import BrokerOptions, NodeConfig
from cherga.firmware_host.session import NodeSession
from cherga.kiosk.emulator import EscPosEmulator, Scenario
from cherga.kiosk.i18n import text
from cherga.kiosk.printer import PrinterConfig, TicketPrinter
from cherga.kiosk.role import KioskRole
from cherga.kiosk.ticket import render_ticket
from cherga.kiosk.ui.layout import layout
from cherga.kiosk.ui.state import Screen
from tests.kiosk.conftest import FakeClock, demo_office_config
from tests.kiosk.fakeserver import FakeKioskServer
from tests.support.mosquitto import Broker, free_port
from tests.support.mqtt import subscribe_and_wait
from tests.support.wait import wait_until

pytestmark = pytest.mark.mosquitto
T_ISSUE = dt.datetime(2026, 11, 25, 7, 45, tzinfo=dt.UTC)


class Kiosk:
    """A kiosk node: session + role + a Serial printer on the emulator, driven by taps."""

    def __init__(self, host: str, port: int, office: OfficeConfig, data_dir: Path, emulator: EscPosEmulator,
                 *, preload: bool = False, issue_timeout_s: float = 1.0) -> None:
        self.clock = FakeClock()
        self.local = NodeConfig(node=office.node, role="kiosk", office=office.office,
                                broker=BrokerOptions(host=host, port=port, keepalive_s=5), data_dir=data_dir)
        self.session = NodeSession(self.local, reconnect_delays=(0.1, 0.5))
        self.printer = TicketPrinter(PrinterConfig(type="serial", devfile=emulator.path, timeout=0.3))
        self.role = KioskRole(printer=self.printer, office=office if preload else None, clock=self.clock,
                              wall_clock=lambda: T_ISSUE, issue_timeout_s=issue_timeout_s, health_poll_s=0.2)
        self.session.start()
        self.role.start(self.session, self.local)

    def tap(self, *buttons: str) -> None:
        for b in buttons:
            self.clock.advance(1.0)
            self.role.press(b)

    def screen(self) -> Screen | None:
        v = self.role.view()
        return v.screen if v else None

    def close(self) -> None:
        self.role.stop()
        self.session.close()


@pytest.fixture
def office(request: pytest.FixtureRequest) -> OfficeConfig:
    oid = "k" + str(abs(hash(request.node.name)) % 10**8)
    return demo_office_config().model_copy(update={"office": oid})


@pytest.fixture
def server(mosquitto: Broker, office: OfficeConfig) -> Iterator[FakeKioskServer]:
    s = FakeKioskServer(mosquitto.host, mosquitto.port, office)
    yield s
    s.close()


@pytest.fixture
def kiosk(mosquitto: Broker, office: OfficeConfig, server: FakeKioskServer, tmp_path: Path,
          emulator: EscPosEmulator) -> Iterator[Kiosk]:
    k = Kiosk(mosquitto.host, mosquitto.port, office, tmp_path, emulator)
    wait_until(lambda: k.session.connected and k.role.view() is not None)
    yield k
    k.close()


def alerts(broker: Broker, office: str) -> tuple[list[NodeAlert], mqtt.Client]:
    got: list[NodeAlert] = []
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2)
    client.on_message = lambda c, u, m: got.append(contract.decode(m.topic, bytes(m.payload)).message)  # type: ignore[arg-type,func-returns-value]
    client.connect(broker.host, broker.port)
    client.loop_start()
    subscribe_and_wait(client, contract.subscription("node_alert", office))
    return got, client


def test_a_tap_prints_a_ticket_whose_qr_opens_its_status_page(
        kiosk: Kiosk, server: FakeKioskServer, emulator: EscPosEmulator) -> None:
    kiosk.tap("lang:uk", "service:passport", "purpose:submit", "priority:none")
    printed = emulator.wait_for_tickets(1)[0]
    wait_until(lambda: kiosk.screen() is Screen.TICKET)
    issue = server.issues[0]
    assert (issue.service, issue.purpose, issue.language, issue.node) == ("passport", "submit", "uk", "kiosk-1")
    ticket = kiosk.role.issued[0]
    assert ticket.label == "A-001"
    assert [d.data.decode() for d in pyzbar.decode(printed.image)] == [ticket.status_url]
    view = kiosk.role.view()
    assert view is not None and view.big == "A-001" and view.title == text("uk", "take_ticket")
    assert kiosk.role.health()["printer"] == "ok"


def test_a_double_tap_on_the_last_choice_prints_one_ticket(
        kiosk: Kiosk, server: FakeKioskServer, emulator: EscPosEmulator) -> None:
    kiosk.tap("lang:ru", "service:passport", "purpose:consult")
    kiosk.clock.advance(1.0)
    kiosk.role.press("priority:none")
    kiosk.clock.advance(0.06)
    kiosk.role.press("priority:none")
    emulator.wait_for_tickets(1)
    kiosk.clock.advance(0.5)
    kiosk.role.press("priority:none")
    time.sleep(0.3)
    assert len(server.issues) == 1 and len(emulator.tickets) == 1


def test_with_paper_out_the_number_and_qr_are_on_screen_an_alert_goes_out_and_the_ticket_stays_issued(
        kiosk: Kiosk, server: FakeKioskServer, emulator: EscPosEmulator, mosquitto: Broker,
        office: OfficeConfig) -> None:
    got, client = alerts(mosquitto, office.office)
    try:
        emulator.set_scenario(Scenario.PAPER_OUT)
        kiosk.tap("lang:ky", "service:passport", "purpose:collect", "priority:pregnant")
        wait_until(lambda: kiosk.screen() is Screen.TICKET)
        view = kiosk.role.view()
        assert view is not None and view.alert
        assert view.title == "Принтер иштебей жатат, номериңизди эстеп калыңыз"
        assert view.big == "A-001" and view.qr == kiosk.role.issued[0].status_url
        assert len(server.issues) == 1 and emulator.tickets == []
        wait_until(lambda: any(a.kind == "printer_paper_out" and a.active for a in got))
        assert kiosk.role.health()["printer"] == "paper_out"
        raised = next(i for i, a in enumerate(got) if a.kind == "printer_paper_out" and a.active)
        emulator.set_scenario(Scenario.OK)  # paper loaded: the alert clears itself
        wait_until(lambda: any(a.kind == "printer_paper_out" and not a.active for a in got[raised:]))
        assert kiosk.role.health()["printer_ok"] is True
    finally:
        client.loop_stop()
        client.disconnect()


def test_paper_near_end_prints_and_warns_in_health(kiosk: Kiosk, emulator: EscPosEmulator) -> None:
    emulator.set_scenario(Scenario.PAPER_NEAR_END)
    kiosk.tap("lang:en", "service:passport", "purpose:consult", "priority:none")
    emulator.wait_for_tickets(1)
    wait_until(lambda: kiosk.role.health()["paper_low"] is True)
    assert kiosk.role.health()["printer"] == "paper_low"


def test_a_silent_server_means_an_offline_number_estimate_unavailable_and_a_handover_later(
        kiosk: Kiosk, server: FakeKioskServer, emulator: EscPosEmulator, office: OfficeConfig) -> None:
    server.silent = True
    kiosk.tap("lang:uk", "service:passport", "purpose:submit", "priority:none")
    printed = emulator.wait_for_tickets(1, timeout=5)[0]
    ticket = kiosk.role.issued[0]
    assert (ticket.label, ticket.origin, ticket.wait_min) == ("A-900", "offline", None)
    rendered = render_ticket(ticket, office)
    assert [b.text for b in rendered.blocks_of("wait")] == [text("uk", "estimate_unavailable")]
    top = printed.image.crop((0, 0, rendered.image.width, rendered.image.height))
    assert ImageChops.difference(top, rendered.image.convert("L")).getbbox() is None
    assert kiosk.session.outbox_size == 1
    server.silent = False  # the server comes back and announces itself: the outbox is handed over
    server.client.publish(contract.topic("server_status", office.office),
                          contract.ServerStatus(state="online").to_bytes(), 1, True)
    wait_until(lambda: kiosk.session.outbox_size == 0)
    handed = server.offline[-1]
    assert (handed.number, handed.service, handed.issued_at) == (900, "passport", T_ISSUE)


def test_without_a_broker_offline_numbers_continue_across_a_restart(
        office: OfficeConfig, tmp_path: Path, emulator: EscPosEmulator) -> None:
    port = free_port()  # nothing listens here
    first = Kiosk("127.0.0.1", port, office, tmp_path, emulator, preload=True)
    try:
        first.tap("lang:en", "bundle:newborn", "purpose:submit", "priority:none")
        wait_until(lambda: first.screen() is Screen.TICKET)
        first.tap("done", "lang:en", "service:passport", "purpose:submit", "priority:none")
        wait_until(lambda: len(first.role.issued) == 2 and first.screen() is Screen.TICKET)
        assert [t.label for t in first.role.issued] == ["D-900", "A-901"]
        assert first.session.outbox_size == 2
        view = first.role.view()
        assert view is not None and text("en", "no_connection") in view.lines
    finally:
        first.close()
    second = Kiosk("127.0.0.1", port, office, tmp_path, emulator, preload=True)
    try:
        second.tap("lang:en", "service:passport", "purpose:submit", "priority:none")
        wait_until(lambda: len(second.role.issued) == 1)
        assert second.role.issued[0].label == "A-902"
        assert second.session.outbox_size == 3
    finally:
        second.close()
    assert len(emulator.wait_for_tickets(3)) == 3


def test_a_reached_daily_cap_is_explained_in_kyrgyz_and_nothing_prints(
        kiosk: Kiosk, server: FakeKioskServer, emulator: EscPosEmulator) -> None:
    server.refuse = "daily_cap_reached"
    kiosk.tap("lang:ky", "service:passport", "purpose:submit", "priority:none")
    wait_until(lambda: kiosk.screen() is Screen.MESSAGE)
    view = kiosk.role.view()
    assert view is not None and view.title == "Бүгүнкү талондор бүттү"
    assert emulator.tickets == []


def test_a_scanned_booking_code_checks_in_and_prints(
        kiosk: Kiosk, server: FakeKioskServer, emulator: EscPosEmulator) -> None:
    kiosk.tap("lang:kk")
    kiosk.role.type_text("abcd-2345")
    kiosk.role.enter()
    emulator.wait_for_tickets(1)
    assert server.checkins[0].code == "ABCD-2345" and server.checkins[0].language == "kk"
    assert kiosk.role.issued[0].label == "N-001"


def test_a_long_queue_from_the_hall_state_asks_before_issuing(
        kiosk: Kiosk, server: FakeKioskServer, emulator: EscPosEmulator) -> None:
    server.publish_load("passport", waiting=28, avg_wait_min=55.0, wait_min=84, wait_max_min=112)
    wait_until(lambda: kiosk.role.state is not None and "passport" in kiosk.role.state.load)
    kiosk.tap("lang:uk", "service:passport", "purpose:submit", "priority:none")
    view = kiosk.role.view()
    assert view is not None and view.screen is Screen.CONFIRM and "Перед вами: 28" in view.lines
    # the forecast the server's hall state carries (the ticket's own range), not the 55 min waited so far
    assert "Орієнтовний час очікування: ≈ 84 хв, не більше 112" in view.lines
    assert not any("55" in line for line in view.lines)
    assert server.issues == []
    kiosk.tap("confirm")
    emulator.wait_for_tickets(1)


def test_finger_taps_on_the_real_pygame_screen_print_one_ticket(
        mosquitto: Broker, office: OfficeConfig, server: FakeKioskServer, tmp_path: Path,
        emulator: EscPosEmulator) -> None:
    """Fingers on the pygame window (dummy driver): each touch arrives as FINGERDOWN plus SDL's
    synthesized mouse click, and the last one twice (a double tap); one ticket comes out."""
    size = (1280, 800)
    local = NodeConfig(node=office.node, role="kiosk", office=office.office,
                       broker=BrokerOptions(host=mosquitto.host, port=mosquitto.port), data_dir=tmp_path)
    session = NodeSession(local, reconnect_delays=(0.1, 0.5))
    printer = TicketPrinter(PrinterConfig(type="serial", devfile=emulator.path, timeout=0.3))
    role = KioskRole(printer=printer, screen_size=size)
    session.start()
    role.start(session, local)
    stop = threading.Event()

    def finger(button: str, times: int = 1) -> None:
        view = role.view()
        assert view is not None
        x, y, w, h = layout(view, size).rect_of(button)
        cx, cy = x + w // 2, y + h // 2
        for _ in range(times):
            pygame.event.post(pygame.event.Event(pygame.FINGERDOWN, x=cx / size[0], y=cy / size[1],
                                                 touch_id=1, finger_id=0, dx=0.0, dy=0.0, pressure=1.0))
            pygame.event.post(pygame.event.Event(pygame.MOUSEBUTTONDOWN, pos=(cx, cy), button=1, touch=True))
            time.sleep(0.05)

    def citizen() -> None:
        try:
            wait_until(lambda: role.view() is not None and pygame.display.get_init())
            time.sleep(0.5)
            for button in ("lang:en", "service:passport", "purpose:consult"):
                finger(button)
                time.sleep(0.5)  # a person's pace (and past the double-tap guard)
            finger("priority:none", times=2)
            emulator.wait_for_tickets(1)
            time.sleep(0.5)
        finally:
            stop.set()

    helper = threading.Thread(target=citizen)
    helper.start()
    try:
        role.run(stop)  # the pygame loop, on this (the main) thread
    finally:
        helper.join()
        role.stop()
        session.close()
    assert len(server.issues) == 1 and len(emulator.tickets) == 1
    assert role.issued[0].language == "en"


def test_the_hil_harness_can_tap_read_the_screen_and_take_a_screenshot(
        mosquitto: Broker, office: OfficeConfig, server: FakeKioskServer, tmp_path: Path,
        emulator: EscPosEmulator, monkeypatch: pytest.MonkeyPatch) -> None:
    from cherga.firmware_host.testverbs import TestVerbClient

    sock = tmp_path / "verbs.sock"
    monkeypatch.setenv("CHERGA_TEST_SOCKET", str(sock))
    k = Kiosk(mosquitto.host, mosquitto.port, office, tmp_path, emulator)
    try:
        wait_until(lambda: k.role.view() is not None and sock.exists())
        client = TestVerbClient(sock)
        assert client.call("view")["screen"] == "language"
        k.clock.advance(1)
        client.call("tap", button_id="lang:ky")
        view = client.call("view")
        assert view["title"] == "Кызматты тандаңыз" and ["appointment", "Алдын ала жазылуу"] in view["buttons"]
        shot = client.call("screenshot", path=str(tmp_path / "services.png"))
        assert pygame.image.load(shot).get_size() == (1280, 800)
        wait_until(lambda: client.call("health")["printer"] == "ok")
    finally:
        k.close()


def test_a_simulated_citizen_gets_a_ticket_at_a_persons_pace(
        office: OfficeConfig, server: FakeKioskServer, mosquitto: Broker, tmp_path: Path,
        emulator: EscPosEmulator) -> None:
    local = NodeConfig(node=office.node, role="kiosk", office=office.office,
                       broker=BrokerOptions(host=mosquitto.host, port=mosquitto.port), data_dir=tmp_path)
    session = NodeSession(local, reconnect_delays=(0.1, 0.5))
    role = KioskRole(printer=TicketPrinter(PrinterConfig(type="serial", devfile=emulator.path, timeout=0.3)))
    session.start()
    role.start(session, local)
    try:
        wait_until(lambda: role.view() is not None and session.connected)
        labels = [role.tap_random(seed=seed, pace_s=0.36) for seed in (1, 2)]
        assert all(labels) and labels == [t.label for t in role.issued]
        assert len(emulator.wait_for_tickets(2)) == 2
    finally:
        role.stop()
        session.close()


def test_after_a_reboot_without_the_server_the_kiosk_still_knows_its_office_and_issues_offline(
        mosquitto: Broker, office: OfficeConfig, server: FakeKioskServer, tmp_path: Path,
        emulator: EscPosEmulator) -> None:
    online = Kiosk(mosquitto.host, mosquitto.port, office, tmp_path, emulator)
    try:
        wait_until(lambda: online.role.view() is not None)
    finally:
        online.close()
    rebooted = Kiosk("127.0.0.1", free_port(), office, tmp_path, emulator)  # no broker, no retained config
    try:
        assert rebooted.role.view() is not None
        rebooted.tap("lang:ky", "service:passport", "purpose:submit", "priority:none")
        wait_until(lambda: len(rebooted.role.issued) == 1)
        assert rebooted.role.issued[0].label == "A-900"
        emulator.wait_for_tickets(1)
    finally:
        rebooted.close()


def active_alerts(got: list[NodeAlert]) -> set[str]:
    """What a manager's screen shows: the last word on each alert kind, as the bridge keeps it."""
    state: dict[str, bool] = {}
    for alert in list(got):
        state[alert.kind] = alert.active
    return {kind for kind, active in state.items() if active}


def test_printer_alerts_follow_the_printer_and_none_goes_stale(
        kiosk: Kiosk, emulator: EscPosEmulator, mosquitto: Broker, office: OfficeConfig) -> None:
    """Cover open, then offline, then fixed: "cover open" used to stay on the manager's screen."""
    got, client = alerts(mosquitto, office.office)
    try:
        emulator.set_scenario(Scenario.COVER_OPEN)
        wait_until(lambda: active_alerts(got) == {"printer_cover_open"})
        emulator.set_scenario(Scenario.OFFLINE)
        wait_until(lambda: active_alerts(got) == {"printer_offline"})
        emulator.set_scenario(Scenario.PAPER_NEAR_END)  # a warning the manager must see too
        wait_until(lambda: active_alerts(got) == {"printer_paper_low"})
        raised = len(got)
        emulator.set_scenario(Scenario.OK)
        # The clearing that answers this fix, not the kiosk's first "all clear" at start: under load its
        # first health check may come after this test subscribed.
        wait_until(lambda: any(a.kind == "printer_paper_low" and not a.active for a in got[raised:]))
        assert active_alerts(got) == set()
    finally:
        client.loop_stop()
        client.disconnect()


def test_after_a_restart_with_paper_refilled_the_paper_out_alert_is_cleared(
        mosquitto: Broker, office: OfficeConfig, server: FakeKioskServer, tmp_path: Path,
        emulator: EscPosEmulator) -> None:
    got, client = alerts(mosquitto, office.office)
    try:
        emulator.set_scenario(Scenario.PAPER_OUT)
        first = Kiosk(mosquitto.host, mosquitto.port, office, tmp_path, emulator)
        wait_until(lambda: active_alerts(got) == {"printer_paper_out"})
        first.close()
        emulator.set_scenario(Scenario.OK)  # paper refilled while the kiosk was down
        second = Kiosk(mosquitto.host, mosquitto.port, office, tmp_path, emulator)
        try:
            wait_until(lambda: active_alerts(got) == set())
        finally:
            second.close()
    finally:
        client.loop_stop()
        client.disconnect()


def test_paper_running_out_in_the_middle_of_a_ticket_puts_the_number_and_qr_on_screen(
        kiosk: Kiosk, server: FakeKioskServer, emulator: EscPosEmulator, mosquitto: Broker,
        office: OfficeConfig) -> None:
    """The kiosk used to say "take your ticket" (no QR) and raise the alert seconds later."""
    got, client = alerts(mosquitto, office.office)
    try:
        emulator.set_paper_runs_out_after(2000)
        kiosk.tap("lang:uk", "service:passport", "purpose:submit", "priority:none")
        wait_until(lambda: kiosk.screen() is Screen.TICKET)
        view = kiosk.role.view()
        assert view is not None and view.alert
        assert view.big == "A-001" and view.qr == kiosk.role.issued[0].status_url
        assert emulator.tickets == [] and emulator.discarded == 1
        assert kiosk.role.health()["printer"] == "paper_out"
        wait_until(lambda: active_alerts(got) == {"printer_paper_out"})
    finally:
        client.loop_stop()
        client.disconnect()


def test_told_the_service_closes_first_a_citizen_who_insists_gets_a_printed_ticket(
        kiosk: Kiosk, server: FakeKioskServer, emulator: EscPosEmulator) -> None:
    """Issue 20 over MQTT: the refusal's params reach the screen, nothing prints until the citizen
    taps "take a ticket anyway", and that request carries after_closing_ok."""
    server.closing = {"service": "passport", "closing": "17:00", "wait_min": 50, "slot": "2026-11-26T08:00:00+00:00"}
    kiosk.tap("lang:uk", "service:passport", "purpose:submit", "priority:none")
    wait_until(lambda: kiosk.screen() is Screen.CLOSING)
    view = kiosk.role.view()
    assert view is not None and "17:00" in view.title and any("26.11 10:00" in line for line in view.lines)
    assert emulator.tickets == [] and not server.issues[0].after_closing_ok
    kiosk.tap("anyway")
    assert len(emulator.wait_for_tickets(1)) == 1
    assert server.issues[-1].after_closing_ok is True and len(server.issues) == 2
