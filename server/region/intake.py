"""The region side of the upward event log (issue 21): a thread on the regional broker that stores each
office's ``EventBatch`` in the region's database and answers with the retained ``UploadAck``.

It subscribes to ``cherga/v1/+/region/events`` and ``cherga/v1/+/hall/state``. Batches go through
:func:`server.region.eventlog.store_batches`: what arrived together is stored in one transaction (one
commit for many offices), each batch only if it follows on from its office's cursor; then each
office gets its ack (``gap`` when its batch did not follow on). A batch is refused (logged, counted in
``/metrics`` as ``cherga_region_refused{reason}``) when its office is not one of the region file's
offices with their own server, or when its ``office`` field is not the office of its topic.

The newest ``HallState`` of every office is kept in memory for the network pages:
:meth:`Intake.hall_states` (``app.state.region_link`` on a region server) returns
``{office id: HallState}``, with :meth:`Intake.hall_heard_at` saying when each came;
:meth:`Intake.publish_network` sends an office its retained ``NetworkLoad`` (server/region/pages.py).
"""

from __future__ import annotations

import collections
import contextlib
import dataclasses
import datetime as dt
import logging
import queue
import threading
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import paho.mqtt.client as mqtt
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from cherga.broker_bridge import contract
from cherga.broker_bridge.client import TlsSettings, server_client
from cherga.broker_bridge.contract import ContractError, EventBatch, HallState, NetworkLoad, UploadAck
from cherga.server.region.eventlog import BatchRefused, Stored, store_batches
from cherga.server.store import Store

log = logging.getLogger(__name__)

__all__ = ["Intake", "IntakeStats", "IntakeCollector"]

MAX_GROUP = 256  # batches stored in one transaction at most


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@dataclasses.dataclass
class IntakeStats:
    batches: int = 0  # batches handled (stored, repeats and gaps)
    events_stored: int = 0
    gaps: int = 0
    transactions: int = 0
    refused: collections.Counter[str] = dataclasses.field(default_factory=collections.Counter)
    connected: bool = False


