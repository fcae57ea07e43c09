"""The node's one MQTT session: connection, availability, subscriptions, requests and the outbox.

Only this module touches the MQTT client on a node. It speaks routes of
:data:`broker_bridge.contract.ROUTES` (never raw topics), validates what it receives, keeps the
node's availability right (retained ``online`` birth message, ``offline`` last will and clean stop),
resubscribes after every reconnect, runs request/response over the contract ``Reply`` envelope and
delivers the commands that may wait through the persistent :class:`~firmware_host.outbox.Outbox`.

See ``docs/node-runtime.md`` for how roles use it.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import socket
import ssl
import threading
import uuid
from collections.abc import Callable
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version
from typing import Any, TypeVar

import paho.mqtt.client as mqtt
from paho.mqtt.client import topic_matches_sub

from cherga.broker_bridge import contract
from cherga.broker_bridge.contract import (
    Command,
    ContractError,
    CounterCommand,
    ErrorBody,
    ErrorNotice,
    NodeAlert,
    NodeCredentials,
    NodeStatus,
    Payload,
    Reply,
    ServerStatus,
)
from cherga.firmware_host import credentials
from cherga.firmware_host.config import NodeConfig
from cherga.firmware_host.outbox import Outbox

log = logging.getLogger(__name__)

C = TypeVar("C", bound=Command)
Handler = Callable[[Any], None]

#: the only commands that may wait in the outbox (route, counter action or None)
DEFERRABLE: frozenset[tuple[str, str | None]] = frozenset({("kiosk_offline", None), ("counter_command", "rate")})


class Offline(RuntimeError):
    """The node is not connected to the broker: a real-time command cannot be sent now."""


class RequestTimeout(TimeoutError):
    """No reply in time. The command may still have been applied; resending the same one is safe."""


def software_version() -> str:
    try:
        return version("cherga")
    except PackageNotFoundError:  # pragma: no cover - running from a plain checkout
        return "0"


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@dataclass
class _Subscription:
    route: str
    filter: str
    handler: Handler


class NodeSession:
    """A node's MQTT session.

    :param config: the node's config file.
    :param outbox: the persistent outbox; default: ``config.outbox_path``.
    :param version: reported in the birth message.
    :param client_id: MQTT client id; default ``cherga-<office>-<node>``.
    :param reconnect_delays: (first, max) reconnect backoff in seconds.
    """

    def __init__(self, config: NodeConfig, *, outbox: Outbox | None = None, version: str | None = None,
                 client_id: str | None = None, reconnect_delays: tuple[float, float] = (0.5, 30.0)) -> None:
        self.config = config
        self.node = config.node
        self.office = config.office
        self.role = config.role
        self.version = version or software_version()
        self.outbox = outbox if outbox is not None else Outbox(config.outbox_path)
        self._lock = threading.RLock()
        self._subs: list[_Subscription] = []
        self._pending: dict[str, Future[Reply]] = {}
        self._connection_callbacks: list[Callable[[bool], None]] = []
        self._outbox_reply_callbacks: list[Callable[[Reply], None]] = []
        self._connected = threading.Event()
        self._started = False
        self._address: str | None = None

        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id or f"cherga-{self.office}-{self.node}",
                                  protocol=mqtt.MQTTv311, clean_session=True)
        # Redelivery after a reconnect: paho keeps unacknowledged QoS 1 messages and resends them.
        self.client.max_inflight_messages_set(100)
        self.client.reconnect_delay_set(reconnect_delays[0], reconnect_delays[1])  # type: ignore[arg-type]
        broker = config.broker
        if broker.username:
            self.client.username_pw_set(broker.username, broker.resolved_password())
        # Our own TLS context (paho wraps every new connection with it), so a rotated client
        # certificate can be loaded into it and the next connection presents it.
        self._ssl: ssl.SSLContext | None = None
        self.cert_serial: str | None = None  # the client certificate presented (hex), if any
        if broker.tls is not None:
            self._ssl = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=str(broker.tls.ca_file))
            card = (broker.tls.cert_file, broker.tls.key_file) if broker.tls.cert_file and broker.tls.key_file else None
            pair = credentials.client_pair(card, config.data_dir, username=broker.username, ca_file=broker.tls.ca_file)
            if pair is not None:
                self._ssl.load_cert_chain(str(pair[0]), str(pair[1]))
                with contextlib.suppress(credentials.CredentialsError):
                    self.cert_serial = credentials.serial_of(pair[0])
            self.client.tls_set_context(self._ssl)
            self.client.tls_insecure_set(broker.tls.insecure)
        self.client.will_set(self._topic("node_status"), self._status("offline").to_bytes(), qos=1, retain=True)
        self.client.on_socket_open = self._on_socket_open
        self.client.on_connect = self._on_connect
        self.client.on_disconnect = self._on_disconnect
        self.client.on_message = self._on_message

        # Internal subscriptions: answers to this node, errors about it, and the server's status.
        self._internal(self._response_route(), self._on_reply)
        self._internal("node_enroll_response", self._on_reply)  # firmware_host.enrollment
        self._internal("node_error", self._on_error_notice)
        self._internal("server_status", self._on_server_status)
        self._internal("node_credentials", self._on_credentials)  # certificate rotation (issue 23)

    # --- lifecycle -------------------------------------------------------------------------------

    def start(self) -> None:
        """Connect in the background; reconnects by itself until :meth:`stop`."""
        if self._started:
            return
        self._started = True
        self.client.connect_async(self.config.broker.host, self.config.broker.port, keepalive=self.config.broker.keepalive_s)
        self.client.loop_start()

    def stop(self, timeout: float = 2.0) -> None:
        """Publish ``offline`` (retained), disconnect and stop the network thread."""
        if not self._started:
            return
        self._started = False
        if self.connected:
            info = self.client.publish(self._topic("node_status"), self._status("offline").to_bytes(), qos=1, retain=True)
            with contextlib.suppress(Exception):
                info.wait_for_publish(timeout)
        self.client.disconnect()
        self.client.loop_stop()
        self._connected.clear()
        with self._lock:
            for fut in self._pending.values():
                if not fut.done():
                    fut.set_exception(Offline("session stopped"))
            self._pending.clear()

    def close(self) -> None:
        self.stop()
        self.outbox.close()

    @property
    def connected(self) -> bool:
        return self._connected.is_set()

    def wait_connected(self, timeout: float = 5.0) -> bool:
        return self._connected.wait(timeout)

    def on_connection(self, callback: Callable[[bool], None]) -> None:
        """``callback(True)`` after each (re)connect, ``callback(False)`` when the broker is lost."""
        self._connection_callbacks.append(callback)

    # --- receiving -------------------------------------------------------------------------------

    def subscribe(self, route: str, handler: Handler, **params: str) -> None:
        """Call ``handler(model)`` for each valid message on ``route``; kept across reconnects.

        Missing params default from the config (``node``, ``counter``); ``"+"`` is a wildcard.
        """
        flt = contract.subscription(route, self.office, **self._params(route, params))
        sub = _Subscription(route, flt, handler)
        # Under the lock that _on_connect holds while it subscribes and marks us connected: either the
        # connect's SUBSCRIBE carries this filter or we send it here; never neither (a pad once missed
        # its counter state for good when its role subscribed between the two).
        with self._lock:
            self._subs.append(sub)
            if self.connected:
                self.client.subscribe(flt, qos=contract.ROUTES[route].qos)

    def on_office_config(self, handler: Callable[[contract.NodeConfig], None]) -> None:
        """The retained office config for this node, now and whenever it changes."""
        self.subscribe("node_config", handler)

    def on_outbox_reply(self, callback: Callable[[Reply], None]) -> None:
        self._outbox_reply_callbacks.append(callback)

    # --- sending ---------------------------------------------------------------------------------

    def command(self, model: type[C], **fields: Any) -> C:
        """A command with a fresh id, this node's id and the current time filled in."""
        fields.setdefault("id", uuid.uuid4().hex)
        fields.setdefault("node", self.node)
        fields.setdefault("ts", utcnow())
        return model(**fields)

    def alert(self, kind: str, *, active: bool = True, message: str = "") -> NodeAlert:
        return NodeAlert(node=self.node, ts=utcnow(), kind=kind, active=active, message=message)

    def publish(self, route: str, msg: Payload, **params: str) -> bool:
        """Publish ``msg`` on ``route`` with the route's QoS and retain flag. False when offline.

        (A QoS 1 message published while offline is still kept by paho and sent on reconnect.)
        """
        r = contract.ROUTES[route]
        if not isinstance(msg, r.model):
            raise TypeError(f"route {route} carries {r.model.__name__}, not {type(msg).__name__}")
        info = self.client.publish(self._topic(route, **params), msg.to_bytes(), qos=r.qos, retain=r.retained)
        return info.rc == mqtt.MQTT_ERR_SUCCESS

    def request(self, route: str, command: Command, timeout: float = 5.0, **params: str) -> Reply:
        """Send a real-time command and wait for its :class:`Reply`.

        :raises Offline: not connected (nothing was sent).
        :raises RequestTimeout: no answer within ``timeout`` seconds.
        """
        if route not in contract.RESPONSE_ROUTE:
            raise ValueError(f"route {route} is not a command route")
        if not self.connected:
            raise Offline("the broker is not reachable")
        fut: Future[Reply] = Future()
        with self._lock:
            self._pending[command.id] = fut
        try:
            self.publish(route, command, **params)
            return fut.result(timeout)
        except FutureTimeout as exc:
            raise RequestTimeout(f"no reply to {route} {command.id} within {timeout} s") from exc
        finally:
            with self._lock:
                self._pending.pop(command.id, None)

    def send_later(self, route: str, command: Command, *, ttl_s: float | None = None, **params: str) -> None:
        """Store a command that may wait (``kiosk_offline``, counter ``rate``) and send it when possible."""
        action = str(command.action) if isinstance(command, CounterCommand) else None
        if (route, action) not in DEFERRABLE:
            raise ValueError(f"{route} {action or ''} is real-time and cannot wait in the outbox; use request()")
        r = contract.ROUTES[route]
        if not isinstance(command, r.model):
            raise TypeError(f"route {route} carries {r.model.__name__}, not {type(command).__name__}")
        topic_name = self._topic(route, **params)
        self.outbox.put(command.id, route, topic_name, command.to_bytes(), ttl_s or self.config.outbox_ttl_s)
        if self.connected:
            self._send_entry(command.id, topic_name, command.to_bytes(), r.qos)

    @property
    def outbox_size(self) -> int:
        return len(self.outbox)

    def flush_outbox(self) -> int:
        """Drop expired entries and (re)send the rest with their original ids; returns how many were sent."""
        for gone in self.outbox.purge_expired():
            log.warning("outbox: %s %s expired after %d attempt(s), dropped", gone.route, gone.id, gone.attempts)
        if not self.connected:
            return 0
        sent = 0
        for entry in self.outbox.pending():
            self._send_entry(entry.id, entry.topic, entry.payload, contract.ROUTES[entry.route].qos)
            sent += 1
        return sent

    # --- internals -------------------------------------------------------------------------------

    def _send_entry(self, id: str, topic_name: str, payload: bytes, qos: int) -> None:
        info = self.client.publish(topic_name, payload, qos=qos)
        if info.rc == mqtt.MQTT_ERR_SUCCESS:
            self.outbox.mark_sent(id)

    def _response_route(self) -> str:
        return "counter_response" if self.role == "pad" else "kiosk_response"

    def _internal(self, route: str, handler: Handler) -> None:
        if self.role == "display" and route in ("kiosk_response", "counter_response"):
            return  # a display sends no commands
        self._subs.append(_Subscription(route, contract.subscription(route, self.office, **self._params(route, {})), handler))

    def _params(self, route: str, given: dict[str, str]) -> dict[str, str]:
        params = dict(given)
        for p in contract.ROUTES[route].params:
            if p not in params:
                if p == "node":
                    params[p] = self.node
                elif p == "counter" and self.config.counter:
                    params[p] = self.config.counter
        return params

    def _topic(self, route: str, **params: str) -> str:
        return contract.topic(route, self.office, **self._params(route, params))

    def _status(self, state: str) -> NodeStatus:
        return NodeStatus(node=self.node, role=self.role, state=state,  # type: ignore[arg-type]
                          version=self.version, address=self._address, ts=utcnow())

    def _on_socket_open(self, client: mqtt.Client, userdata: Any, sock: Any) -> None:
        # Without TCP_NODELAY, Nagle + delayed ACK add ~40 ms to each request/response round trip.
        with contextlib.suppress(OSError, AttributeError):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        with contextlib.suppress(OSError, AttributeError, IndexError):
            self._address = sock.getsockname()[0]

    def _on_connect(self, client: mqtt.Client, userdata: Any, flags: Any, reason: Any, properties: Any) -> None:
        if reason.is_failure:
            log.warning("broker refused the connection: %s", reason)
            return
        client.publish(self._topic("node_status"), self._status("online").to_bytes(), qos=1, retain=True)
        with self._lock:
            filters = sorted({(s.filter, contract.ROUTES[s.route].qos) for s in self._subs})
            if filters:
                client.subscribe(filters)
            self._connected.set()
        log.info("connected to %s:%s as %s", self.config.broker.host, self.config.broker.port, self.node)
        self.flush_outbox()
        self._notify_connection(True)

    def _on_disconnect(self, client: mqtt.Client, userdata: Any, flags: Any, reason: Any, properties: Any) -> None:
        was = self.connected
        self._connected.clear()
        if was:
            if self._started:
                log.warning("lost the broker (%s); reconnecting", reason)
            self._notify_connection(False)

    def _notify_connection(self, up: bool) -> None:
        for cb in list(self._connection_callbacks):
            try:
                cb(up)
            except Exception:
                log.exception("connection callback failed")

    def _on_message(self, client: mqtt.Client, userdata: Any, msg: mqtt.MQTTMessage) -> None:
        if not msg.payload:
            return  # a cleared retained topic
        try:
            decoded = contract.decode(msg.topic, bytes(msg.payload))
        except ContractError as exc:
            log.warning("dropped a message on %s: %s", msg.topic, exc)
            return
        with self._lock:
            handlers = [s.handler for s in self._subs if topic_matches_sub(s.filter, msg.topic)]
        for handler in handlers:
            try:
                handler(decoded.message)
            except Exception:
                log.exception("handler for %s failed", msg.topic)

    def _on_reply(self, reply: Reply) -> None:
        with self._lock:
            fut = self._pending.get(reply.id)
        if fut is not None and not fut.done():
            fut.set_result(reply)
        if self.outbox.ack(reply.id):
            for cb in list(self._outbox_reply_callbacks):
                try:
                    cb(reply)
                except Exception:
                    log.exception("outbox reply callback failed")

    def _on_error_notice(self, notice: ErrorNotice) -> None:
        log.warning("the server refused %s on %s: %s (%s)", notice.id, notice.topic, notice.reason, notice.message)
        if notice.id is None:
            return
        try:
            reply = Reply(id=notice.id, status="error", error=ErrorBody(key=notice.reason, message=notice.message))
        except ValueError:
            return  # the refused id was not a valid message id: nothing of ours waits for it
        self._on_reply(reply)

    def _on_credentials(self, new: NodeCredentials) -> None:
        """A new client certificate from the site CA: check it, keep it, reconnect with it."""
        tls = self.config.broker.tls
        if self._ssl is None or tls is None:
            log.warning("new TLS credentials %s ignored: this node does not use TLS (broker.tls)", new.serial)
            return
        if new.node != self.node:
            log.error("new TLS credentials for %r ignored: this node is %r", new.node, self.node)
            return
        if new.serial == self.cert_serial:
            return  # the retained message again after a reconnect: already in use
        try:
            cert, key = credentials.store(new, self.config.data_dir, username=self.config.broker.username,
                                          ca_file=tls.ca_file)
        except (credentials.CredentialsError, OSError) as exc:
            log.error("new TLS credentials %s refused: %s; the node keeps its certificate", new.serial, exc)
            return
        self._ssl.load_cert_chain(str(cert), str(key))
        self.cert_serial = new.serial
        log.warning("new TLS client certificate %s kept in %s: reconnecting with it", new.serial, cert.parent)
        # Not from this (the network) thread: paho acknowledges the message after the handler returns.
        threading.Thread(target=self._drop_connection, name="cherga-tls-reconnect", daemon=True).start()

    def _drop_connection(self) -> None:
        """Break the connection off: paho reconnects by itself, through the context's new certificate."""
        sock = self.client.socket()
        if isinstance(sock, socket.socket):  # an ssl.SSLSocket is one
            with contextlib.suppress(OSError, ValueError):
                sock.shutdown(socket.SHUT_RDWR)

    def _on_server_status(self, status: ServerStatus) -> None:
        if status.state == "online":
            self.flush_outbox()  # the server is back: hand over what waited
