"""A stand-in office server on a real broker, for pad tests that need no OfficeService.

It speaks the real contract over a plain paho client: answers counter commands with a Reply,
publishes the retained counter state, applies each command id once and records what it applied.
"""

from __future__ import annotations

import datetime as dt
import threading

import paho.mqtt.client as mqtt

from cherga.broker_bridge import contract
from cherga.broker_bridge.contract import (
    CounterCommand,
    CounterState,
    ErrorBody,
    Reply,
    ServerStatus,
    TicketInfo,
)

T0 = dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.UTC)


class FakeServer:
    def __init__(self, host: str, port: int, office: str, counter: str = "c1", queue: list[str] | None = None) -> None:
        self.office, self.counter = office, counter
        self.queue = list(queue or ["A-001", "A-002", "A-003"])
        self.applied: list[CounterCommand] = []
        self.seen_ids: set[str] = set()
        self.rated: set[str] = set()
        self.seq = 0
        self.operator: str | None = "olena"
        self.current: str | None = None
        self.finished: list[str] = []
        self.lock = threading.Lock()
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"fake-server-{office}")
        self.client.will_set(contract.topic("server_status", office), ServerStatus(state="offline").to_bytes(), 1, True)
        self.client.on_connect = self._on_connect
        self.client.on_message = self._on_message
        self.client.connect(host, port)
        self.client.loop_start()

    def _on_connect(self, client: mqtt.Client, *_: object) -> None:
        client.subscribe(contract.subscription("counter_command", self.office), qos=1)
        client.publish(contract.topic("server_status", self.office), ServerStatus(state="online").to_bytes(), 1, True)
        self.publish_state()

    def state(self) -> CounterState:
        ticket = None
        if self.current:
            prefix, number = self.current.split("-")
            ticket = TicketInfo(ticket_id=self.current, label=self.current, prefix=prefix, number=int(number),
                                service="passport", purpose="consult", status="called", issued_at=T0)
        return CounterState(office=self.office, counter=self.counter, number="1",
                            status="calling" if ticket else "idle", ticket=ticket, operator=self.operator,
                            rateable_ticket=self.finished[-1] if self.finished else None,
                            updated_at=T0 + dt.timedelta(seconds=self.seq), seq=self.seq)

    def publish_state(self) -> None:
        self.client.publish(contract.topic("counter_state", self.office, counter=self.counter),
                            self.state().to_bytes(), 1, True)

    def _on_message(self, client: mqtt.Client, userdata: object, msg: mqtt.MQTTMessage) -> None:
        cmd = contract.decode(msg.topic, bytes(msg.payload)).message
        assert isinstance(cmd, CounterCommand)
        with self.lock:
            if cmd.id in self.seen_ids:
                return
            self.seen_ids.add(cmd.id)
            reply = self._apply(cmd)
            self.seq += 1
            reply.counter = self.state()
        client.publish(contract.topic("counter_response", self.office, counter=self.counter), reply.to_bytes(), 1)
        self.publish_state()

    def _apply(self, cmd: CounterCommand) -> Reply:
        if cmd.action == "rate":
            if cmd.ticket_id not in self.finished or cmd.ticket_id in self.rated:
                return Reply(id=cmd.id, status="error", error=ErrorBody(key="already_rated", message="no"))
            self.rated.add(cmd.ticket_id)
            self.applied.append(cmd)
            return Reply(id=cmd.id, status="ok")
        if cmd.action == "next":
            if self.current:
                self.finished.append(self.current)
            self.current = self.queue.pop(0) if self.queue else None
            self.applied.append(cmd)
            return Reply(id=cmd.id, status="ok" if self.current else "empty")
        self.applied.append(cmd)
        return Reply(id=cmd.id, status="ok")

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()
