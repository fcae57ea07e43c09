"""The bridge between MQTT and the server's service layer (``server.service.OfficeService``).

Owns the server's one MQTT client. It validates every message against the contract, checks the
sender against the site's node registry (a kiosk may only ask for tickets under its own id, a pad
may only press its own counter's buttons), applies commands through the same service layer as
the REST API, answers on the sender's response topic with the contract ``Reply`` envelope, and
publishes retained counter and hall state after every change (from the service's listener) and
again whenever it (re)connects, plus the server's availability and each node's office config.

Nothing a node sends can crash it: every refusal is logged with its reason, counted in
:class:`BridgeMetrics`, and answered on the node's error topic where the node can be told.
Commands are applied once per id however often MQTT delivers them: the bridge passes the command
id (qualified by the node id) to the service, whose command-id store survives restarts.
"""

from __future__ import annotations

import collections
import contextlib
import dataclasses
import datetime as dt
import hashlib
import json
import logging
import threading
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, Literal

import paho.mqtt.client as mqtt

from cherga.broker_bridge import contract
from cherga.broker_bridge.client import TlsSettings, server_client
from cherga.broker_bridge.contract import (
    CheckIn,
    ContractError,
    CounterAction,
    CounterCommand,
    Decoded,
    Enroll,
    ErrorBody,
    ErrorNotice,
    IssueTicket,
    LeaveContact,
    NodeAlert,
    NodeStatus,
    OfflineTicket,
    Payload,
    Reply,
    ServerStatus,
    Telemetry,
)
from cherga.broker_bridge.nodeconfig import build_node_config, offline_range
from cherga.server.siteconfig import SiteConfig

if TYPE_CHECKING:
    from cherga.server.enrollment import Enrollments
    from cherga.server.notify.engine import Notifier
    from cherga.server.service import Change, OfficeService

log = logging.getLogger(__name__)

#: Routes the bridge listens to (what nodes publish). Others are refused if they ever arrive.
LISTENS: tuple[str, ...] = ("kiosk_issue", "kiosk_checkin", "kiosk_offline", "kiosk_contact", "counter_command",
                            "node_status", "node_telemetry", "node_alert", "node_enroll")
# Commands a node sends once: with several server processes each goes to one of their bridges
# (an MQTT shared subscription). Status, telemetry and alerts reach every bridge: each keeps its device view.
SHARED: frozenset[str] = frozenset({"kiosk_issue", "kiosk_checkin", "kiosk_offline", "kiosk_contact", "counter_command",
                                    "node_enroll"})
COMMAND_ID_MAX = 80  # server.db.schema: command ids are String(80)


@dataclasses.dataclass
class BridgeMetrics:
    """Counters for ``/metrics`` and the tests. ``refused`` is keyed by reason."""

    received: int = 0
    applied: int = 0
    observed: int = 0
    service_errors: collections.Counter[str] = dataclasses.field(default_factory=collections.Counter)
    refused: collections.Counter[str] = dataclasses.field(default_factory=collections.Counter)
    internal_errors: int = 0
    published: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {"received": self.received, "applied": self.applied, "observed": self.observed,
                "service_errors": dict(self.service_errors), "refused": dict(self.refused),
                "internal_errors": self.internal_errors, "published": self.published}


@dataclasses.dataclass(frozen=True)
class Outcome:
    """What became of one message: ``applied`` (answered ok/empty), ``answered_error`` (the service
    refused it, e.g. daily cap), ``observed`` (status/telemetry noted), ``refused`` (contract or
    authorisation), ``failed`` (a bug; logged with its traceback)."""

    status: Literal["applied", "answered_error", "observed", "refused", "failed"]
    reason: str | None = None
    message: str = ""


class Refused(Exception):
    def __init__(self, reason: str, message: str, node: str | None = None) -> None:
        super().__init__(f"{reason}: {message}")
        self.reason, self.message, self.node = reason, message, node


def _node_of(payload: bytes) -> str | None:
    """Best effort: the ``node`` of a payload that failed validation, to address the error notice."""
    try:
        data = json.loads(payload)
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError):
        return None
    value = data.get("node") if isinstance(data, dict) else None
    return value if isinstance(value, str) and contract.IDENT_RE.match(value) else None


