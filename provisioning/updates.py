"""The office's update repository on the technician's laptop: TUF keys, signed releases, rollout.

Owns ``<workdir>/`` (by default ``<office>-updates/`` beside the inventory)::

    keys/targets.pem, keys/snapshot.pem, keys/timestamp.pem   online keys (mode 0600)
    repository/metadata/{1.root,root,targets,snapshot,timestamp}.json
    repository/targets/releases.json                        the release record (a signed target)
    repository/targets/bundles/cherga-<version>.tar.gz      the bundles

and the root key, written once by :func:`init_repository` to a path the technician chooses (a USB
stick kept in a drawer, never on the office server): the root signs which keys may sign the other
roles; only :func:`init_repository` needs it. A release is added, promoted or withdrawn with the
targets key; snapshot and timestamp are re-signed each time (and by :func:`refresh` before the
timestamp expires: the node refuses a timestamp older than its expiry, which is what stops a
server that keeps serving yesterday's metadata).

The release record (``releases.json``) is what the staged rollout is made of: each release names
the roles that may take it and, while it is staged, the nodes (``nodes: null`` = every node of
those roles). Because it is a TUF target, the office server can serve it but cannot change it.

Every function takes ``now``: the tests sign metadata that expired yesterday with the same code.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import tarfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from securesystemslib.signer import CryptoSigner, Signer
from tuf.api.metadata import (
    Metadata,
    MetaFile,
    Root,
    Snapshot,
    TargetFile,
    Targets,
    Timestamp,
)
from tuf.api.serialization.json import JSONSerializer

from cherga.firmware_host.updater import slots

ONLINE_ROLES = ("targets", "snapshot", "timestamp")
RELEASES = "releases.json"
ROLES = ("kiosk", "display", "pad")
PASSPHRASE_ENV = "CHERGA_UPDATES_ROOT_PASSPHRASE"


class UpdateRepoError(ValueError):
    """A request the repository cannot carry out; the message says what to do instead."""


@dataclass(frozen=True)
class Expiry:
    """How long each role's signature holds. The timestamp is short: a node refuses a frozen server
    after ``timestamp_days``; the office server re-signs it (``cherga provision updates refresh``)."""

    root_days: int = 730
    targets_days: int = 180
    snapshot_days: int = 30
    timestamp_days: int = 7


def version_key(version: str) -> tuple[int, ...]:
    try:
        return slots.version_key(version)
    except ValueError as exc:
        raise UpdateRepoError(str(exc)) from None


class UpdateRepo:
    """The repository in ``workdir``."""

    def __init__(self, workdir: str | Path, *, expiry: Expiry = Expiry()) -> None:
        self.workdir = Path(workdir)
        self.expiry = expiry

    @property
    def metadata_dir(self) -> Path:
        return self.workdir / "repository" / "metadata"

    @property
    def targets_dir(self) -> Path:
        return self.workdir / "repository" / "targets"

    def key_path(self, role: str) -> Path:
        return self.workdir / "keys" / f"{role}.pem"

    # --- keys and metadata files ---------------------------------------------------------------

    def _signer(self, role: str) -> Signer:
        path = self.key_path(role)
        try:
            key = serialization.load_pem_private_key(path.read_bytes(), password=None)
        except FileNotFoundError:
            raise UpdateRepoError(f"{path} is missing: run 'cherga provision updates init' first") from None
        return CryptoSigner(key)  # type: ignore[arg-type]

    def _load(self, role: str) -> Metadata[Any]:
        try:
            return Metadata.from_file(str(self.metadata_dir / f"{role}.json"))
        except FileNotFoundError:
            raise UpdateRepoError(f"{self.workdir} has no update repository: run "
                                  "'cherga provision updates init' first") from None

    def _write(self, md: Metadata[Any], name: str) -> None:
        path = self.metadata_dir / name
        tmp = path.with_name(f".{name}.tmp")
        tmp.write_bytes(md.to_bytes(JSONSerializer(compact=False)))
        os.replace(tmp, path)

    def _expires(self, now: dt.datetime, days: int) -> dt.datetime:
        return (now + dt.timedelta(days=days)).astimezone(dt.UTC).replace(microsecond=0)

    # --- the commands --------------------------------------------------------------------------

    def init(self, root_key: Path, *, now: dt.datetime, passphrase: str | None = None) -> None:
        """New keys for every role and the first signed metadata (an empty release record)."""
        if (self.metadata_dir / "root.json").exists():
            raise UpdateRepoError(f"{self.workdir} already holds an update repository; nodes trust its root "
                                  "key: a new one would lock every node out")
        if root_key.exists():
            raise UpdateRepoError(f"{root_key} exists: refusing to overwrite a root key")
        self.metadata_dir.mkdir(parents=True, exist_ok=True)
        (self.targets_dir / "bundles").mkdir(parents=True, exist_ok=True)
        (self.workdir / "keys").mkdir(parents=True, exist_ok=True, mode=0o700)
        root_signer = CryptoSigner.generate_ed25519()
        _write_key(root_key, root_signer, passphrase)
        signers = {}
        for role in ONLINE_ROLES:
            signers[role] = CryptoSigner.generate_ed25519()
            _write_key(self.key_path(role), signers[role], None)
        root = Root(expires=self._expires(now, self.expiry.root_days), consistent_snapshot=False)
        root.add_key(root_signer.public_key, "root")
        for role, signer in signers.items():
            root.add_key(signer.public_key, role)
        root_md = Metadata(root)
        root_md.sign(root_signer)
        self._write(root_md, "1.root.json")
        self._write(root_md, "root.json")
        targets_md = Metadata(Targets(expires=self._expires(now, self.expiry.targets_days)))
        self._set_releases(targets_md, [])
        targets_md.signed.version = 1
        self._sign_chain(targets_md, now, first=True)

    def releases(self) -> list[dict[str, Any]]:
        return read_releases(self.targets_dir / RELEASES)

    def rotate_root(self, old_root_key: Path, new_root_key: Path, *, now: dt.datetime,
                    old_passphrase: str | None = None, new_passphrase: str | None = None,
                    online: bool = False) -> int:
        """Replace the root key without touching a node: root metadata version N+1 names the new key and
        is signed by the old root key and the new one (``N+1.root.json``). A node that trusts version N
        checks N+1 against N's root key and against its own, then trusts N+1 and forgets the old key;
        a root signed by anyone else is refused. ``online`` also replaces the targets, snapshot and
        timestamp keys (an office server that may have been taken over) and re-signs that chain with
        the new keys. Returns the new root version."""
        if new_root_key.exists():
            raise UpdateRepoError(f"{new_root_key} exists: refusing to overwrite a root key")
        root_md: Metadata[Root] = self._load("root")
        try:
            old_pem = serialization.load_pem_private_key(
                old_root_key.read_bytes(), password=old_passphrase.encode() if old_passphrase else None)
        except FileNotFoundError:
            raise UpdateRepoError(f"{old_root_key} is missing: the current root key is needed to sign its "
                                  "successor") from None
        except (TypeError, ValueError) as exc:
            raise UpdateRepoError(f"{old_root_key}: cannot read the root key ({exc}); give its passphrase "
                                  f"in {PASSPHRASE_ENV}") from None
        old_signer = CryptoSigner(old_pem)  # type: ignore[arg-type]
        root = root_md.signed
        if old_signer.public_key.keyid not in root.roles["root"].keyids:
            raise UpdateRepoError(f"{old_root_key} is not the root key the nodes trust (root version "
                                  f"{root.version}): a root it signs would be refused")
        new_signer = CryptoSigner.generate_ed25519()
        for keyid in list(root.roles["root"].keyids):
            root.revoke_key(keyid, "root")
        root.add_key(new_signer.public_key, "root")
        online_signers = {}
        if online:
            for role in ONLINE_ROLES:
                online_signers[role] = CryptoSigner.generate_ed25519()
                for keyid in list(root.roles[role].keyids):
                    root.revoke_key(keyid, role)
                root.add_key(online_signers[role].public_key, role)
        root.version += 1
        root.expires = self._expires(now, self.expiry.root_days)
        root_md.signatures.clear()
        root_md.sign(old_signer, append=True)  # the link from what the nodes trust now
        root_md.sign(new_signer, append=True)  # and the new root's own threshold
        # Keys first: a failure after this leaves the new keys beside an unchanged repository.
        _write_key(new_root_key, new_signer, new_passphrase)
        for role, signer in online_signers.items():
            self.key_path(role).unlink(missing_ok=True)
            _write_key(self.key_path(role), signer, None)
        self._write(root_md, f"{root.version}.root.json")
        self._write(root_md, "root.json")
        if online:  # the chain the nodes will now check against the new keys
            self._sign_chain(self._load("targets"), now)
        return root.version

    def add(self, bundle: Path, version: str, *, now: dt.datetime, roles: list[str] | None = None,
            nodes: list[str] | None = None) -> dict[str, Any]:
        """Add a release: the bundle (a tarball, a wheel or a directory of wheels) under its version."""
        key = version_key(version)
        roles = list(roles or ROLES)
        bad = [r for r in roles if r not in ROLES]
        if bad:
            raise UpdateRepoError(f"unknown role(s) {', '.join(bad)}; roles: {', '.join(ROLES)}")
        releases = self.releases()
        if any(r["version"] == version for r in releases):
            raise UpdateRepoError(f"release {version} exists; a published version is never replaced, add a newer one")
        if releases and key <= max(version_key(r["version"]) for r in releases):
            newest = max(releases, key=lambda r: version_key(r["version"]))["version"]
            raise UpdateRepoError(f"release {version} is not newer than {newest}: nodes never go back to an "
                                  "older version; add a newer one")
        name = f"bundles/cherga-{version}.tar.gz"
        make_bundle(bundle, self.targets_dir / name)
        entry = {"version": version, "bundle": name, "roles": roles, "nodes": nodes,
                 "added": now.astimezone(dt.UTC).isoformat(timespec="seconds")}
        targets_md = self._load("targets")
        self._add_file(targets_md, name)
        self._set_releases(targets_md, [*releases, entry])
        self._sign_chain(targets_md, now)
        return entry

    def rollout(self, version: str, *, now: dt.datetime, nodes: list[str] | None,
                roles: list[str] | None = None) -> dict[str, Any]:
        """Widen (or narrow) who may take ``version``: ``nodes=None`` opens it to every node of its roles."""
        releases = self.releases()
        match = [r for r in releases if r["version"] == version]
        if not match:
            known = ", ".join(r["version"] for r in releases) or "none"
            raise UpdateRepoError(f"no release {version} (releases: {known})")
        entry = match[0]
        entry["nodes"] = nodes
        if roles is not None:
            entry["roles"] = roles
        targets_md = self._load("targets")
        self._set_releases(targets_md, releases)
        self._sign_chain(targets_md, now)
        return entry

    def refresh(self, *, now: dt.datetime) -> None:
        """Re-sign snapshot and timestamp with new expiry (the office server's daily timer)."""
        snapshot_md = self._load("snapshot")
        snapshot_md.signed.version += 1
        snapshot_md.signed.expires = self._expires(now, self.expiry.snapshot_days)
        snapshot_md.sign(self._signer("snapshot"), append=False)
        self._write(snapshot_md, "snapshot.json")
        self._timestamp(snapshot_md.signed.version, now)

    def publish(self, dest: Path) -> None:
        """Copy the repository to the directory the office server serves at ``/updates/``.

        Bundles first, then the metadata in the order a node reads it backwards (targets,
        snapshot, timestamp last), each by rename: a node that fetches in the middle sees the old
        set or the new one, never a timestamp pointing at a snapshot that is not there yet.
        """
        for src in sorted(self.targets_dir.rglob("*")):
            if src.is_file():
                _copy_atomic(src, dest / "targets" / src.relative_to(self.targets_dir))
        names = sorted(p.name for p in self.metadata_dir.glob("*.root.json"))
        for name in [*names, "root.json", "targets.json", "snapshot.json", "timestamp.json"]:
            _copy_atomic(self.metadata_dir / name, dest / "metadata" / name)

    # --- signing -------------------------------------------------------------------------------

    def _add_file(self, targets_md: Metadata[Any], name: str) -> None:
        targets_md.signed.targets[name] = TargetFile.from_file(name, str(self.targets_dir / name), ["sha256"])

    def _set_releases(self, targets_md: Metadata[Any], releases: list[dict[str, Any]]) -> None:
        path = self.targets_dir / RELEASES
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{RELEASES}.tmp")
        tmp.write_text(json.dumps({"releases": releases}, ensure_ascii=False, indent=1), encoding="utf-8")
        os.replace(tmp, path)
        self._add_file(targets_md, RELEASES)

    def _sign_chain(self, targets_md: Metadata[Any], now: dt.datetime, *, first: bool = False) -> None:
        targets = targets_md.signed
        if not first:
            targets.version += 1
        targets.expires = self._expires(now, self.expiry.targets_days)
        targets_md.sign(self._signer("targets"), append=False)
        self._write(targets_md, "targets.json")
        if first:
            snapshot_md = Metadata(Snapshot(expires=self._expires(now, self.expiry.snapshot_days)))
        else:
            snapshot_md = self._load("snapshot")
            snapshot_md.signed.version += 1
            snapshot_md.signed.expires = self._expires(now, self.expiry.snapshot_days)
        snapshot_md.signed.meta["targets.json"] = MetaFile(version=targets.version)
        snapshot_md.sign(self._signer("snapshot"), append=False)
        self._write(snapshot_md, "snapshot.json")
        self._timestamp(snapshot_md.signed.version, now, first=first)

    def _timestamp(self, snapshot_version: int, now: dt.datetime, *, first: bool = False) -> None:
        if first:
            ts_md = Metadata(Timestamp(expires=self._expires(now, self.expiry.timestamp_days)))
        else:
            ts_md = self._load("timestamp")
            ts_md.signed.version += 1
            ts_md.signed.expires = self._expires(now, self.expiry.timestamp_days)
        ts_md.signed.snapshot_meta = MetaFile(version=snapshot_version)
        ts_md.sign(self._signer("timestamp"), append=False)
        self._write(ts_md, "timestamp.json")


def _write_key(path: Path, signer: CryptoSigner, passphrase: str | None) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    # securesystemslib hands out the plain PEM only; the root key may be wrapped in a passphrase.
    key: Any = serialization.load_pem_private_key(signer.private_bytes, password=None)
    encryption = (serialization.BestAvailableEncryption(passphrase.encode()) if passphrase
                  else serialization.NoEncryption())
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(pem)


def _copy_atomic(src: Path, dest: Path) -> None:
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(f".{dest.name}.tmp")
    shutil.copyfile(src, tmp)
    os.replace(tmp, dest)


def read_releases(path: Path) -> list[dict[str, Any]]:
    """The release record's entries (empty when there is none yet)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return []
    return list(data.get("releases", []))


def make_bundle(source: Path, dest: Path) -> None:
    """The bundle a node unpacks into a slot, from what the technician has:

    * a ``.tar.gz`` holding ``bin/cherga`` (a ready program) or ``wheels/*.whl``: taken as it is;
    * a ``.whl`` or a directory of wheels (Cherga and its dependencies, e.g. from
      ``cherga provision wheels``): packed as ``wheels/`` for the node to build a venv from.
    """
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(f".{dest.name}.tmp")
    if source.is_dir() or source.suffix == ".whl":
        wheels = sorted(source.glob("*.whl")) if source.is_dir() else [source]
        if not wheels:
            raise UpdateRepoError(f"{source} holds no .whl files")
        if not any(w.name.startswith("cherga-") for w in wheels):
            raise UpdateRepoError(f"{source} has no cherga-*.whl: build Cherga's wheel into it first")
        with tarfile.open(tmp, "w:gz") as tar:
            for w in wheels:
                tar.add(w, arcname=f"wheels/{w.name}")
    elif source.name.endswith((".tar.gz", ".tgz")):
        try:
            with tarfile.open(source, "r:gz") as tar:
                names = tar.getnames()
        except (tarfile.TarError, OSError) as exc:
            raise UpdateRepoError(f"{source} is not a readable tar.gz: {exc}") from exc
        clean = {n.removeprefix("./") for n in names}
        if "bin/cherga" not in clean and not any(n.startswith("wheels/") and n.endswith(".whl") for n in clean):
            raise UpdateRepoError(f"{source} has neither bin/cherga nor wheels/*.whl at its top")
        shutil.copyfile(source, tmp)
    else:
        raise UpdateRepoError(f"{source}: give a .tar.gz bundle, a .whl, or a directory of wheels")
    os.replace(tmp, dest)
