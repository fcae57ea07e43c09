"""A stand-in office server for kiosk tests, on a real broker, speaking the real contract.

It publishes the kiosk's retained office config and the hall state, answers ``issue`` and
``checkin`` requests (or refuses them with a reason key, or stays silent), takes in offline
tickets, and records every command it saw.
"""

from __future__ import annotations

import datetime as dt
import threading

import paho.mqtt.client as mqtt

from cherga.broker_bridge import contract
from cherga.broker_bridge.contract import (
    CheckIn,
    ErrorBody,
    HallState,
    IssueTicket,
    NodeConfig,
    OfflineTicket,
    Reply,
    ServerStatus,
    ServiceLoad,
    TicketInfo,
)


class FakeKioskServer:
    def __init__(self, host: str, port: int, office: NodeConfig) -> None:
        self.office = office
        self.issues: list[IssueTicket] = []
        self.checkins: list[CheckIn] = []
        self.offline: list[OfflineTicket] = []
        self.refuse: str | None = None  # reason key to answer with
        self.closing: dict[str, str | int] | None = None  # answer not_before_closing with these params unless insisted
        self.silent = False  # take requests, answer nothing (a hung server)
        self.people_ahead = 4
        self.numbers: dict[str, int] = {}
        self.lock = threading.Lock()
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"fake-kiosk-server-{office.office}")
        self.client.on_connect = self._on_connect
        self.client.on_message = self._on_message
        self.client.connect(host, port)
        self.client.loop_start()

    def _on_connect(self, client: mqtt.Client, *_: object) -> None:
        o = self.office.office
        for route in ("kiosk_issue", "kiosk_checkin", "kiosk_offline"):
            client.subscribe(contract.subscription(route, o), qos=1)
        client.publish(contract.topic("node_config", o, node=self.office.node), self.office.to_bytes(), 1, True)
        client.publish(contract.topic("server_status", o), ServerStatus(state="online").to_bytes(), 1, True)

    def publish_load(self, service: str, waiting: int, avg_wait_min: float, wait_min: int | None = None,
                     wait_max_min: int | None = None) -> None:
        load = ServiceLoad(service=service, names={"en": service}, waiting=waiting, counters_open=2,
                           avg_wait_min=avg_wait_min, light="red", wait_min=wait_min, wait_max_min=wait_max_min)
        hall = HallState(office=self.office.office, office_names=self.office.office_names,
                         languages=self.office.languages, calls=[], load=[load], updated_at=dt.datetime.now(dt.UTC))
        self.client.publish(contract.topic("hall_state", self.office.office), hall.to_bytes(), 1, True)

    def _ticket(self, service: str, purpose: str, language: str, origin: str = "walk_in") -> TicketInfo:
        svc = next(s for s in self.office.services if s.id == service)
        n = self.numbers[service] = self.numbers.get(service, 0) + 1
        label = f"{svc.prefix}-{n:03d}"
        return TicketInfo(ticket_id=f"{service}-{n}", label=label, prefix=svc.prefix, number=n, service=service,
                          purpose=purpose, status="waiting", issued_at=dt.datetime.now(dt.UTC),
                          language=language, people_ahead=self.people_ahead,  # type: ignore[arg-type]
                          wait_min=self.people_ahead * 3, origin=origin,  # type: ignore[arg-type]
                          status_url=f"{self.office.public_url}/t/{self.office.office}/{service}-{n}")

    def _on_message(self, client: mqtt.Client, userdata: object, msg: mqtt.MQTTMessage) -> None:
        decoded = contract.decode(msg.topic, bytes(msg.payload))
        cmd = decoded.message
        node = decoded.params["node"]
        with self.lock:
            if isinstance(cmd, IssueTicket):
                self.issues.append(cmd)
            elif isinstance(cmd, CheckIn):
                self.checkins.append(cmd)
            elif isinstance(cmd, OfflineTicket):
                self.offline.append(cmd)
            if self.silent:
                return
            assert isinstance(cmd, IssueTicket | CheckIn | OfflineTicket)
            if self.refuse and not isinstance(cmd, OfflineTicket):
                reply = Reply(id=cmd.id, status="error", error=ErrorBody(key=self.refuse, message="refused"))
            elif (isinstance(cmd, IssueTicket) and self.closing is not None and cmd.asks_before_closing
                  and not cmd.after_closing_ok):
                reply = Reply(id=cmd.id, status="error",
                              error=ErrorBody(key="not_before_closing", message="past closing", params=self.closing))
            elif isinstance(cmd, IssueTicket):
                service = cmd.service or next(b for b in self.office.bundles if b.id == cmd.bundle).services[0]
                reply = Reply(id=cmd.id, status="ok", ticket=self._ticket(service, cmd.purpose, cmd.language))
            elif isinstance(cmd, CheckIn):
                reply = Reply(id=cmd.id, status="ok", ticket=self._ticket("notary", "consult", cmd.language, "booked"))
            else:
                reply = Reply(id=cmd.id, status="ok", ticket=self._ticket(cmd.service, cmd.purpose, cmd.language, "offline"))
        client.publish(contract.topic("kiosk_response", self.office.office, node=node), reply.to_bytes(), 1)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()