# Counter buttons older than this are refused (see _counter_command); ratings may wait in an outbox.
REALTIME_MAX_AGE_S = 15.0
UNSYNCED_CLOCK_S = 600.0
DURABLE_ACTIONS = frozenset({CounterAction.RATE})


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _service_error_types() -> tuple[type[BaseException], ...]:
    try:
        from cherga.server.errors import ServiceError
    except ImportError:  # pragma: no cover - the server package is always there on the server
        return ()
    return (ServiceError,)


class Bridge:
    """The server's MQTT client.

    :param service: the office's service layer.
    :param config: the site configuration; default ``service.config``.
    :param host, port, username, password, tls: the broker.
    :param client_id: a fixed id with a persistent session, so commands sent while the bridge
        is restarting wait in the broker (QoS 1) instead of being lost.
    :param instance: this server process's name when several serve the office (``cherga server
        --instance``): its bridge gets a client id of its own (two bridges with one id knock each other
        off the broker) and takes node commands through a shared subscription, so each command reaches
        one process. Each instance needs a broker user of its own where the broker ties client ids to
        user names (the generated config does; ``server_instances`` in the inventory).
    :param notifier: the office's notifications (``server.notify``): a kiosk's contact is kept through
        it, the same door as ``/t/{token}/notify``. Without one a contact is refused ``notifications_off``.
    """

    def __init__(self, service: OfficeService, host: str, port: int, *, config: SiteConfig | None = None,
                 username: str | None = None, password: str | None = None,
                 tls: TlsSettings | Mapping[str, Any] | None = None, client_id: str | None = None,
                 version: str = "", enrollments: Enrollments | None = None, instance: str | None = None,
                 notifier: Notifier | None = None) -> None:
        self.service = service
        self.notifier = notifier
        self.instance = instance
        self.config: SiteConfig = config if config is not None else service.config
        self.office = self.config.office.id
        self.host, self.port = host, port
        self.version = version
        self.metrics = BridgeMetrics()
        self.node_states: dict[str, NodeStatus] = {}
        self.node_telemetry: dict[str, Telemetry] = {}
        self._clock_skew: dict[str, dt.timedelta] = {}
        self.node_alerts: dict[tuple[str, str], NodeAlert] = {}
        self._device_listeners: list[Callable[[], None]] = []
        self._nodes = {n.id: n for n in self.config.nodes} if self.config.nodes is not None else None
        # Provisioned nodes (server.enrollment): built from the site config's enrollment_file unless given.
        if enrollments is None and self.config.enrollment_file is not None:
            from cherga.server.enrollment import Enrollments

            enrollments = Enrollments(service.store, self.office, self.config.enrollment_file)
        self.enrollments = enrollments
        self._counters = {c.id for c in self.config.counters}
        self._service_errors = _service_error_types()
        self._running = False
        self._connected = threading.Event()
        # Set once the broker acknowledged our subscriptions (SUBACK): only then does a command published
        # by a node reach us, so start(wait=...) waits for this, not for the CONNACK.
        self._listening = threading.Event()
        self._subscribe_mid: int | None = None
        self._lock = threading.Lock()
        self._handlers: dict[str, Callable[[Decoded, str], Reply | None]] = {
            "kiosk_issue": self._issue,
            "kiosk_checkin": self._check_in,
            "kiosk_offline": self._offline_ticket,
            "kiosk_contact": self._leave_contact,
            "counter_command": self._counter_command,
            "node_status": self._node_status,
            "node_telemetry": self._node_telemetry,
            "node_alert": self._node_alert,
            "node_enroll": self._enroll,
        }
        if self._nodes is None:
            log.warning("the site config has no nodes: registry; the bridge accepts any node id (development only)")

        default_id = f"cherga-bridge-{self.office}" + (f"-{instance}" if instance else "")
        self.client = server_client(
            client_id or default_id, clean_session=False, username=username, password=password,
            tls=None if tls is None else tls if isinstance(tls, TlsSettings) else TlsSettings(**dict(tls)))
        self.client.max_inflight_messages_set(1000)
        self.client.max_queued_messages_set(0)
        self.client.will_set(contract.topic("server_status", self.office),
                             ServerStatus(state="offline", version=version).to_bytes(), qos=1, retain=True)
        self.client.on_connect = self._on_connect
        self.client.on_disconnect = self._on_disconnect
        self.client.on_subscribe = self._on_subscribe
        self.client.on_message = self._on_message
        service.add_listener(self._on_change)

    # --- lifecycle -------------------------------------------------------------------------------

    def start(self, wait: float | None = 10.0) -> Bridge:
        """Connect (in the background) and, by default, wait up to ``wait`` s until the broker has our
        subscriptions (a node's command published after this returns reaches the bridge)."""
        self._running = True
        self.client.connect_async(self.host, self.port, keepalive=15)
        self.client.loop_start()
        if wait and not self._listening.wait(wait):
            log.warning("bridge: broker %s:%s not reachable yet; retrying in the background", self.host, self.port)
        return self

    def stop(self, timeout: float = 2.0) -> None:
        """Publish the server ``offline`` (retained) and disconnect."""
        if not self._running:
            return
        if self._connected.is_set():
            info = self.client.publish(contract.topic("server_status", self.office),
                                       ServerStatus(state="offline", version=self.version, ts=_utcnow()).to_bytes(),
                                       qos=1, retain=True)
            with contextlib.suppress(Exception):
                info.wait_for_publish(timeout)
        self._running = False
        self.client.disconnect()
        self.client.loop_stop()
        self._connected.clear()
        self._listening.clear()

    @property
    def connected(self) -> bool:
        return self._connected.is_set()

    def wait_connected(self, timeout: float = 5.0) -> bool:
        """Wait until connected and subscribed (SUBACK), so commands published from now on are heard."""
        return self._listening.wait(timeout)

    def reconfigure(self, config: SiteConfig) -> None:
        """A new site config (saved on the administration pages): the node registry and counters follow
        it, and each node's retained config is republished at once, so a node online sees it now and a
        node offline finds it when it reconnects (retained)."""
        self.config = config
        self._nodes = {n.id: n for n in config.nodes} if config.nodes is not None else None
        self._counters = {c.id for c in config.counters}
        if not self._connected.is_set():
            return  # publish_all_state runs on the next connect, with this config
        for node in config.nodes or []:
            try:
                self._publish("node_config", build_node_config(config, node), node=node.id)
            except Exception:
                log.exception("bridge: cannot build node %s config", node.id)

    def publish_all_state(self) -> None:
        """Every retained topic the server owns: server status, counter and hall state, node configs."""
        self._publish("server_status", ServerStatus(state="online", version=self.version, ts=_utcnow()))
        for c in self.config.counters:
            try:
                self._publish("counter_state", self.service.counter_state(c.id), counter=c.id)
            except Exception:
                log.exception("bridge: cannot read counter %s state", c.id)
        try:
            self._publish("hall_state", self.service.hall_state())
        except Exception:
            log.exception("bridge: cannot read hall state")
        for node in self.config.nodes or []:
            try:
                self._publish("node_config", build_node_config(self.config, node), node=node.id)
            except Exception:
                log.exception("bridge: cannot build node %s config", node.id)

    # --- the message handler (tests feed it directly) --------------------------------------------

    def handle(self, topic_name: str, payload: bytes) -> Outcome:
        """Validate, authorise, apply and answer one message. Never raises."""
        self.metrics.received += 1
        decoded: Decoded | None = None
        try:
            decoded = self._decode(topic_name, payload)
            node = self._authorise(decoded)
            reply = self._handlers[decoded.route.name](decoded, node)
        except Refused as exc:
            self.metrics.refused[exc.reason] += 1
            log.warning("bridge: refused %s from %s: %s: %s", topic_name[:200], exc.node or "?", exc.reason, exc.message)
            self._tell_refused(topic_name, payload, decoded, exc)
            return Outcome("refused", exc.reason, exc.message)
        except Exception as exc:  # a bug: never let it take the office down
            self.metrics.internal_errors += 1
            log.exception("bridge: failed on %s", topic_name[:200])
            if decoded is not None and isinstance(decoded.message, contract.Command):
                self._reply(decoded, Reply(id=decoded.message.id, status="error",
                                           error=ErrorBody(key="internal_error", message=type(exc).__name__)))
            return Outcome("failed", "internal_error", repr(exc)[:200])
        if reply is None:
            self.metrics.observed += 1
            return Outcome("observed")
        self._reply(decoded, reply)
        if reply.status == "error":
            key = reply.error.key if reply.error else "error"
            self.metrics.service_errors[key] += 1
            return Outcome("answered_error", key, reply.error.message if reply.error else "")
        self.metrics.applied += 1
        return Outcome("applied")

    def _decode(self, topic_name: str, payload: bytes) -> Decoded:
        try:
            decoded = contract.decode(topic_name, payload)
        except ContractError as exc:
            raise Refused(exc.reason, exc.message, self._sender_guess(topic_name, payload)) from exc
        except RecursionError as exc:  # deeply nested JSON
            raise Refused("bad_json", "payload nests too deeply", self._sender_guess(topic_name, b"")) from exc
        if decoded.office != self.office:
            raise Refused("wrong_office", f"this bridge serves office {self.office!r}, not {decoded.office!r}")
        if decoded.route.name not in self._handlers:
            raise Refused("not_accepted", f"only the server publishes {decoded.route.name}")
        return decoded

    def _authorise(self, decoded: Decoded) -> str:
        """The sending node's id, once it may send this message."""
        route, msg, params = decoded.route, decoded.message, decoded.params
        claimed: str = getattr(msg, "node", "")
        if "node" in params and claimed != params["node"]:
            raise Refused("node_mismatch", f"payload node {claimed!r} does not match topic node {params['node']!r}",
                          params["node"])
        counter = params.get("counter")
        if counter is not None and counter not in self._counters:
            raise Refused("unknown_counter", f"counter {counter!r} is not in the site config", claimed)
        if self._nodes is not None:
            self._authorise_registered(route, msg, claimed, counter)
        if self.enrollments is not None and route.name != "node_enroll":
            from cherga.server.enrollment import EnrollmentRefused

            try:
                self.enrollments.check(claimed, route.name)
            except EnrollmentRefused as exc:
                raise Refused(exc.key, exc.message, claimed) from None
        return claimed

    def _authorise_registered(self, route: contract.Route, msg: Payload, claimed: str, counter: str | None) -> None:
        """The site config's ``nodes:`` registry: the node exists, has this role, drives this counter."""
        assert self._nodes is not None
        node = self._nodes.get(claimed)
        if node is None:
            raise Refused("unknown_node", f"node {claimed!r} is not in the site's nodes: list", claimed)
        role = getattr(msg, "role", None)
        if role is not None and role != node.role:
            raise Refused("wrong_role", f"node {claimed!r} is a {node.role}, not a {role}", claimed)
        if route.publisher not in ("node", node.role):
            raise Refused("wrong_role", f"a {node.role} may not publish {route.name}", claimed)
        if counter is not None and node.counter != counter:
            raise Refused("not_your_counter", f"pad {claimed!r} drives counter {node.counter!r}, not {counter!r}", claimed)

    # --- handlers: one per route -------------------------------------------------------------------

    def _call(self, decoded: Decoded, fn: Callable[..., Any], **kwargs: Any) -> Any:
        """Run a service call; a ServiceError becomes an error Reply (returned as the exception)."""
        try:
            return fn(**kwargs)
        except self._service_errors as exc:
            msg = decoded.message
            assert isinstance(msg, contract.Command)
            return Reply(id=msg.id, status="error",
                         error=ErrorBody(key=getattr(exc, "key", "error"), message=getattr(exc, "message", str(exc)),
                                         params=getattr(exc, "params", None) or None))

    @staticmethod
    def _command_id(msg: contract.Command) -> str:
        return Bridge._qualified(msg.node, msg.id)

    @staticmethod
    def _qualified(node: str, message_id: str) -> str:
        # Qualified by node: one node's ids can never answer for another's. The store keeps up to
        # 80 characters (a node id of 40 and a message id of 64 would not fit): hash the long ones.
        qualified = f"{node}:{message_id}"
        if len(qualified) <= COMMAND_ID_MAX:
            return qualified
        return f"{node}:h{hashlib.sha256(message_id.encode()).hexdigest()[:32]}"

    def _issue(self, decoded: Decoded, node: str) -> Reply:
        msg = decoded.message
        assert isinstance(msg, IssueTicket)
        out = self._call(decoded, self.service.issue_ticket, command_id=self._command_id(msg), source=node,
                         service=msg.service, bundle=msg.bundle, purpose=msg.purpose, priority=msg.priority,
                         language=msg.language, after_closing_ok=bool(msg.after_closing_ok),
                         asks_before_closing=bool(msg.asks_before_closing))
        if isinstance(out, Reply):
            return out
        # The ticket is committed: the contact is kept after it, outside the queue's transaction, and a
        # refused contact is told beside the ticket, never instead of it.
        contact_error = self._keep_contact(out.token, msg.contact) if msg.contact is not None and out.token else None
        return Reply(id=msg.id, status="ok", ticket=out, contact_error=contact_error)

    def _leave_contact(self, decoded: Decoded, node: str) -> Reply:
        msg = decoded.message
        assert isinstance(msg, LeaveContact)
        error = self._keep_contact(msg.token, msg.contact)
        return Reply(id=msg.id, status="error", error=error) if error else Reply(id=msg.id, status="ok")

    def _keep_contact(self, token: str, contact: contract.Contact) -> ErrorBody | None:
        """Keep ``contact`` for the ticket with ``token`` through the notifier (the path of ``/t/{token}/notify``);
        None when kept, else why not (consent_required, bad_phone, channel_off, unknown_ticket, ...).

        Safe to repeat (a QoS 1 resend): the same address for the same ticket is the same contact."""
        if not contact.consent:  # the first thing wrong, whatever else is: nothing may be kept
            return ErrorBody(key="consent_required", message="the citizen did not consent: nothing was stored")
        if self.notifier is None or not self.notifier.enabled:
            return ErrorBody(key="notifications_off", message="this office sends no notifications")
        from cherga.server.notify.contacts import ContactRefused

        try:
            self.notifier.add_ticket_contact(token, channel=contact.channel, address=contact.address,
                                             consent=contact.consent, language=contact.language)
        except ContactRefused as exc:
            return ErrorBody(key=exc.key, message=str(exc))
        except self._service_errors as exc:
            return ErrorBody(key=getattr(exc, "key", "error"), message=getattr(exc, "message", str(exc)))
        except Exception as exc:  # the store hiccuped: the ticket beside it must still be answered
            log.exception("bridge: keeping a contact failed")
            return ErrorBody(key="internal_error", message=type(exc).__name__)
        return None

    def _check_in(self, decoded: Decoded, node: str) -> Reply:
        msg = decoded.message
        assert isinstance(msg, CheckIn)
        out = self._call(decoded, self.service.check_in, command_id=self._command_id(msg), source=node,
                         code=msg.code, language=msg.language)
        return out if isinstance(out, Reply) else Reply(id=msg.id, status="ok", ticket=out)

    def _offline_ticket(self, decoded: Decoded, node: str) -> Reply:
        msg = decoded.message
        assert isinstance(msg, OfflineTicket)
        out = self._call(decoded, self.service.take_offline_ticket, command_id=self._command_id(msg), source=node,
                         service=msg.service, purpose=msg.purpose, priority=msg.priority, language=msg.language,
                         number=msg.number, issued_at=msg.issued_at,
                         replaces=self._qualified(msg.node, msg.replaces) if msg.replaces else None,
                         # the slice this kiosk was told in its node config: another kiosk's numbers are refused
                         own_range=offline_range(self.config, node))
        return out if isinstance(out, Reply) else Reply(id=msg.id, status="ok", ticket=out)

    def _counter_command(self, decoded: Decoded, node: str) -> Reply:
        msg = decoded.message
        assert isinstance(msg, CounterCommand)
        stale = None
        if msg.action not in DURABLE_ACTIONS:
            age = self._age(node, msg.ts)
            if age is not None and age > REALTIME_MAX_AGE_S:
                # A button press that reaches us late (QoS 1 resend after a reconnect) was shown to
                # the operator as failed: applying it now would call someone unexpectedly. A resend of
                # a press already applied still gets its first answer (the service knows which).
                from cherga.server.errors import ServiceError

                stale = ServiceError("stale_command", f"{msg.action.value} pressed {age:.0f} s ago; press again")
        out = self._call(decoded, self.service.counter_action, command_id=self._command_id(msg), refuse_if_new=stale,
                         counter=decoded.params["counter"], action=msg.action, source=node, operator=msg.operator,
                         result=msg.result, to_service=msg.to_service, to_counter=msg.to_counter,
                         return_after=msg.return_after, delay_s=msg.delay_s, pause_reason=msg.pause_reason,
                         pin=msg.pin, ticket_id=msg.ticket_id, score=msg.score)
        if isinstance(out, Reply):
            return out
        return Reply(id=msg.id, status=out.status, ticket=out.ticket, counter=out.counter)

    def _enroll(self, decoded: Decoded, node: str) -> Reply:
        msg = decoded.message
        assert isinstance(msg, Enroll)
        if self.enrollments is None:
            raise Refused("unknown_node", "this server keeps no enrollment list (enrollment_file: in the site "
                          "config): nothing to enroll with", node)
        from cherga.server.enrollment import EnrollmentRefused

        with self._lock:
            status = self.node_states.get(node)
        try:
            done = self.enrollments.enroll(node, msg.token, self._command_id(msg),
                                           address=status.address if status else None)
        except EnrollmentRefused as exc:
            raise Refused(exc.key, exc.message, node) from None
        if done.first:
            log.info("node %s enrolled", node)
        return Reply(id=msg.id, status="ok")

    def node_overview(self) -> dict[str, dict[str, Any]]:
        """The device monitor's table: every node the site config or the enrollment list names, or that
        has been heard from, with its ``state``: ``online``, ``offline``, ``unknown`` (never heard from),
        ``awaiting enrollment`` or ``revoked``; plus its ``enrollment`` state, role and last status."""
        enrollment = self.enrollments.overview() if self.enrollments is not None else {}
        with self._lock:
            states = dict(self.node_states)
            telemetry = dict(self.node_telemetry)
        roles = {n.id: n.role for n in self.config.nodes or []}
        out: dict[str, dict[str, Any]] = {}
        for node in sorted(set(roles) | set(enrollment) | set(states)):
            status = states.get(node)
            enrolled = enrollment.get(node, "not_provisioned")
            if enrolled == "revoked":
                shown = "revoked"
            elif enrolled == "awaiting_enrollment":
                shown = "awaiting enrollment"
            else:
                shown = status.state if status is not None else "unknown"
            beat = telemetry.get(node)
            out[node] = {"node": node, "role": status.role if status else roles.get(node), "state": shown,
                         "enrollment": enrolled, "connected": status is not None and status.state == "online",
                         "address": status.address if status else None,
                         "version": status.version if status else None,
                         "last_heartbeat": beat.ts if beat else None}
        return out

    def _node_status(self, decoded: Decoded, node: str) -> None:
        assert isinstance(decoded.message, NodeStatus)
        with self._lock:
            changed = (prior := self.node_states.get(node)) is None or prior.state != decoded.message.state
            self.node_states[node] = decoded.message
        log.info("node %s is %s", node, decoded.message.state)
        if changed:
            self._devices_changed()

    def add_device_listener(self, listener: Callable[[], None]) -> None:
        """``listener()`` runs (on the MQTT thread) when a node goes online or offline or an alert changes."""
        self._device_listeners.append(listener)

    def _devices_changed(self) -> None:
        for listener in list(self._device_listeners):
            try:
                listener()
            except Exception:  # a page's listener must not stop the bridge
                log.exception("device listener failed")

    def active_alerts(self) -> list[NodeAlert]:
        """Faults a person must see to, oldest first (paper out, a silent LED board, ...)."""
        with self._lock:
            return sorted(self.node_alerts.values(), key=lambda a: a.ts)

    def _node_telemetry(self, decoded: Decoded, node: str) -> None:
        assert isinstance(decoded.message, Telemetry)
        with self._lock:
            self.node_telemetry[node] = decoded.message
            # Heartbeats travel at once (QoS 0, never retained): their lag is the node's clock skew.
            self._clock_skew[node] = _utcnow() - decoded.message.ts

    def _age(self, node: str, ts: dt.datetime) -> float | None:
        """Seconds since ``node`` sent a message stamped ``ts``, in the server's time; ``None`` if unknowable."""
        skew = self._clock_skew.get(node)
        if skew is not None:
            return (_utcnow() - (ts + skew)).total_seconds()
        raw = (_utcnow() - ts).total_seconds()
        # No heartbeat yet: trust the node's clock only when it is roughly right (a Pi without NTP may
        # be days off; then no age can be judged and nothing is refused for it).
        return raw if abs(raw) < UNSYNCED_CLOCK_S else None

    def _node_alert(self, decoded: Decoded, node: str) -> None:
        msg = decoded.message
        assert isinstance(msg, NodeAlert)
        with self._lock:
            if msg.active:
                self.node_alerts[(node, msg.kind)] = msg
            else:
                self.node_alerts.pop((node, msg.kind), None)
        log.log(logging.WARNING if msg.active else logging.INFO, "node %s alert %s %s: %s", node, msg.kind,
                "raised" if msg.active else "cleared", msg.message)
        self._devices_changed()

    # --- publishing ------------------------------------------------------------------------------

    def _publish(self, route: str, msg: Payload, **params: str) -> None:
        if not self._running:
            return  # not started (tests feeding handle() directly) or stopped: nothing to publish to
        r = contract.ROUTES[route]
        self.client.publish(contract.topic(route, self.office, **params), msg.to_bytes(), qos=r.qos, retain=r.retained)
        self.metrics.published += 1

    def _reply(self, decoded: Decoded, reply: Reply) -> None:
        response = contract.RESPONSE_ROUTE.get(decoded.route.name)
        if response is not None:
            self._publish(response, reply, **decoded.params)

    def _on_change(self, change: Change) -> None:
        """The service's listener: publish what changed (the call first: it is what people wait for)."""
        if not self._running:
            return
        try:
            if change.hall_call is not None:
                self._publish("hall_call", change.hall_call)
            for state in change.counter_states:
                self._publish("counter_state", state, counter=state.counter)
            if change.hall_state is not None:
                self._publish("hall_state", change.hall_state)
        except Exception:
            log.exception("bridge: cannot publish a change")

    def _sender_guess(self, topic_name: str, payload: bytes) -> str | None:
        """The node to tell about a refusal: the topic's node, else the payload's (if it looks like an id)."""
        parts = topic_name.split("/")
        if len(parts) >= 5 and parts[3] in ("kiosk", "node") and contract.IDENT_RE.match(parts[4]):
            return parts[4]
        return _node_of(payload)

    def _topic_nodes(self, topic_name: str) -> list[str]:
        """The nodes a topic of this office belongs to: ``kiosk/{node}`` and ``node/{node}`` name theirs; a
        counter's topic belongs to the pad(s) at that counter (the broker's ACL lets only them publish it).
        A payload's ``node`` is only a claim: a refusal is never addressed by it when the topic says."""
        parts = topic_name.split("/")
        if len(parts) < 5 or "/".join(parts[:2]) != contract.ROOT or parts[2] != self.office:
            return []
        if parts[3] in ("kiosk", "node") and contract.IDENT_RE.match(parts[4]):
            return [parts[4]]
        if parts[3] == "counter" and parts[4] in self._counters and self._nodes is not None:
            return sorted(n.id for n in self._nodes.values() if n.role == "pad" and n.counter == parts[4])
        return []

    def _tell_refused(self, topic_name: str, payload: bytes, decoded: Decoded | None, exc: Refused) -> None:
        if not self._connected.is_set():
            return
        msg_id = decoded.message.id if decoded is not None and isinstance(decoded.message, contract.Command) \
            else contract.message_id_of(payload)
        # The topic's node (a counter's pad), else the one the refusal names (a node-less topic, development
        # without a registry): a forged ``node`` in a payload must not send the notice to someone else.
        nodes = self._topic_nodes(topic_name) or ([exc.node] if exc.node is not None else [])
        for node in nodes:
            if not contract.IDENT_RE.match(node):
                continue
            notice = ErrorNotice(ts=_utcnow(), id=msg_id, topic=topic_name[:300], reason=exc.reason, message=exc.message[:500])
            self._publish("node_error", notice, node=node)
        # A request waiting for its answer gets it on its response topic too, so it need not time out.
        if msg_id is not None and exc.reason not in ("unknown_node", "node_mismatch", "not_your_counter", "wrong_role"):
            try:
                route, office, params = contract.match(topic_name)
            except ContractError:
                return
            response = contract.RESPONSE_ROUTE.get(route.name)
            if response is not None and office == self.office and params.get("counter", "") in self._counters | {""}:
                with contextlib.suppress(ValueError):
                    self._publish(response, Reply(id=msg_id, status="error",
                                                  error=ErrorBody(key=exc.reason, message=exc.message[:500])), **params)

    # --- paho callbacks --------------------------------------------------------------------------

    def _on_connect(self, client: mqtt.Client, userdata: Any, flags: Any, reason: Any, properties: Any) -> None:
        if reason.is_failure:
            log.error("bridge: broker refused the connection: %s", reason)
            return
        self._listening.clear()
        # and the region's retained summary of the other offices' load (issue 21), read, never answered
        _, self._subscribe_mid = client.subscribe([(self._filter(name), contract.ROUTES[name].qos) for name in LISTENS]
                                                  + [(contract.topic("region_network", self.office), 1)])
        self._connected.set()
        log.info("bridge: connected to %s:%s for office %s", self.host, self.port, self.office)
        self.publish_all_state()

    def _filter(self, route: str) -> str:
        """The subscription for ``route``: shared among the office's bridges for commands when instances run."""
        topic = contract.subscription(route, self.office)
        if self.instance and route in SHARED:
            return f"$share/cherga-bridge-{self.office}/{topic}"
        return topic

    def _on_subscribe(self, client: mqtt.Client, userdata: Any, mid: int, reason_codes: Any, properties: Any) -> None:
        if mid != self._subscribe_mid:
            return
        refused = [str(rc) for rc in reason_codes if getattr(rc, "is_failure", False)]
        if refused:  # an ACL that forbids the bridge's topics: say so, it would otherwise hear nothing
            log.error("bridge: broker refused %d of our subscriptions: %s", len(refused), ", ".join(refused))
        self._listening.set()

    def _on_disconnect(self, client: mqtt.Client, userdata: Any, flags: Any, reason: Any, properties: Any) -> None:
        self._connected.clear()
        self._listening.clear()
        if self._running:
            log.warning("bridge: lost the broker (%s); reconnecting", reason)

    def _on_message(self, client: mqtt.Client, userdata: Any, msg: mqtt.MQTTMessage) -> None:
        if msg.topic == contract.topic("region_network", self.office):
            self.take_network(bytes(msg.payload))
            return
        if not msg.payload and msg.retain:
            return  # a retained topic being cleared
        self.handle(msg.topic, bytes(msg.payload))

    def take_network(self, payload: bytes) -> bool:
        """The region's ``region_network`` (the other offices' load): the office's hall state then names a
        faster office per service (``server/region/network.py``). An empty payload (the region cleared
        it) forgets it; a malformed one is logged and changes nothing. Returns whether it was taken."""
        if not payload:
            self.service.set_network(None)
            return True
        try:
            decoded = contract.decode(contract.topic("region_network", self.office), payload)
        except ContractError as exc:
            log.warning("bridge: refused the region's network load: %s: %s", exc.reason, exc.message)
            return False
        assert isinstance(decoded.message, contract.NetworkLoad)
        self.service.set_network(decoded.message)
        self._publish("hall_state", self.service.hall_state())  # kiosks and displays see it now
        return True


def start_bridge(service: OfficeService, host: str, port: int, *, username: str | None = None, password: str | None = None,
                 tls: TlsSettings | Mapping[str, Any] | None = None, config: SiteConfig | None = None,
                 wait: float | None = 10.0, instance: str | None = None, notifier: Notifier | None = None) -> Bridge:
    """Build and start the bridge for ``service`` on the broker at ``host:port`` (``instance``: see :class:`Bridge`)."""
    from cherga import __version__

    return Bridge(service, host, port, config=config, username=username, password=password, tls=tls,
                  version=__version__, instance=instance, notifier=notifier).start(wait=wait)
