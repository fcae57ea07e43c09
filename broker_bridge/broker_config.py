"""Mosquitto configuration, password file and ACL, generated from the MQTT contract.

Owns what the office broker lets each client do. Nothing here hand-writes a topic: every
allowed topic comes from :data:`broker_bridge.contract.ROUTES` through :func:`contract.topic` /
:func:`contract.subscription`, so a route added to the contract shows up in the ACL by itself.

Who may **publish** follows each route's ``publisher`` field:

* ``"node"`` routes (``node/{node}/...``): every node, about itself only;
* ``"kiosk"`` routes (``kiosk/{node}/request/...``): a kiosk, under its own node id only;
* ``"pad"`` routes (``counter/{counter}/command``): a pad, for the one counter it sits at;
* ``"server"`` routes: only the server user, which may read and write all of
  ``cherga/v1/{office}/#``.

Who may **read** what is the table :data:`READS` (route names per role). Parameters a node can
bind (its own ``node`` id, a pad's ``counter``) are bound; the rest become ``+`` (a hall display
reads every counter's state).

The password file is Mosquitto's own format (``$7$`` = PBKDF2-SHA512, 101 iterations, 12-byte
salt, exactly what ``mosquitto_passwd`` 2.0 writes), produced in Python so a technician's laptop
needs no Mosquitto installed.
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import hmac
import secrets
from collections.abc import Iterable, Mapping, Sequence
from typing import Literal, Protocol

from cherga.broker_bridge import contract

NodeRole = Literal["kiosk", "display", "pad"]

PBKDF2_ITERATIONS = 101  # Mosquitto 2.0's own default for $7$ hashes
SALT_BYTES = 12
HASH_BYTES = 64

#: What each role reads, besides nothing else. Route names only: topics come from the contract.
COMMON_READS: tuple[str, ...] = ("node_config", "node_error", "server_status", "node_enroll_response",
                                 "node_credentials")
READS: dict[str, tuple[str, ...]] = {
    "kiosk": (*COMMON_READS, "kiosk_response", "hall_state"),
    "pad": (*COMMON_READS, "counter_response", "counter_state"),
    "display": (*COMMON_READS, "hall_state", "hall_call", "counter_state"),
}


class AclNode(Protocol):
    """What the ACL needs to know about a node (the inventory's node model satisfies it)."""

    @property
    def id(self) -> str: ...

    @property
    def role(self) -> str: ...

    @property
    def counter(self) -> str | None: ...


@dataclasses.dataclass(frozen=True)
class Node:
    """A plain :class:`AclNode` for callers without an inventory."""

    id: str
    role: NodeRole
    counter: str | None = None


class BrokerConfigError(ValueError):
    """A node the ACL cannot be written for (unknown role, a pad without a counter, ...)."""


def username_for(office: str, node: str) -> str:
    """The broker user name of ``node``: office-qualified, so one regional broker can hold many
    offices. Ids cannot contain ``.``, so the name is unambiguous."""
    return f"{office}.{node}"


# --- passwords -----------------------------------------------------------------------------------

def hash_password(password: str, *, salt: bytes | None = None, iterations: int = PBKDF2_ITERATIONS) -> str:
    """Mosquitto's ``$7$`` hash of ``password`` (what ``mosquitto_passwd`` writes)."""
    salt = secrets.token_bytes(SALT_BYTES) if salt is None else salt
    digest = hashlib.pbkdf2_hmac("sha512", password.encode("utf-8"), salt, iterations, HASH_BYTES)
    return f"$7${iterations}${base64.b64encode(salt).decode()}${base64.b64encode(digest).decode()}"


def verify_password(password: str, hashed: str) -> bool:
    """Whether ``password`` matches a ``$7$`` hash (used to check a bundle against the server files)."""
    parts = hashed.split("$")
    if len(parts) != 5 or parts[1] != "7":
        return False
    try:
        iterations = int(parts[2])
        salt = base64.b64decode(parts[3], validate=True)
        expected = base64.b64decode(parts[4], validate=True)
    except ValueError:
        return False
    digest = hashlib.pbkdf2_hmac("sha512", password.encode("utf-8"), salt, iterations, len(expected))
    return hmac.compare_digest(digest, expected)


def render_password_file(credentials: Mapping[str, str] | Iterable[tuple[str, str]], *,
                         keep: Mapping[str, str] | None = None) -> str:
    """A Mosquitto password file from ``{username: plain password}``; each gets a fresh salt.

    ``keep``: ``{username: hash}`` of the file written before (:func:`parse_password_file`). A user
    whose old hash still matches its password keeps it, so writing the same users again gives the
    same file (a rerun on the laptop changes nothing the broker host would have to take again).
    """
    items = list(credentials.items()) if isinstance(credentials, Mapping) else list(credentials)
    keep = keep or {}
    seen: set[str] = set()
    lines = []
    for user, password in items:
        if not user or ":" in user or any(c.isspace() for c in user):
            raise BrokerConfigError(f"user name {user!r} cannot go into a Mosquitto password file")
        if user in seen:
            raise BrokerConfigError(f"user {user!r} appears twice")
        if not password:
            raise BrokerConfigError(f"user {user!r} has an empty password")
        seen.add(user)
        previous = keep.get(user)
        lines.append(f"{user}:{previous if previous and verify_password(password, previous) else hash_password(password)}")
    return "\n".join(lines) + ("\n" if lines else "")


def parse_password_file(text: str) -> dict[str, str]:
    """``{username: hash}`` from a password file (blank lines and ``#`` comments skipped)."""
    out: dict[str, str] = {}
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            user, _, hashed = line.partition(":")
            out[user] = hashed
    return out


# --- ACL -----------------------------------------------------------------------------------------

def _bindings(node: AclNode) -> dict[str, str]:
    values = {"node": node.id}
    if node.counter:
        values["counter"] = node.counter
    return values


def node_writes(office: str, node: AclNode) -> list[str]:
    """The exact topics ``node`` may publish, from each route's ``publisher``."""
    if node.role not in READS:
        raise BrokerConfigError(f"node {node.id!r}: unknown role {node.role!r} (kiosk, display or pad)")
    bound = _bindings(node)
    topics = []
    for route in contract.ROUTES.values():
        if route.publisher not in ("node", node.role):
            continue
        missing = [p for p in route.params if p not in bound]
        if missing:
            raise BrokerConfigError(
                f"node {node.id!r} ({node.role}) publishes {route.name} but has no {', '.join(missing)}"
                + (": give the pad its counter" if "counter" in missing else ""))
        topics.append(contract.topic(route.name, office, **{p: bound[p] for p in route.params}))
    return topics


def node_reads(office: str, node: AclNode) -> list[str]:
    """The topic filters ``node`` may subscribe to: its own parameters bound, the rest ``+``."""
    if node.role not in READS:
        raise BrokerConfigError(f"node {node.id!r}: unknown role {node.role!r} (kiosk, display or pad)")
    bound = _bindings(node)
    return [contract.subscription(name, office, **{p: bound[p] for p in contract.ROUTES[name].params if p in bound})
            for name in READS[node.role]]


def office_filter(office: str) -> str:
    """Everything of one office: what the server user may read and write."""
    return f"{contract.ROOT}/{office}/#"


def render_acl(office: str, nodes: Iterable[AclNode], server_user: str | Sequence[str]) -> str:
    """A Mosquitto ``acl_file``: the server user(s) get the office, each node only its own topics.

    Several server users: one per server process (``server_instances``), since the broker ties each
    client id to its user name. A user not named here (a revoked node, say) is refused everything.
    """
    server_users = [server_user] if isinstance(server_user, str) else list(server_user)
    nodes = list(nodes)
    ids = [n.id for n in nodes]
    dupes = sorted({i for i in ids if ids.count(i) > 1})
    if dupes:
        raise BrokerConfigError(f"node ids appear twice: {', '.join(dupes)}")
    out = [
        f"# Mosquitto ACL for office {office}, generated by `cherga provision` from the MQTT contract.",
        "# Do not edit: regenerate it. Users not listed here may do nothing.",
        "",
    ]
    for user in server_users:
        out += [f"user {user}", f"topic readwrite {office_filter(office)}"]
    for node in sorted(nodes, key=lambda n: n.id):
        out += ["", f"# {node.role} {node.id}" + (f" at counter {node.counter}" if node.counter else ""),
                f"user {username_for(office, node.id)}"]
        writes = node_writes(office, node)
        reads = node_reads(office, node)
        out += [f"topic write {t}" for t in writes]
        out += [f"topic read {t}" for t in reads if t not in writes]
    return "\n".join(out) + "\n"


# --- mosquitto.conf ------------------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class TlsFiles:
    """A TLS listener's files (paths as the broker host sees them)."""

    cafile: str
    certfile: str
    keyfile: str
    require_certificate: bool = False  # True: clients must also present a certificate from the CA
    crlfile: str | None = None  # the CA's revocation list: a revoked node's certificate is refused at the handshake


def render_mosquitto_conf(
    *,
    password_file: str,
    acl_file: str,
    port: int | None = 1883,
    bind: str = "",
    plain_bind: str | None = None,
    persistence: bool = True,
    persistence_location: str = "/var/lib/mosquitto/",
    tls: TlsFiles | None = None,
    tls_port: int = 8883,
    log_dest: str = "syslog",
    fragment: bool = False,
) -> str:
    """A complete ``mosquitto.conf`` for the office broker (``fragment=False``, for ``mosquitto -c``),
    or a ``conf.d`` file for beside Debian's stock ``mosquitto.conf`` (``fragment=True``).

    The stock file already sets ``persistence``, ``persistence_location``, ``log_dest`` and the pid
    file, and Mosquitto refuses to start when ``conf.d`` repeats ``persistence_location``
    ("Duplicate persistence_location"), so a fragment leaves those to it.
    ``port=None`` leaves out the plain listener (TLS only); ``plain_bind`` gives it an address of its
    own (``127.0.0.1``: the office server beside the broker, while nodes use TLS). Authentication is per listener, so
    each listener repeats the password and ACL files; anonymous clients are always refused, and
    each client's id is its user name (one credential, one session: nobody can take another's).
    """
    if port is None and tls is None:
        raise BrokerConfigError("a broker with neither a plain nor a TLS listener accepts nobody")
    lines = [
        "# Mosquitto configuration generated by `cherga provision`. Regenerate instead of editing.",
        "per_listener_settings true",
        # Without it every request/response round trip waits ~40 ms on Nagle's algorithm.
        "set_tcp_nodelay true",
    ]
    if not fragment:
        lines.append(f"persistence {'true' if persistence else 'false'}")
        if persistence:
            lines.append(f"persistence_location {persistence_location}")
        lines.append(f"log_dest {log_dest}")
    lines += ["log_type error", "log_type warning", "log_type notice", "connection_messages true"]
    # use_username_as_clientid: a client's id is its user name, whatever it asks for. Otherwise any
    # node's credentials could connect with the bridge's client id, knock the bridge off and take
    # its persistent session (with the commands queued in it).
    auth = ["allow_anonymous false", f"password_file {password_file}", f"acl_file {acl_file}",
            "use_username_as_clientid true"]
    if port is not None:
        pbind = bind if plain_bind is None else plain_bind
        lines += ["", f"listener {port}{' ' + pbind if pbind else ''}", *auth]
    if tls is not None:
        lines += ["", f"listener {tls_port}{' ' + bind if bind else ''}", *auth,
                  f"cafile {tls.cafile}", f"certfile {tls.certfile}", f"keyfile {tls.keyfile}",
                  f"require_certificate {'true' if tls.require_certificate else 'false'}",
                  "tls_version tlsv1.2"]
        if tls.crlfile:
            lines.append(f"crlfile {tls.crlfile}")
        if tls.require_certificate:
            # The certificate's common name is the user: a node's certificate is bound to its id, so one
            # node's certificate with another's password acts as nobody but itself.
            lines.append("use_identity_as_username true")
    return "\n".join(lines) + "\n"
