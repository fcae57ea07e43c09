"""The office side of the upward event log (issue 21): a thread that sends the office's event log to
the region, exactly once and in order, over the office's own broker (bridged to the regional one).

The durable outbox is the ``events`` table itself: nothing is copied, nothing marked. The uplink
reads the retained ``region_ack`` (how far the region holds the log), publishes ``EventBatch``es of
the events after it, keeps up to ``window`` batches in flight, and goes back to the ack's ``upto``
(go-back-N) when the region answers ``gap`` or when no ack has moved for ``resend_after_s`` (doubling,
up to 5 minutes, while the region stays silent). The
region stores a batch only when it follows on, so a batch sent twice is stored once.

It only ever reads the office's database: a dead broker, a cut bridge or a region that is down
changes nothing for the queue, which goes on writing events; the uplink catches up when the way is
open again. It connects with its own paho client and broker user (``<office>.uplink``, from
``cherga provision region``), so it never takes the office bridge's client id.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import threading
import time
from collections.abc import Callable
from typing import Any

import paho.mqtt.client as mqtt

from cherga.broker_bridge import contract
from cherga.broker_bridge.client import TlsSettings, server_client
from cherga.broker_bridge.contract import ContractError, EventBatch, UploadAck
from cherga.server.region.eventlog import SettledHorizon, events_after
from cherga.server.store import Store

log = logging.getLogger(__name__)

__all__ = ["Uplink", "UplinkStats"]

MAX_RESEND_WAIT_S = 300.0


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@dataclasses.dataclass
class UplinkStats:
    batches_sent: int = 0
    events_sent: int = 0
    go_backs: int = 0  # resends from the ack's upto (a gap, or acks that stopped)
    acked: int = 0  # the region's upto as last heard
    connected: bool = False


class Uplink:
    """Sends ``office``'s event log from ``store`` to the region through the broker at ``host:port``.

    :param batch_size: events per batch (the contract allows up to 1000, and 1 MiB).
    :param window: batches in flight before an ack must come back.
    :param resend_after_s: no ack moved for this long with batches in flight: go back to the ack.
    :param poll_s: how often the database is read for new events when there is nothing to send.
    :param ack_wait_s: at start, how long to wait for the retained ack before sending from the log's start.
    """

    def __init__(self, store: Store, office: str, host: str, port: int, *, username: str | None = None,
                 password: str | None = None, tls: TlsSettings | None = None, client_id: str | None = None,
                 batch_size: int = 200, window: int = 4, resend_after_s: float = 10.0, poll_s: float = 0.5,
                 ack_wait_s: float = 2.0, clock: Callable[[], dt.datetime] = _utcnow) -> None:
        self.store = store
        self.office = office
        self.host, self.port = host, port
        self.batch_size = batch_size
        self.window = window
        self.resend_after_s = resend_after_s
        self.poll_s = poll_s
        self.ack_wait_s = ack_wait_s
        self.clock = clock
        self.stats = UplinkStats()
        self._horizon = SettledHorizon(store)
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._subscribed = threading.Event()
        self._ack_heard = threading.Event()
        self._acked: int | None = None  # the region's upto (None: not heard yet)
        self._sent = 0  # the seq of the last event handed to the broker (the next batch's 'after')
        self._in_flight: list[int] = []  # the last seq of each batch not yet acked
        self._last_progress = time.monotonic()
        self._rewound_to: int | None = None  # a gap at this upto was already answered by going back
        self._resend_wait = resend_after_s  # grows while no ack moves (see _step)
        self._thread: threading.Thread | None = None
        self.client = server_client(client_id or f"cherga-uplink-{office}", clean_session=True, username=username,
                                    password=password, tls=tls)
        self.client.max_inflight_messages_set(max(20, window * 2))
        self.client.on_connect = self._on_connect
        self.client.on_disconnect = self._on_disconnect
        self.client.on_subscribe = self._on_subscribe
        self.client.on_message = self._on_message
        self._ack_topic = contract.topic("region_ack", office)
        self._events_topic = contract.topic("region_events", office)

    # --- lifecycle -------------------------------------------------------------------------------

    def start(self) -> Uplink:
        self.client.connect_async(self.host, self.port, keepalive=15)
        self.client.loop_start()
        self._thread = threading.Thread(target=self._run, name=f"uplink-{self.office}", daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)
        self.client.disconnect()
        self.client.loop_stop()

    @property
    def acked(self) -> int | None:
        """How far the region holds the office's log, as last heard (``None``: not heard yet)."""
        return self._acked

    # --- the sending loop ------------------------------------------------------------------------

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self._step()
            except Exception:  # the database busy or gone for a moment: the queue is not ours to stop
                log.exception("uplink %s: cannot read the event log; trying again", self.office)
                self._stop.wait(max(self.poll_s, 1.0))
                continue
            self._wake.wait(self.poll_s)
            self._wake.clear()

    def _step(self) -> None:
        if not self._subscribed.is_set():
            return
        # The retained ack comes just after the SUBACK; none at all means the region holds nothing yet.
        if self._acked is None and not self._ack_heard.wait(self.ack_wait_s):
            with self._lock:
                if self._acked is None:
                    self._acked = 0
                    self._sent = 0
                    self._last_progress = time.monotonic()
        horizon = self._horizon.current()
        while not self._stop.is_set() and self._subscribed.is_set():
            with self._lock:
                if self._in_flight and time.monotonic() - self._last_progress > self._resend_wait:
                    self._go_back(f"no ack moved for {self._resend_wait:.0f} s")
                    # The region is away: resend less often each time (up to 5 min), so a day-long cut does
                    # not fill the bridge's queue with copies of the same batches; an ack resets it.
                    self._resend_wait = min(self._resend_wait * 2, max(self.resend_after_s, MAX_RESEND_WAIT_S))
                if len(self._in_flight) >= self.window:
                    return
                after = self._sent
            events = events_after(self.store, self.office, after, self.batch_size, horizon)
            if not events:
                return
            batch = EventBatch(office=self.office, after=after, events=events, sent_at=self.clock())
            with self._lock:
                if self._sent != after:  # an ack moved us (go-back) while we read: read again
                    continue
                info = self.client.publish(self._events_topic, batch.to_bytes(), qos=1)
                if info.rc != mqtt.MQTT_ERR_SUCCESS:
                    return  # not connected: the loop comes back after the reconnect
                if not self._in_flight:
                    self._last_progress = time.monotonic()
                self._sent = events[-1].seq
                self._in_flight.append(self._sent)
                self.stats.batches_sent += 1
                self.stats.events_sent += len(events)

    def _go_back(self, why: str) -> None:
        """Resend from the region's upto (called with the lock held)."""
        upto = self._acked or 0
        log.info("uplink %s: resending after %d (%s)", self.office, upto, why)
        self._sent = upto
        self._in_flight.clear()
        self._rewound_to = upto
        self._last_progress = time.monotonic()
        self.stats.go_backs += 1

    def _on_ack(self, ack: UploadAck) -> None:
        with self._lock:
            first = self._acked is None
            moved = first or ack.upto != self._acked
            self._acked = ack.upto
            self.stats.acked = ack.upto
            if first:
                self._sent = ack.upto
                self._in_flight.clear()
            elif ack.gap:
                # One go-back per gap position: the batches already in flight behind the lost one all
                # answer 'gap' at the same upto, and resending for each would only multiply the traffic.
                if self._rewound_to != ack.upto or not self._in_flight:
                    self._go_back("the region found a gap")
            elif ack.upto > self._sent:
                # The region holds more than we sent in this session (a restart before a retained ack
                # arrived, say): go on from there.
                self._sent = ack.upto
                self._in_flight.clear()
            else:
                self._in_flight = [s for s in self._in_flight if s > ack.upto]
            if moved:
                self._last_progress = time.monotonic()
                self._resend_wait = self.resend_after_s
                if not ack.gap:
                    self._rewound_to = None
        self._ack_heard.set()
        self._wake.set()

    # --- paho callbacks --------------------------------------------------------------------------

    def _on_connect(self, client: mqtt.Client, userdata: Any, flags: Any, reason: Any, properties: Any) -> None:
        if reason.is_failure:
            log.error("uplink %s: the broker refused the connection: %s", self.office, reason)
            return
        self.stats.connected = True
        client.subscribe(self._ack_topic, qos=1)

    def _on_subscribe(self, client: mqtt.Client, userdata: Any, mid: int, reason_codes: Any, properties: Any) -> None:
        if any(getattr(rc, "is_failure", False) for rc in reason_codes):
            log.error("uplink %s: the broker refused the ack subscription (ACL?): nothing goes up", self.office)
            return
        with self._lock:
            # A new session: what was in flight may be lost; start again from the region's upto.
            if self._acked is not None:
                self._sent = self._acked
            self._in_flight.clear()
        self._subscribed.set()
        self._wake.set()

    def _on_disconnect(self, client: mqtt.Client, userdata: Any, flags: Any, reason: Any, properties: Any) -> None:
        self.stats.connected = False
        self._subscribed.clear()
        if not self._stop.is_set():
            log.warning("uplink %s: lost the broker (%s); reconnecting", self.office, reason)

    def _on_message(self, client: mqtt.Client, userdata: Any, msg: mqtt.MQTTMessage) -> None:
        if not msg.payload:
            return
        try:
            decoded = contract.decode(msg.topic, bytes(msg.payload))
        except ContractError as exc:
            log.warning("uplink %s: ignored a malformed ack: %s", self.office, exc)
            return
        ack = decoded.message
        if isinstance(ack, UploadAck) and ack.office == self.office:
            self._on_ack(ack)
