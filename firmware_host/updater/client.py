"""The node's updater (``cherga update``): signed releases from the office server into the other slot.

Every step is checked before anything is installed, by python-tuf's ``ngclient``:

1. **metadata** — root, timestamp, snapshot and targets from ``<server>/updates/metadata/``: each
   signed by its role's keys (threshold), none expired (a frozen server is refused), none older
   than what this node has already seen (rollback); the trust anchor is the ``root.json`` put on
   the card by provisioning.
2. **release record** — ``releases.json``, a TUF target: length and hashes from the signed targets
   metadata. It lists each release's version, bundle and rollout (roles, and nodes, or all).
3. **choice** — the newest release this node's role and id may take, newer than the one running
   and never one this node already rolled back (``failed.json``). Nothing newer: up to date.
4. **download** — the bundle into ``downloads/NAME.part``; **verify** — its length and hashes
   against the signed metadata again, on disk, then rename; **unpack** — into ``.staging``, then
   renamed to the inactive slot; a venv is built there when the bundle carries wheels;
   ``RELEASE.json`` written last marks the slot complete; **switch** — the trial is recorded, then
   ``current`` is renamed over (:mod:`firmware_host.updater.slots`); then the role is restarted.

Power may fail at any instant: until the switch's one ``rename`` the node runs the old slot
untouched; a half-written download, staging directory or slot without ``RELEASE.json`` is thrown
away by the next run. :data:`PAUSE_ENV` lets the tests stop the real updater at each step and
``kill -9`` it there.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import shutil
import subprocess
import sys
import tarfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tuf.api import exceptions as tuf_errors
from tuf.api.metadata import TargetFile
from tuf.ngclient import Updater
from tuf.ngclient.urllib3_fetcher import Urllib3Fetcher

from cherga.firmware_host.updater.slots import (
    RELEASE,
    VERSION_RE,
    Layout,
    install_script,
    version_key,
    write_json_atomic,
)

log = logging.getLogger("cherga.updater")

RELEASES_TARGET = "releases.json"
PAUSE_ENV = "CHERGA_UPDATER_PAUSE_AT"  # tests: the step at which the updater stops and waits to be killed
STEPS = ("download", "verify", "unpack", "switch", "restart")


class UpdateRefused(Exception):
    """Nothing was installed, and why: ``reason`` is a short key a technician can look up."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


@dataclass(frozen=True)
class Release:
    version: str
    bundle: str  # target path of the bundle, e.g. bundles/cherga-1.4.0.tar.gz
    roles: tuple[str, ...]
    nodes: tuple[str, ...] | None  # None: every node of those roles

    def offered_to(self, node: str, role: str) -> bool:
        return role in self.roles and (self.nodes is None or node in self.nodes)


def parse_releases(data: Any) -> list[Release]:
    """The release record (``releases.json``); a malformed entry makes the whole record unusable."""
    if not isinstance(data, dict) or not isinstance(data.get("releases"), list):
        raise UpdateRefused("bad_release_record", "releases.json has no list 'releases'")
    out = []
    for entry in data["releases"]:
        try:
            version = str(entry["version"])
            version_key(version)
            nodes = entry.get("nodes")
            out.append(Release(version=version, bundle=str(entry["bundle"]),
                               roles=tuple(str(r) for r in entry["roles"]),
                               nodes=None if nodes is None else tuple(str(n) for n in nodes)))
        except (KeyError, TypeError, ValueError) as exc:
            raise UpdateRefused("bad_release_record", f"entry {entry!r}: {exc}") from exc
    return out


def choose(releases: Sequence[Release], *, node: str, role: str, running: str | None,
           failed: set[str]) -> Release | None:
    """The newest release for this node, newer than ``running`` and not rolled back here before."""
    try:
        floor = version_key(running) if running else (0,)
    except ValueError:  # a development build ("0.1.0.dev3") from the card: any release is newer
        floor = (0,)
    offered = [r for r in releases if r.offered_to(node, role) and r.version not in failed
               and version_key(r.version) > floor]
    return max(offered, key=lambda r: version_key(r.version), default=None)


