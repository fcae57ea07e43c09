"""Enrollment of provisioned nodes: the list provisioning writes, the token check, the durable record.

Owns the server's side of ``cherga provision``'s one-time enrollment tokens:

* :class:`EnrollmentList` — ``enrollment.json`` as ``cherga provision`` writes it (each node's
  broker user and token SHA-256, and the revoked nodes). The site config names the file
  (``enrollment_file:``); :class:`Enrollments` re-reads it whenever it changes on disk, so a
  revocation copied to the server takes effect without a restart.
* :class:`Enrollments` — whether a node is ``enrolled``, ``awaiting_enrollment``, ``revoked`` or
  ``not_provisioned`` (the list does not name it: the demo office, the HIL office; such nodes are
  served exactly as before enrollment existed), and :meth:`Enrollments.enroll`, which checks a
  token by hash in constant time and records the enrollment in the store's ``node_enrollments``
  table in the same transaction that checks it was not spent.

The MQTT bridge calls it (``broker_bridge.bridge``); nothing here speaks MQTT.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import hmac
import json
import logging
import os
import threading
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Literal

from sqlalchemy import insert, select
from sqlalchemy.exc import IntegrityError

from cherga.server.db import schema
from cherga.server.store import Store

log = logging.getLogger(__name__)

EnrollmentState = Literal["enrolled", "awaiting_enrollment", "revoked", "not_provisioned"]
#: What a provisioned node may send before it has enrolled: its availability and heartbeat, so the
#: device monitor can show it as "awaiting enrollment" (plus the enroll request itself).
BEFORE_ENROLLMENT: frozenset[str] = frozenset({"node_status", "node_telemetry", "node_enroll"})


#: The command id of an enrollment record ``cherga enrollment readmit`` wrote (not the node's own request).
READMIT_PREFIX = "readmit:"


class EnrollmentListError(ValueError):
    """An enrollment list that cannot be read; the message names the file and what is wrong."""


class EnrollmentRefused(Exception):
    """A node the server will not take: ``key`` is the contract's reason, ``message`` says why."""

    def __init__(self, key: str, message: str) -> None:
        super().__init__(f"{key}: {message}")
        self.key = key
        self.message = message


@dataclasses.dataclass(frozen=True)
class ListedNode:
    node: str
    username: str
    token_sha256: str
    issued_at: str


@dataclasses.dataclass(frozen=True)
class EnrollmentList:
    """``enrollment.json``: ``{"office", "nodes": {id: {username, token_sha256, issued_at}}, "revoked": {id: when}}``."""

    office: str
    nodes: Mapping[str, ListedNode]
    revoked: Mapping[str, str]

    @classmethod
    def parse(cls, text: str, source: str) -> EnrollmentList:
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise EnrollmentListError(f"{source}: not JSON ({exc.msg} at line {exc.lineno})") from exc
        if not isinstance(data, dict) or not isinstance(data.get("office"), str):
            raise EnrollmentListError(f"{source}: expected an object with 'office', 'nodes' and 'revoked' "
                                      "(the enrollment.json `cherga provision` writes)")
        nodes: dict[str, ListedNode] = {}
        raw_nodes = data.get("nodes") or {}
        raw_revoked = data.get("revoked") or {}
        if not isinstance(raw_nodes, dict) or not isinstance(raw_revoked, dict):
            raise EnrollmentListError(f"{source}: 'nodes' and 'revoked' must be objects keyed by node id")
        for node, entry in raw_nodes.items():
            digest = entry.get("token_sha256") if isinstance(entry, dict) else None
            if not isinstance(digest, str) or len(digest) != 64 or any(c not in "0123456789abcdef" for c in digest):
                raise EnrollmentListError(f"{source}: nodes.{node}.token_sha256 must be 64 lower-case hex digits")
            nodes[node] = ListedNode(node, str(entry.get("username", "")), digest, str(entry.get("issued_at", "")))
        return cls(data["office"], nodes, {str(k): str(v) for k, v in raw_revoked.items()})

    @classmethod
    def load(cls, path: Path) -> EnrollmentList:
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise EnrollmentListError(f"{path}: cannot read the enrollment list: {exc.strerror}; copy it from "
                                      "<office>-provisioning/server/ (cherga provision server)") from exc
        return cls.parse(text, str(path))

    def state_of(self, node: str) -> Literal["listed", "revoked", "not_provisioned"]:
        if node in self.revoked:
            return "revoked"
        return "listed" if node in self.nodes else "not_provisioned"


@dataclasses.dataclass(frozen=True)
class Enrolled:
    node: str
    enrolled_at: dt.datetime
    first: bool  # False: a resend of the request that enrolled it (its answer was lost)


