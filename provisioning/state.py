"""What a technician's laptop remembers about an office: issued credentials, tokens, revocations.

Owns ``<state dir>/state.json`` (mode 0600: it holds broker passwords). Every password and
enrollment token comes from :mod:`secrets`; a fingerprint of each one ever issued is kept so a
value is never handed out twice, even after a node is revoked and re-added. The serial of every
node certificate is kept too: revoking a node (or rotating its credentials) puts its certificates
on the site CA's revocation list, since a broker that takes the certificate's name as the user
never looks at the password file.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import secrets
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from cherga.broker_bridge.broker_config import username_for

PASSWORD_BYTES = 24  # 32 URL-safe characters
TOKEN_BYTES = 16


class StateError(ValueError):
    """The state directory belongs to another office, or a request makes no sense (revoked node...)."""


def _with_card(entry: dict[str, Any], *, plain_office: bool) -> dict[str, Any]:
    """A node entry as this version keeps it. An entry from before cards were recorded, in an office
    without a CA, was made for plain MQTT (or not made yet: the same precaution holds)."""
    if "card" not in entry and "cert_serials" not in entry and plain_office:
        return {**entry, "card": "plain"}
    return entry


def fingerprint(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


@dataclass
class NodeSecrets:
    node: str
    username: str
    password: str
    token: str
    issued_at: str
    cert_serials: list[str] = field(default_factory=list)  # hex serials of the node certificates issued
    card: str = ""  # the last card made: "tls" (with a certificate), "plain", or "" (none made yet)

    @property
    def token_sha256(self) -> str:
        return fingerprint(self.token)


@dataclass
class SiteState:
    """Credentials of one office, loaded from and saved to ``state.json``."""

    path: Path
    office: str
    server_password: str = ""
    nodes: dict[str, NodeSecrets] = field(default_factory=dict)
    revoked: dict[str, str] = field(default_factory=dict)  # node id -> when
    issued: set[str] = field(default_factory=set)  # fingerprints of every secret ever issued
    revoked_certs: dict[str, str] = field(default_factory=dict)  # certificate serial (hex) -> when revoked
    # Certificates replaced by `cherga provision tls rotate`: serial -> when the overlap ends (then the CRL names it).
    retiring: dict[str, str] = field(default_factory=dict)

    @classmethod
    def load(cls, state_dir: Path, office: str) -> SiteState:
        path = state_dir / "state.json"
        if not path.exists():
            state = cls(path=path, office=office)
            state.server_password = state._fresh(PASSWORD_BYTES)
            return state
        data = json.loads(path.read_text(encoding="utf-8"))
        if data.get("office") != office:
            raise StateError(f"{path} belongs to office {data.get('office')!r}, not {office!r}: use another --state-dir")
        return cls(
            path=path,
            office=office,
            server_password=data["server_password"],
            nodes={k: NodeSecrets(**_with_card(v, plain_office=not (state_dir / "ca").exists()))
                   for k, v in data.get("nodes", {}).items()},
            revoked=dict(data.get("revoked", {})),
            issued=set(data.get("issued", [])),
            revoked_certs=dict(data.get("revoked_certs", {})),
            retiring=dict(data.get("retiring", {})),
        )

    def save(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        data = {
            "office": self.office,
            "server_password": self.server_password,
            "nodes": {k: asdict(v) for k, v in sorted(self.nodes.items())},
            "revoked": self.revoked,
            "issued": sorted(self.issued),
            "revoked_certs": dict(sorted(self.revoked_certs.items())),
            "retiring": dict(sorted(self.retiring.items())),
        }
        tmp = self.path.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(data, f, indent=2)
            f.write("\n")
        os.replace(tmp, self.path)

    def _fresh(self, nbytes: int) -> str:
        while True:
            value = secrets.token_urlsafe(nbytes)
            fp = fingerprint(value)
            if fp not in self.issued:  # astronomically unlikely, but "never reused" is a promise
                self.issued.add(fp)
                return value

    def ensure(self, node_id: str, *, rotate: bool = False, reinstate: bool = False) -> NodeSecrets:
        """The node's credentials, issuing fresh ones on first use or when ``rotate`` is set."""
        if node_id in self.revoked:
            if not reinstate:
                raise StateError(f"node {node_id!r} was revoked on {self.revoked[node_id]}; "
                                 "pass --reinstate to give it fresh credentials")
            del self.revoked[node_id]
        current = self.nodes.get(node_id)
        if current is not None and rotate:
            self._revoke_certificates(current)  # the old card's certificate goes with its password
        if current is None or rotate:
            current = NodeSecrets(
                node=node_id,
                username=username_for(self.office, node_id),
                password=self._fresh(PASSWORD_BYTES),
                token=self._fresh(TOKEN_BYTES),
                issued_at=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            )
            self.nodes[node_id] = current
        return current

    def revoke(self, node_id: str) -> None:
        """Forget the node's credentials; the next server files leave it out."""
        if node_id not in self.nodes and node_id not in self.revoked:
            raise StateError(f"node {node_id!r} has no credentials to revoke")
        gone = self.nodes.pop(node_id, None)
        if gone is not None:
            self._revoke_certificates(gone)
        self.revoked.setdefault(node_id, dt.datetime.now(dt.UTC).isoformat(timespec="seconds"))

    def record_certificate(self, node_id: str, serial: str) -> None:
        """Remember a certificate issued to the node, so that revoking the node revokes it too."""
        self.nodes[node_id].cert_serials.append(serial)

    def rotate_certificate(self, node_id: str, serial: str, *, until: dt.datetime) -> list[str]:
        """A new certificate for the node: the ones it had keep working until ``until`` (the overlap,
        while the node fetches the new one), then the CRL names them. Returns the retiring serials."""
        node = self.nodes[node_id]
        retiring = [s for s in node.cert_serials if s not in self.retiring and s not in self.revoked_certs]
        for s in retiring:
            self.retiring[s] = until.astimezone(dt.UTC).isoformat(timespec="seconds")
        node.cert_serials.append(serial)
        return retiring

    def end_overlap(self, now: dt.datetime) -> list[str]:
        """End every overlap now: the replaced certificates go on the CRL with the next broker files."""
        when = now.astimezone(dt.UTC).isoformat(timespec="seconds")
        ended = [s for s, until in self.retiring.items() if dt.datetime.fromisoformat(until) > now]
        for s in ended:
            self.retiring[s] = when
        return ended

    def crl_entries(self, now: dt.datetime) -> dict[str, str]:
        """What the CRL names now: revoked certificates and replaced ones whose overlap has ended."""
        out = dict(self.revoked_certs)
        for serial, until in self.retiring.items():
            if dt.datetime.fromisoformat(until) <= now:
                out.setdefault(serial, until)
        return out

    def _revoke_certificates(self, secrets_: NodeSecrets) -> None:
        when = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
        for serial in secrets_.cert_serials:
            self.revoked_certs.setdefault(serial, when)

    def active(self) -> list[NodeSecrets]:
        return [s for k, s in sorted(self.nodes.items()) if k not in self.revoked]