@dataclass
class Outcome:
    """What one run did. ``installed``: switched to ``version`` (on trial); ``up_to_date``: nothing
    newer for this node; ``waiting_trial``: the last install has not settled; ``busy``: another run
    holds the slots; ``refused``: nothing installed, ``reason`` says why."""

    outcome: str
    version: str | None = None
    running: str | None = None
    reason: str | None = None
    detail: str | None = None
    skipped: list[str] = field(default_factory=list)  # newer releases not for this node (staged rollout)

    def to_json(self) -> str:
        return json.dumps({k: v for k, v in self.__dict__.items() if v not in (None, [])}, ensure_ascii=False)


def _pause(step: str, root: Path) -> None:
    """Tests only: at ``$CHERGA_UPDATER_PAUSE_AT`` say so in a file and wait to be killed."""
    if os.environ.get(PAUSE_ENV) != step:
        return
    (root / f".paused-{step}").write_text(str(os.getpid()))
    while True:
        time.sleep(3600)


class _Fetcher(Urllib3Fetcher):
    """urllib3 as ngclient uses it, with the ``download`` pause after a bundle's first chunk."""

    def __init__(self, root: Path) -> None:
        super().__init__(socket_timeout=30, chunk_size=64 * 1024, app_user_agent="cherga-updater")
        self._root = root

    def _fetch(self, url: str) -> Iterator[bytes]:
        for i, chunk in enumerate(super()._fetch(url)):
            yield chunk
            if i == 0 and "/targets/bundles/" in url:
                _pause("download", self._root)


def _refusal(exc: Exception) -> UpdateRefused:
    """python-tuf's error as a reason a technician can look up in docs/updates.md."""
    kinds: list[tuple[type[Exception], str]] = [
        (tuf_errors.ExpiredMetadataError, "expired"),
        (tuf_errors.UnsignedMetadataError, "bad_signature"),
        (tuf_errors.BadVersionNumberError, "rollback"),
        (tuf_errors.LengthOrHashMismatchError, "bad_hash"),
        (tuf_errors.DownloadLengthMismatchError, "bad_hash"),  # longer than the signed length
        (tuf_errors.RepositoryError, "bad_metadata"),
        (tuf_errors.DownloadError, "unreachable"),
    ]
    for kind, reason in kinds:
        if isinstance(exc, kind):
            return UpdateRefused(reason, f"{type(exc).__name__}: {exc}")
    return UpdateRefused("unreachable", f"{type(exc).__name__}: {exc}")


