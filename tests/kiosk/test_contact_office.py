"""A contact left at the kiosk, end to end (issue 19): the kiosk role on the real node runtime and a
real Mosquitto, the pty printer, the real bridge with the office's service layer and notifier on a
real SQLite store, and a fake SMS gateway on loopback that records what it is asked to send.

The citizen takes a ticket, taps "tell me when my turn is near", types a phone on the digit keys,
ticks the consent and confirms; when the counter's calls bring the ticket near, the gateway gets
"your turn is near" in the citizen's language. A citizen who walks away leaves nothing behind, and
a contact without consent is refused with its reason while the ticket stands.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from cherga.broker_bridge import contract
from cherga.broker_bridge.bridge import Bridge
from cherga.broker_bridge.contract import Contact, CounterAction, IssueTicket, LeaveContact
from cherga.firmware_host.config import BrokerOptions, NodeConfig
from cherga.firmware_host.session import NodeSession
from cherga.kiosk.emulator import EscPosEmulator
from cherga.kiosk.i18n import text
from cherga.kiosk.printer import PrinterConfig, TicketPrinter
from cherga.kiosk.role import KioskRole
from cherga.kiosk.ui.state import Screen
from cherga.server.db import schema
from cherga.server.notify import texts
from cherga.server.notify.engine import Notifier
from cherga.server.service import OfficeService
from cherga.server.siteconfig import SiteConfig
from tests.bridge.conftest import NODES, make_service, sign_in
from tests.kiosk.conftest import FakeClock
from tests.notify.fakes import FakeGateway
from tests.server.helpers import demo_dict
from tests.support.mosquitto import Broker
from tests.support.wait import wait_until

pytestmark = pytest.mark.mosquitto
PHONE = "+996551234567"


class Office:
    """The server side: service, notifier (its SMS gateway the fake) and the bridge on the broker."""

    def __init__(self, broker: Broker, gateway: FakeGateway, db: Path) -> None:
        self.id = "n" + uuid.uuid4().hex[:8]
        data = demo_dict(nodes=NODES, notify={"near_people": 2, "near_minutes": 0,
                                              "sms": {"url": f"{gateway.url}/sms/send",
                                                      "body": '{"phone": "{to}", "message": "{text}"}'}})
        data["office"]["id"] = self.id
        self.site = SiteConfig.model_validate(data)
        self.service: OfficeService = make_service(self.site, db)
        sign_in(self.service, "c1")
        self.notifier = Notifier(self.service)
        self.bridge = Bridge(self.service, broker.host, broker.port, config=self.site, notifier=self.notifier,
                             client_id=f"bridge-{self.id}").start()

    def contacts(self) -> list[Any]:
        with self.service.store.reading() as conn:
            return list(conn.execute(select(schema.notify_contacts.c.ticket_id, schema.notify_contacts.c.channel,
                                            schema.notify_contacts.c.address, schema.notify_contacts.c.language)))

    def outbox_rows(self) -> int:
        with self.service.store.reading() as conn:
            return int(conn.execute(select(func.count()).select_from(schema.notify_outbox)).scalar_one())

    def next(self) -> None:
        self.service.counter_action(command_id=f"n-{uuid.uuid4().hex}", counter="c1", action=CounterAction.NEXT,
                                    source="test")

    def close(self) -> None:
        self.bridge.stop()
        self.service.store.close()


class Kiosk:
    """Kiosk k1: the node session and the kiosk role on the broker, printing to the emulator."""

    def __init__(self, broker: Broker, office: str, data_dir: Path, emulator: EscPosEmulator) -> None:
        self.clock = FakeClock()
        local = NodeConfig(node="k1", role="kiosk", office=office,
                           broker=BrokerOptions(host=broker.host, port=broker.port, keepalive_s=5), data_dir=data_dir)
        self.session = NodeSession(local, reconnect_delays=(0.1, 0.5))
        self.role = KioskRole(printer=TicketPrinter(PrinterConfig(type="serial", devfile=emulator.path, timeout=0.3)),
                              clock=self.clock, issue_timeout_s=5.0, health_poll_s=0.5)
        self.session.start()
        self.role.start(self.session, local)
        wait_until(lambda: self.session.connected and self.role.view() is not None, what="k1 has its office config")

    def tap(self, *buttons: str) -> None:
        for b in buttons:
            self.clock.advance(1.0)
            view = self.role.view()
            assert view is not None and b in [x.id for x in view.buttons], (b, view)
            self.role.press(b)

    def screen(self) -> Screen | None:
        view = self.role.view()
        return view.screen if view else None

    def take_ticket(self, lang: str) -> Any:
        before = len(self.role.issued)
        self.tap(f"lang:{lang}", "service:passport", "purpose:submit", "priority:none")
        wait_until(lambda: self.screen() is Screen.TICKET and len(self.role.issued) > before, what="the ticket")
        return self.role.issued[-1]

    def close(self) -> None:
        self.role.stop()
        self.session.close()


@pytest.fixture
def gateway() -> Iterator[FakeGateway]:
    with FakeGateway() as g:
        yield g


@pytest.fixture
def office(mosquitto: Broker, gateway: FakeGateway, tmp_path: Path) -> Iterator[Office]:
    o = Office(mosquitto, gateway, tmp_path / "office.db")
    yield o
    o.close()


@pytest.fixture
def kiosk(mosquitto: Broker, office: Office, tmp_path: Path, emulator: EscPosEmulator) -> Iterator[Kiosk]:
    k = Kiosk(mosquitto, office.id, tmp_path / "k1", emulator)
    yield k
    k.close()


def sent_texts(gateway: FakeGateway) -> list[tuple[str, str]]:
    return [(b["phone"], b["message"]) for b in (json.loads(r["body"]) for r in gateway.requests if r["body"])]


def test_a_phone_left_at_the_kiosk_is_told_your_turn_is_near_in_kyrgyz(
        office: Office, kiosk: Kiosk, gateway: FakeGateway, emulator: EscPosEmulator) -> None:
    for i in range(4):  # four walk-ins ahead
        office.service.issue_ticket(command_id=f"ahead-{i}", source="test", service="passport", language="uk")
    ticket = kiosk.take_ticket("ky")
    assert emulator.wait_for_tickets(1)  # printed first: the offer never holds the ticket back
    assert ticket.people_ahead == 4
    kiosk.tap("notify", *[f"ckey:{d}" for d in PHONE[1:]], "ckey:ok")  # SMS only here: no channel to choose
    assert kiosk.screen() is Screen.CONSENT
    kiosk.tap("agree", "save")
    wait_until(lambda: kiosk.screen() is Screen.MESSAGE, what="the kiosk's answer")
    view = kiosk.role.view()
    assert view is not None and view.title == text("ky", "contact_saved")
    assert office.contacts() == [(ticket.ticket_id, "sms", PHONE, "ky")]

    office.notifier.pump()
    assert sent_texts(gateway) == []  # four ahead: not near yet
    office.next()
    office.next()  # two ahead now: near
    office.notifier.pump()
    near = texts.CATALOGS.text("ky", "msg_near").split("{ahead}")[0].format(ticket=ticket.label)
    assert [(phone, message.startswith(near)) for phone, message in sent_texts(gateway)] == [(PHONE, True)]
    office.notifier.pump()
    assert len(sent_texts(gateway)) == 1  # told once


def test_a_citizen_who_walks_away_leaves_no_personal_data(office: Office, kiosk: Kiosk, gateway: FakeGateway) -> None:
    ticket = kiosk.take_ticket("uk")
    view = kiosk.role.view()
    assert view is not None and [b.id for b in view.buttons] == ["notify", "done"]
    kiosk.clock.advance(60)  # nobody touches the screen
    kiosk.role.tick()
    assert kiosk.screen() is Screen.LANGUAGE
    kiosk.tap("lang:uk", "service:passport", "purpose:submit", "priority:none")  # the next citizen: "No, thanks"
    wait_until(lambda: len(kiosk.role.issued) == 2 and kiosk.screen() is Screen.TICKET, what="the second ticket")
    kiosk.tap("notify", "nothanks")
    for _ in range(3):
        office.next()
    office.notifier.pump()
    assert office.contacts() == [] and office.outbox_rows() == 0 and sent_texts(gateway) == []
    assert office.service.ticket(ticket.ticket_id).status == "done"  # called and served: no message to anyone


def _ask(kiosk: Kiosk, route: str, msg: contract.Command) -> contract.Reply:
    """A request from k1's own session over the broker, and the bridge's reply."""
    return kiosk.session.request(route, msg, timeout=10)


def test_a_contact_without_consent_is_refused_and_the_ticket_still_issued(
        office: Office, kiosk: Kiosk, gateway: FakeGateway) -> None:
    now = dt.datetime.now(dt.UTC)
    no = Contact(channel="sms", address=PHONE, consent=False)
    reply = _ask(kiosk, "kiosk_issue", IssueTicket(id="i-no-consent", node="k1", ts=now, service="passport",
                                                    language="ru", contact=no))
    assert reply.status == "ok" and reply.ticket is not None and reply.ticket.label.startswith("A-")
    assert reply.contact_error is not None and reply.contact_error.key == "consent_required"
    assert office.contacts() == []
    assert reply.ticket.token
    refused = _ask(kiosk, "kiosk_contact", LeaveContact(id="c-no-consent", node="k1", ts=now,
                                                         token=reply.ticket.token, contact=no))
    assert refused.status == "error" and refused.error is not None and refused.error.key == "consent_required"
    bad = _ask(kiosk, "kiosk_contact", LeaveContact(id="c-bad", node="k1", ts=now, token=reply.ticket.token,
                                                     contact=Contact(channel="sms", address="0551", consent=True)))
    assert bad.error is not None and bad.error.key == "bad_phone"
    off = _ask(kiosk, "kiosk_contact", LeaveContact(id="c-tg", node="k1", ts=now, token=reply.ticket.token,
                                                     contact=Contact(channel="telegram", address="42", consent=True)))
    assert off.error is not None and off.error.key == "channel_off"  # no Telegram bot in this office
    office.notifier.pump()
    assert office.contacts() == [] and office.outbox_rows() == 0 and sent_texts(gateway) == []
    assert office.service.ticket(reply.ticket.ticket_id).status == "waiting"


def test_a_contact_with_the_issue_request_is_kept_once_however_often_it_arrives(office: Office, kiosk: Kiosk) -> None:
    now = dt.datetime.now(dt.UTC)
    msg = IssueTicket(id="i-with-contact", node="k1", ts=now, service="passport", language="kk",
                      contact=Contact(channel="sms", address="+7 701 123 45 67", consent=True))
    first = _ask(kiosk, "kiosk_issue", msg)
    again = _ask(kiosk, "kiosk_issue", msg)  # a QoS 1 resend
    assert first.ticket is not None and again.ticket is not None
    assert again.ticket.ticket_id == first.ticket.ticket_id and first.contact_error is None
    assert office.contacts() == [(first.ticket.ticket_id, "sms", "+77011234567", "kk")]


def test_a_contact_that_cannot_be_stored_never_costs_the_ticket_beside_it(office: Office, kiosk: Kiosk) -> None:
    from sqlalchemy import text as sql

    with office.service.store.transaction() as tx:  # the contacts' table is gone: every insert fails
        tx.conn.execute(sql("DROP TABLE notify_contacts"))
    reply = _ask(kiosk, "kiosk_issue", IssueTicket(id="i-broken", node="k1", ts=dt.datetime.now(dt.UTC),
                                                   service="passport", language="uk",
                                                   contact=Contact(channel="sms", address=PHONE, consent=True)))
    assert reply.status == "ok" and reply.ticket is not None
    assert reply.contact_error is not None and reply.contact_error.key == "internal_error"
    assert office.service.ticket(reply.ticket.ticket_id).status == "waiting"