class Intake:
    """Stores the uploads of ``offices`` (the region file's offices with their own server) in ``store``.

    :param on_stored: called after each commit with ``(office, Stored)`` (benchmarks time the upload lag).
    """

    def __init__(self, store: Store, offices: Iterable[str], host: str, port: int, *, username: str | None = None,
                 password: str | None = None, tls: TlsSettings | None = None, client_id: str = "cherga-region-intake",
                 clock: Callable[[], dt.datetime] = _utcnow,
                 on_stored: Callable[[str, EventBatch, Stored], None] | None = None) -> None:
        self.store = store
        self.offices = frozenset(offices)
        self.host, self.port = host, port
        self.clock = clock
        self.on_stored = on_stored
        self.stats = IntakeStats()
        self._halls: dict[str, tuple[HallState, dt.datetime]] = {}
        self._halls_lock = threading.Lock()
        self._queue: queue.Queue[tuple[str, EventBatch] | None] = queue.Queue()
        self._listening = threading.Event()
        self._thread: threading.Thread | None = None
        self.client = server_client(client_id, clean_session=False, username=username, password=password, tls=tls)
        self.client.max_inflight_messages_set(1000)
        self.client.max_queued_messages_set(0)
        self.client.on_connect = self._on_connect
        self.client.on_subscribe = self._on_subscribe
        self.client.on_disconnect = self._on_disconnect
        self.client.on_message = self._on_message

    # --- what the network pages read ------------------------------------------------------------

    def hall_states(self) -> dict[str, HallState]:
        """The newest hall state heard from each office (by office id); an office not heard yet is absent."""
        with self._halls_lock:
            return {office: state for office, (state, _) in self._halls.items()}

    def publish_network(self, office: str, load: NetworkLoad) -> None:
        """Tell ``office`` (retained, through its bridge) the other offices' load: "faster at office X"."""
        self.client.publish(contract.topic("region_network", office), load.to_bytes(), qos=1, retain=True)

    def hall_heard_at(self, office: str) -> dt.datetime | None:
        with self._halls_lock:
            hit = self._halls.get(office)
        return None if hit is None else hit[1]

    # --- lifecycle -------------------------------------------------------------------------------

    def start(self, wait: float | None = 10.0) -> Intake:
        self._thread = threading.Thread(target=self._run, name="region-intake", daemon=True)
        self._thread.start()
        self.client.connect_async(self.host, self.port, keepalive=15)
        self.client.loop_start()
        if wait and not self._listening.wait(wait):
            log.warning("intake: regional broker %s:%s not reachable yet; retrying", self.host, self.port)
        return self

    def stop(self, timeout: float = 5.0) -> None:
        self.client.disconnect()
        self.client.loop_stop()
        self._queue.put(None)
        if self._thread is not None:
            self._thread.join(timeout)

    def wait_listening(self, timeout: float = 10.0) -> bool:
        return self._listening.wait(timeout)

    # --- storing ---------------------------------------------------------------------------------

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                return
            group = [item]
            # Whatever else has arrived meanwhile goes into the same transaction: under load the
            # commits grow instead of queueing up (one flush for many offices' batches).
            with contextlib.suppress(queue.Empty):
                while len(group) < MAX_GROUP:
                    more = self._queue.get_nowait()
                    if more is None:
                        self._queue.put(None)
                        break
                    group.append(more)
            self._store(group)

    def _store(self, group: list[tuple[str, EventBatch]]) -> None:
        try:
            results = store_batches(self.store, [(o, b.after, b.events) for o, b in group], self.clock())
        except Exception:
            # The database is away: no ack goes out, so every office resends after its timeout.
            log.exception("intake: cannot store %d batches; the offices will resend", len(group))
            return
        self.stats.transactions += 1
        acks: dict[str, UploadAck] = {}
        for (office, batch), result in zip(group, results, strict=True):
            self.stats.batches += 1
            if isinstance(result, BatchRefused):
                self._refuse("bad_batch", office, str(result))
                continue
            self.stats.events_stored += result.added
            if result.gap:
                self.stats.gaps += 1
            if self.on_stored is not None:
                self.on_stored(office, batch, result)
            # One ack per office per group: its last word is the one that counts.
            acks[office] = UploadAck(office=office, upto=result.upto, gap=result.gap, at=self.clock())
        for office, ack in acks.items():
            self.client.publish(contract.topic("region_ack", office), ack.to_bytes(), qos=1, retain=True)

    def _refuse(self, reason: str, office: str, why: str) -> None:
        self.stats.refused[reason] += 1
        log.warning("intake: refused a batch on office %s's topic (%s): %s", office, reason, why)

    # --- paho callbacks --------------------------------------------------------------------------

    def _on_connect(self, client: mqtt.Client, userdata: Any, flags: Any, reason: Any, properties: Any) -> None:
        if reason.is_failure:
            log.error("intake: the regional broker refused the connection: %s", reason)
            return
        self.stats.connected = True
        client.subscribe([(contract.subscription("region_events"), 1), (contract.subscription("hall_state"), 1)])

    def _on_subscribe(self, client: mqtt.Client, userdata: Any, mid: int, reason_codes: Any, properties: Any) -> None:
        if any(getattr(rc, "is_failure", False) for rc in reason_codes):
            log.error("intake: the regional broker refused a subscription (ACL?): uploads are not heard")
        self._listening.set()

    def _on_disconnect(self, client: mqtt.Client, userdata: Any, flags: Any, reason: Any, properties: Any) -> None:
        self.stats.connected = False
        self._listening.clear()

    def _on_message(self, client: mqtt.Client, userdata: Any, msg: mqtt.MQTTMessage) -> None:
        if not msg.payload:
            return
        try:
            decoded = contract.decode(msg.topic, bytes(msg.payload))
        except ContractError as exc:
            parts = msg.topic.split("/")
            self._refuse(exc.reason, parts[2] if len(parts) > 2 else "?", exc.message)
            return
        office, message = decoded.office, decoded.message
        if office not in self.offices:
            self._refuse("unknown_office", office, "not an office of the region file with its own server")
            return
        if isinstance(message, HallState):
            with self._halls_lock:
                self._halls[office] = (message, self.clock())
            return
        if isinstance(message, EventBatch):
            if message.office != office:
                self._refuse("office_mismatch", office, f"the batch says office {message.office!r}")
                return
            self._queue.put((office, message))


class IntakeCollector(Collector):
    """The intake's counts for ``/metrics``: batches refused per reason, events stored, gaps answered."""

    def __init__(self, intake: Callable[[], Intake | None]) -> None:
        self._intake = intake

    def collect(self) -> Iterator[Any]:
        refused = CounterMetricFamily("cherga_region_refused", "Uploads the region intake refused, per reason",
                                      labels=["reason"])
        stored = CounterMetricFamily("cherga_region_events_stored", "Office events stored by the region intake")
        gaps = CounterMetricFamily("cherga_region_gaps", "Batches answered with a gap (the office resends)")
        halls = GaugeMetricFamily("cherga_region_offices_heard", "Offices whose hall state the region holds")
        intake = self._intake()
        if intake is not None:
            for reason, count in sorted(intake.stats.refused.items()):
                refused.add_metric([reason], count)
            stored.add_metric([], intake.stats.events_stored)
            gaps.add_metric([], intake.stats.gaps)
            halls.add_metric([], len(intake.hall_states()))
        yield from (refused, stored, gaps, halls)