class NodeUpdater:
    """One node's updater.

    :param layout: the A/B directory (``/opt/cherga``); its ``tuf/root.json`` is the trust anchor.
    :param server: the office server's update URL, e.g. ``http://office:8000/updates/``.
    :param restart: run after a switch to start the new slot (``systemctl restart cherga-kiosk``);
        ``None`` where a supervisor notices the switch by itself.
    :param python: the interpreter that builds a slot's venv when a bundle carries wheels.
    """

    def __init__(self, layout: Layout, *, node: str, role: str, server: str, trial_s: float = 600.0,
                 restart: Sequence[str] | None = None, python: str = "/usr/bin/python3",
                 clock: Callable[[], float] = time.time) -> None:
        self.layout = layout
        self.node, self.role = node, role
        self.server = server.rstrip("/") + "/"
        self.trial_s = trial_s
        self.restart = list(restart) if restart else None
        self.python = python
        self.clock = clock

    @property
    def root(self) -> Path:
        return self.layout.root

    @property
    def trust_dir(self) -> Path:
        return self.root / "tuf"

    def _tuf(self) -> Updater:
        cache = self.trust_dir / "metadata"
        cache.mkdir(parents=True, exist_ok=True)
        anchor = self.trust_dir / "root.json"
        bootstrap = None
        if not (cache / "root.json").exists():
            if not anchor.exists():
                raise UpdateRefused("no_trust_anchor", f"{anchor} is missing: copy the office's root.json there "
                                    "(cherga provision updates publish writes it)")
            bootstrap = anchor.read_bytes()
        return Updater(metadata_dir=str(cache), metadata_base_url=self.server + "metadata/",
                       target_dir=str(self.root / "downloads"), target_base_url=self.server + "targets/",
                       fetcher=_Fetcher(self.root), bootstrap=bootstrap)

    def _target(self, tuf: Updater, path: str) -> TargetFile:
        info = tuf.get_targetinfo(path)
        if info is None:
            raise UpdateRefused("not_signed", f"{path} is not in the signed targets metadata")
        return info

    def _releases(self, tuf: Updater) -> list[Release]:
        info = self._target(tuf, RELEASES_TARGET)
        dest = self.root / "downloads" / RELEASES_TARGET
        dest.parent.mkdir(parents=True, exist_ok=True)
        tuf.download_target(info, str(dest))  # verified against the signed length and hashes
        try:
            data = json.loads(dest.read_text(encoding="utf-8"))
        except ValueError as exc:
            raise UpdateRefused("bad_release_record", str(exc)) from exc
        return parse_releases(data)

    def _clean(self) -> None:
        """Throw away what a run cut short left behind (never the current slot)."""
        shutil.rmtree(self.root / ".staging", ignore_errors=True)
        downloads = self.root / "downloads"
        for left in downloads.iterdir() if downloads.is_dir() else []:
            if left.is_file() and left.name != RELEASES_TARGET:
                left.unlink(missing_ok=True)  # a bundle (or .part) of a run that was cut short or refused
        inactive = self.layout.slot(self.layout.inactive())
        if inactive.exists() and not (inactive / RELEASE).exists():
            shutil.rmtree(inactive, ignore_errors=True)  # an unpack that never finished

    def run(self) -> Outcome:
        """Check, and install the release for this node when there is a newer one.

        One run at a time (the timer and a technician's run share the slots): a second one finds
        the lock held and says ``busy``. The lock dies with its process, so a power cut frees it.
        """
        self.root.mkdir(parents=True, exist_ok=True)
        with open(self.root / ".update.lock", "w") as lock:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                return Outcome("busy", running=self.layout.version(), detail="another update is running")
            return self._run()

    def _run(self) -> Outcome:
        running = self.layout.version()
        trial = self.layout.trial()
        if trial is not None and self.layout.current() == trial["slot"]:
            return Outcome("waiting_trial", running=running, detail="the last release has not reported healthy yet")
        self._clean()
        try:
            tuf = self._tuf()
            tuf.refresh()
            releases = self._releases(tuf)
        except UpdateRefused as exc:
            return Outcome("refused", running=running, reason=exc.reason, detail=exc.detail)
        except (tuf_errors.RepositoryError, tuf_errors.DownloadError, OSError) as exc:
            refusal = _refusal(exc)
            return Outcome("refused", running=running, reason=refusal.reason, detail=refusal.detail)
        failed = self.layout.failed_versions()
        pick = choose(releases, node=self.node, role=self.role, running=running, failed=failed)
        if pick is None:
            # Newer releases staged for other nodes or roles: said, so a technician sees the stage hold.
            skipped = sorted({r.version for r in releases if not running or not VERSION_RE.match(running)
                              or version_key(r.version) > version_key(running)}, key=version_key)
            mine = [r for r in releases if r.offered_to(self.node, self.role)]
            top = max(mine, key=lambda r: version_key(r.version), default=None)
            if top is not None and running and VERSION_RE.match(running) and version_key(top.version) < version_key(running):
                return Outcome("refused", running=running, reason="downgrade",
                               detail=f"the newest signed release for this node, {top.version}, is older than {running}")
            return Outcome("up_to_date", running=running, skipped=skipped)
        try:
            self.install(tuf, pick)
        except UpdateRefused as exc:
            self._clean()
            return Outcome("refused", version=pick.version, running=running, reason=exc.reason, detail=exc.detail)
        except (tuf_errors.RepositoryError, tuf_errors.DownloadError) as exc:
            self._clean()
            refusal = _refusal(exc)
            return Outcome("refused", version=pick.version, running=running, reason=refusal.reason,
                           detail=refusal.detail)
        return Outcome("installed", version=pick.version, running=running)

    # --- the steps -------------------------------------------------------------------------------

    def install(self, tuf: Updater, release: Release) -> None:
        info = self._target(tuf, release.bundle)
        downloads = self.root / "downloads"
        downloads.mkdir(parents=True, exist_ok=True)
        name = Path(release.bundle).name
        part = downloads / f"{name}.part"
        tuf.download_target(info, str(part))  # download (the fetcher's pause sits inside it)
        _pause("verify", self.root)
        with open(part, "rb") as f:  # verify again what is on disk, not what was in memory
            info.verify_length_and_hashes(f)
        bundle = downloads / name
        os.replace(part, bundle)
        slot = self.layout.inactive()
        self.unpack(bundle, slot, release.version)
        bundle.unlink(missing_ok=True)
        self.switch(slot, release.version)

    def unpack(self, bundle: Path, slot: str, version: str) -> None:
        staging = self.root / ".staging"
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir()
        try:
            with tarfile.open(bundle, "r:gz") as tar:
                members = tar.getmembers()
                for i, member in enumerate(members):
                    # "data": no absolute paths, no "..", no links out of the tree, no devices.
                    tar.extract(member, staging, filter="data")
                    if i == 0:
                        _pause("unpack", self.root)
        except (tarfile.TarError, OSError) as exc:
            raise UpdateRefused("bad_bundle", f"cannot unpack {bundle.name}: {exc}") from exc
        wheels = sorted((staging / "wheels").glob("*.whl")) if (staging / "wheels").is_dir() else []
        program = staging / "bin" / "cherga"
        if not wheels and not program.is_file():
            raise UpdateRefused("bad_bundle", f"{bundle.name} has neither bin/cherga nor wheels/*.whl")
        target = self.layout.slot(slot)
        shutil.rmtree(target, ignore_errors=True)
        os.replace(staging, target)
        if wheels:
            self._build_venv(target)
        _fsync_tree(target)
        write_json_atomic(target / RELEASE, {"version": version, "installed": self.clock()})

    def _build_venv(self, slot: Path) -> None:
        # The venv lives in the slot itself: its scripts name /opt/cherga/slot-x/bin/python, which
        # `current` resolves to. System site packages: Pi OS's python3-lgpio serves the Pi 5.
        # Debian's python3 may lack ensurepip (as at first boot): no pip in the venv; pip runs from its
        # own wheel when the bundle carries one, else the system's (python3-pip, via system site packages).
        pip_wheel = sorted((slot / "wheels").glob("pip-*.whl"))
        pip = [str(slot / "bin" / "python"), *([str(pip_wheel[0] / "pip")] if pip_wheel else ["-m", "pip"])]
        steps = [[self.python, "-m", "venv", "--system-site-packages", "--without-pip", str(slot)],
                 [*pip, "install", "--no-index", "--find-links", str(slot / "wheels"), f"cherga[{self.role}]"]]
        for cmd in steps:
            done = subprocess.run(cmd, capture_output=True, text=True, check=False)
            if done.returncode != 0:
                raise UpdateRefused("install_failed", f"{' '.join(cmd)}: {done.stderr.strip()[-400:]}")

    def switch(self, slot: str, version: str) -> None:
        previous = self.layout.current()
        install_script(self.layout)  # the trial check runs from the code that is known to work
        self.layout.begin_trial(slot, previous, version, now=self.clock(), trial_s=self.trial_s)
        _pause("switch", self.root)
        self.layout.switch(slot)
        _pause("restart", self.root)
        if self.restart:
            subprocess.run(self.restart, check=False)


def _fsync_tree(path: Path) -> None:
    """Flush every file and directory of a fresh slot before it can be switched to."""
    for dirpath, _dirs, files in os.walk(path):
        for name in files:
            p = os.path.join(dirpath, name)
            if os.path.islink(p):
                continue
            try:
                fd = os.open(p, os.O_RDONLY)
            except OSError:
                continue
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        fd = os.open(dirpath, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def main_update(*, node: str, role: str, root: Path, server: str, trial_s: float,
                restart: Sequence[str] | None) -> int:
    """``cherga update``: one run, the outcome as one JSON line; exit 0 unless refused."""
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    updater = NodeUpdater(Layout(root), node=node, role=role, server=server, trial_s=trial_s, restart=restart)
    outcome = updater.run()
    print(outcome.to_json(), flush=True)
    return 1 if outcome.outcome == "refused" else 0