def token_sha256(token: str) -> str:
    """The token's fingerprint as provisioning stores it (``provisioning.state.fingerprint``)."""
    return hashlib.sha256(token.encode()).hexdigest()


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class Enrollments:
    """The office's provisioned nodes: the list on disk (re-read when it changes) and the store's records.

    :param path: the enrollment list; read now (:class:`EnrollmentListError` if it cannot be), and
        again whenever it changes on disk (inode, size, change or modification time). A list that turns unreadable later
        keeps the last good one in force (logged).
    """

    def __init__(self, store: Store, office: str, path: Path, *,
                 clock: Callable[[], dt.datetime] = _utcnow) -> None:
        self.store = store
        self.office = office
        self.path = Path(path)
        self.clock = clock
        self._lock = threading.Lock()
        self._stamp: tuple[int, ...] | None = None
        self._enrolled: set[tuple[str, str]] = set()  # (node, token_sha256) known to be in the store
        self.list = self._read()
        log.info("enrollment list %s: %d provisioned node(s), %d revoked", self.path, len(self.list.nodes),
                 len(self.list.revoked))

    # --- the list on disk --------------------------------------------------------------------------

    def _file_stamp(self) -> tuple[int, ...] | None:
        try:
            st = os.stat(self.path)
        except OSError:
            return None
        # ctime too: `cp -p` or rsync -t keep the old mtime, but no copy can keep the ctime.
        return st.st_ino, st.st_ctime_ns, st.st_mtime_ns, st.st_size

    def _read(self) -> EnrollmentList:
        stamp = self._file_stamp()
        loaded = EnrollmentList.load(self.path)
        if loaded.office != self.office:
            raise EnrollmentListError(f"{self.path}: the list is for office {loaded.office!r}, this server runs "
                                      f"{self.office!r}")
        self._stamp = stamp
        return loaded

    def current(self) -> EnrollmentList:
        """The list in force, re-read first if the file changed (a stat per call: microseconds)."""
        stamp = self._file_stamp()
        if stamp == self._stamp:
            return self.list
        with self._lock:
            if stamp != self._stamp:
                try:
                    self.list = self._read()
                    log.info("enrollment list %s re-read: %d provisioned, %d revoked", self.path,
                             len(self.list.nodes), len(self.list.revoked))
                except EnrollmentListError as exc:
                    self._stamp = stamp  # do not retry (and log) on every message until it changes again
                    log.error("%s; keeping the previous enrollment list", exc)
        return self.list

    # --- state -------------------------------------------------------------------------------------

    def _in_store(self, node: str, digest: str) -> dict[str, Any] | None:
        t = schema.node_enrollments
        with self.store.reading() as conn:
            row = conn.execute(select(t).where(t.c.office == self.office, t.c.node == node,
                                               t.c.token_sha256 == digest)).mappings().first()
        return None if row is None else dict(row)

    def state(self, node: str) -> EnrollmentState:
        listed = self.current()
        kind = listed.state_of(node)
        if kind != "listed":
            return kind
        digest = listed.nodes[node].token_sha256
        if (node, digest) in self._enrolled:
            return "enrolled"
        if self._in_store(node, digest) is not None:
            self._enrolled.add((node, digest))
            return "enrolled"
        return "awaiting_enrollment"

    def check(self, node: str, route: str) -> None:
        """Refuse what ``node`` may not send yet (or any more); nodes not in the list pass untouched."""
        state = self.state(node)
        if state == "revoked":
            raise EnrollmentRefused("revoked", f"node {node!r} was revoked on {self.current().revoked[node]}; "
                                    "everything it sends is refused")
        if state == "awaiting_enrollment" and route not in BEFORE_ENROLLMENT:
            raise EnrollmentRefused("not_enrolled", f"node {node!r} is provisioned but has not enrolled yet "
                                    "(its first connection sends the token from its card)")

    def overview(self) -> dict[str, EnrollmentState]:
        """Every node the list names (provisioned or revoked) and its state, for the device monitor."""
        listed = self.current()
        return {n: self.state(n) for n in sorted(set(listed.nodes) | set(listed.revoked))}

    # --- enrolling ---------------------------------------------------------------------------------

    def enroll(self, node: str, token: str, command_id: str, *, address: str | None = None) -> Enrolled:
        """Check ``token`` for ``node`` and record the enrollment; :class:`EnrollmentRefused` says why not.

        ``command_id`` is the request's id: the same request again (its answer was lost) is answered
        as the first was; the same token under another id (a cloned card) is ``token_spent``.
        Every enrolment and every refusal is in the audit log (``node_enroll``: node, outcome, reason, address).
        """
        from cherga.server.security import audit

        try:
            done = self._enroll(node, token, command_id, address=address)
        except EnrollmentRefused as exc:
            audit.record(self.store, "node_enroll", at=self.clock(), outcome="refused", actor=node[:64],
                         actor_kind="node", office=self.office, address=address, target=node,
                         data={"reason": exc.key})
            raise
        audit.record(self.store, "node_enroll", at=self.clock(), actor=node[:64], actor_kind="node",
                     office=self.office, address=address, target=node, data={"first": done.first})
        return done

    def _enroll(self, node: str, token: str, command_id: str, *, address: str | None = None) -> Enrolled:
        listed = self.current()
        kind = listed.state_of(node)
        if kind == "revoked":
            raise EnrollmentRefused("revoked", f"node {node!r} was revoked on {listed.revoked[node]}: its card "
                                    "may not enroll; provision a new card with --reinstate")
        if kind == "not_provisioned":
            raise EnrollmentRefused("unknown_node", f"node {node!r} is not in the enrollment list {self.path.name}: "
                                    "provision it (cherga provision image) and copy the server files")
        entry = listed.nodes[node]
        digest = token_sha256(token)
        if not hmac.compare_digest(digest.encode(), entry.token_sha256.encode()):
            raise EnrollmentRefused("wrong_token", f"the token node {node!r} sent is not the one issued to it on "
                                    f"{entry.issued_at or '?'} (an old card, or the card of another node?)")
        t = schema.node_enrollments
        now = self.clock()
        row = None
        for attempt in range(2):
            try:
                with self.store.transaction() as tx:
                    row = tx.conn.execute(select(t.c.command_id, t.c.enrolled_at).where(
                        t.c.office == self.office, t.c.node == node, t.c.token_sha256 == digest)).first()
                    if row is None:
                        tx.conn.execute(insert(t), {"office": self.office, "node": node, "token_sha256": digest,
                                                    "command_id": command_id, "enrolled_at": now,
                                                    "address": address[:64] if address else None})
                break
            except IntegrityError:
                if attempt:  # pragma: no cover - two inserts racing twice in a row
                    raise
                # Another request enrolled it at this very moment (another process): read it again.
        self._enrolled.add((node, digest))
        if row is None:
            log.info("node %s enrolled (token issued %s)", node, entry.issued_at or "?")
            return Enrolled(node, now, first=True)
        if row.command_id != command_id and row.command_id.startswith(READMIT_PREFIX):
            # Re-admitted by the technician (a replaced database): the node's own request claims the record.
            with self.store.transaction() as tx:
                tx.conn.execute(t.update().where(t.c.office == self.office, t.c.node == node,
                                                 t.c.token_sha256 == digest).values(command_id=command_id))
            return Enrolled(node, row.enrolled_at, first=False)
        if row.command_id != command_id:
            raise EnrollmentRefused("token_spent", f"node {node!r} enrolled with this token on "
                                    f"{row.enrolled_at.isoformat(timespec='seconds')}; a second card with the "
                                    "same token (a clone?) is refused")
        return Enrolled(node, row.enrolled_at, first=False)

    def readmit(self, nodes: list[str] | None = None) -> list[str]:
        """Record ``nodes`` (default: every listed, not revoked node) as enrolled with the token the list
        holds for them, without their enroll request; returns the nodes newly re-admitted.

        For a server whose database was replaced (restored, rebuilt): its nodes enrolled long ago, do not
        enroll again, and would be refused as ``not_enrolled`` for ever. The list on disk still proves which
        token each was given; a revoked or unlisted node is refused (:class:`EnrollmentRefused`).
        """
        listed = self.current()
        wanted = sorted(listed.nodes) if nodes is None else nodes
        for node in wanted:
            kind = listed.state_of(node)
            if kind == "revoked":
                raise EnrollmentRefused("revoked", f"node {node!r} was revoked on {listed.revoked[node]}: provision "
                                        "a new card with --reinstate instead")
            if kind == "not_provisioned":
                raise EnrollmentRefused("unknown_node", f"node {node!r} is not in the enrollment list {self.path}")
        t = schema.node_enrollments
        now = self.clock()
        done = []
        with self.store.transaction() as tx:
            for node in wanted:
                digest = listed.nodes[node].token_sha256
                exists = tx.conn.execute(select(t.c.node).where(t.c.office == self.office, t.c.node == node,
                                                                t.c.token_sha256 == digest)).first()
                if exists is None:
                    tx.conn.execute(insert(t), {"office": self.office, "node": node, "token_sha256": digest,
                                                "command_id": f"{READMIT_PREFIX}{now.isoformat(timespec='seconds')}",
                                                "enrolled_at": now, "address": None})
                    done.append(node)
        for node in done:
            self._enrolled.add((node, listed.nodes[node].token_sha256))
            log.warning("node %s re-admitted by the technician (no enroll request)", node)
        return done
