"""The A/B layout on a node, its trial and its automatic fallback. Standard library only.

Owns the directory the node runs from (``/opt/cherga`` on a Pi)::

    slot-a/            one installed release (a venv, or a bundle's own bin/cherga)
    slot-b/            the other one
    current -> slot-a  what the node's unit starts (``current/bin/cherga node ...``)
    trial.json         present while a newly switched slot has not yet proved itself
    failed.json        versions that were rolled back (never offered again by this node)
    cherga-slots.py    a copy of this file, run by the system's python3 (see below)

A switch is one ``rename`` of a fresh symlink over ``current``: after power loss ``current`` names
either the old slot or the new one, never a half. ``trial.json`` is written *before* the switch,
so a trial that names a slot ``current`` does not point at is stale and simply dropped.

A switched slot is on trial until the node writes its health marker (:func:`mark_healthy`, once it
has connected and its birth message is out); a trial that is not healthy by its deadline is rolled
back: ``current`` goes back to the previous slot and the version is remembered in ``failed.json``.
The check (:func:`check`) runs from the copy ``cherga-slots.py`` with the system's python, never
from the slot under trial: a release that cannot even import must still be rolled back. It runs

* as the role unit's ``ExecStartPre`` (``gate``: each start, including systemd's restarts after a
  crash, first rolls back a trial whose time is up), and
* from ``cherga-trial.timer`` every minute (``check``: rolls back a release that hangs without
  crashing and restarts the role's unit), or
* as ``supervise`` where there is no systemd (a bench, the tests): it runs the node program,
  restarts it when it exits or when ``current`` changes, and checks the trial every second.

This file is copied next to the slots and run on its own: it imports nothing from Cherga.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

SLOTS = ("slot-a", "slot-b")
CURRENT = "current"
TRIAL = "trial.json"
FAILED = "failed.json"
RELEASE = "RELEASE.json"  # in each slot: {"version": ...}, written by the updater
HEALTH = "health.json"  # in the node's data dir: written by the running node
SCRIPT = "cherga-slots.py"
DEFAULT_TRIAL_S = 600.0
VERSION_RE = re.compile(r"^\d{1,6}(\.\d{1,6}){1,3}$")


def version_key(version: str) -> tuple[int, ...]:
    """``1.10.0`` > ``1.9.3``: numeric parts compared as numbers (a node has no ``packaging``).

    The one ordering of release versions: provisioning, the server's rollout view and the node's
    updater all use it, so "newer" means the same thing everywhere.
    """
    if not VERSION_RE.match(version):
        raise ValueError(f"not a release version: {version!r} (digits and dots, e.g. 1.4.0)")
    parts = tuple(int(p) for p in version.split("."))
    return parts + (0,) * (4 - len(parts))


def _fsync_dir(path: Path) -> None:
    # A rename is durable only once its directory is on disk (power loss right after the switch).
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_json_atomic(path: Path, data: Any) -> None:
    """Write ``data`` as JSON to ``path``: a reader sees the old file or the whole new one."""
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(data, f, ensure_ascii=False, indent=1)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    _fsync_dir(path.parent)


def read_json(path: Path) -> Any:
    """The JSON in ``path``, or None when it is absent or unreadable (a torn write counts as absent)."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


class Layout:
    """The A/B directory of one node."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)

    def slot(self, name: str) -> Path:
        if name not in SLOTS:
            raise ValueError(f"no slot {name!r}")
        return self.root / name

    @property
    def current_link(self) -> Path:
        return self.root / CURRENT

    def current(self) -> str | None:
        """The slot ``current`` points at, or None before the first install."""
        try:
            target = os.readlink(self.current_link)
        except OSError:
            return None
        name = Path(target).name
        return name if name in SLOTS else None

    def inactive(self) -> str:
        """The slot a new release goes into: the one ``current`` does not point at."""
        cur = self.current()
        return "slot-b" if cur == "slot-a" else "slot-a"

    def version(self, slot: str | None = None) -> str | None:
        """The release version installed in ``slot`` (default: the current one)."""
        name = slot or self.current()
        if name is None:
            return None
        data = read_json(self.slot(name) / RELEASE)
        return str(data["version"]) if isinstance(data, dict) and "version" in data else None

    def switch(self, slot: str) -> None:
        """Point ``current`` at ``slot`` in one rename (the old link stays whole until then)."""
        self.slot(slot)  # validates the name
        tmp = self.root / f".{CURRENT}.tmp"
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        os.symlink(slot, tmp)  # relative: the layout may be moved or mounted elsewhere
        os.replace(tmp, self.current_link)
        _fsync_dir(self.root)

    # --- trial ---------------------------------------------------------------------------------

    def trial(self) -> dict[str, Any] | None:
        data = read_json(self.root / TRIAL)
        return data if isinstance(data, dict) and data.get("slot") in SLOTS else None

    def begin_trial(self, slot: str, previous: str | None, version: str, *, now: float, trial_s: float) -> None:
        write_json_atomic(self.root / TRIAL, {"slot": slot, "previous": previous, "version": version,
                                              "started": now, "deadline": now + trial_s})

    def end_trial(self) -> None:
        with contextlib.suppress(FileNotFoundError):
            (self.root / TRIAL).unlink()
        _fsync_dir(self.root)

    def failed_versions(self) -> set[str]:
        data = read_json(self.root / FAILED)
        return {str(v) for v in data} if isinstance(data, list) else set()

    def remember_failed(self, version: str) -> None:
        write_json_atomic(self.root / FAILED, sorted(self.failed_versions() | {version}))


def mark_healthy(data_dir: str | Path, *, version: str = "", now: float | None = None) -> Path:
    """The node's health marker: this program (``sys.prefix``, i.e. its slot) connected and answered.

    Written by the running node once its birth message is out and its first heartbeat is sent; the
    trial check compares the prefix with the slot on trial, so an old slot's marker never passes
    for the new one.
    """
    path = Path(data_dir) / HEALTH
    path.parent.mkdir(parents=True, exist_ok=True)
    write_json_atomic(path, {"prefix": os.path.realpath(sys.prefix), "version": version,
                             "ts": time.time() if now is None else now})
    return path


def _healthy(layout: Layout, trial: dict[str, Any], health_file: Path) -> bool:
    mark = read_json(health_file)
    if not isinstance(mark, dict):
        return False
    slot_dir = os.path.realpath(layout.slot(trial["slot"]))
    prefix = os.path.realpath(str(mark.get("prefix", "")))
    in_slot = prefix == slot_dir or prefix.startswith(slot_dir + os.sep)
    return in_slot and float(mark.get("ts", 0)) >= float(trial.get("started", 0))


def check(layout: Layout, health_file: Path, *, now: float) -> str:
    """Settle the trial, if any. Returns what happened:

    ``none`` (no trial), ``stale`` (a trial for a slot ``current`` does not point at: the switch
    never happened, dropped), ``committed`` (healthy: the new slot stays), ``waiting`` (not healthy
    yet, time left), ``rolled_back`` (time is up: back to the previous slot, version remembered).
    """
    trial = layout.trial()
    if trial is None:
        return "none"
    if layout.current() != trial["slot"]:
        layout.end_trial()
        return "stale"
    if _healthy(layout, trial, health_file):
        layout.end_trial()
        return "committed"
    if now < float(trial.get("deadline", 0)):
        return "waiting"
    previous = trial.get("previous")
    if previous in SLOTS and (layout.slot(previous) / RELEASE).exists():
        layout.switch(previous)
    layout.remember_failed(str(trial.get("version", "")))
    layout.end_trial()
    return "rolled_back"


def install_script(layout: Layout) -> Path:
    """Copy this file next to the slots, from the running (known-good) code; atomic like the rest."""
    dest = layout.root / SCRIPT
    tmp = layout.root / f".{SCRIPT}.tmp"
    shutil.copyfile(__file__, tmp)
    os.chmod(tmp, 0o755)
    os.replace(tmp, dest)
    return dest


def adopt(layout: Layout, slot: str, version: str, *, anchor: Path | None = None) -> None:
    """Make a freshly installed ``slot`` the running release (first boot: Cherga went into slot-a).

    Marks the slot complete with ``version``, points ``current`` at it, puts this script beside
    the slots and, when given, the office's update trust anchor at ``tuf/root.json`` (never over
    one already there: the node's trust moves only through signed root metadata).
    """
    target = layout.slot(slot)
    if not (target / RELEASE).exists():
        write_json_atomic(target / RELEASE, {"version": version})
    layout.switch(slot)
    install_script(layout)
    if anchor is not None:
        dest = layout.root / "tuf" / "root.json"
        if not dest.exists():
            dest.parent.mkdir(parents=True, exist_ok=True)
            tmp = dest.with_name(".root.json.tmp")
            shutil.copyfile(anchor, tmp)
            os.replace(tmp, dest)


def installed_version() -> str:
    """The version of the Cherga this interpreter has installed (``adopt`` runs in the new venv)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("cherga")
    except PackageNotFoundError:
        return "0"


# --- the small supervisor (no systemd: benches and tests) ----------------------------------------

def supervise(layout: Layout, health_file: Path, command: Sequence[str], *, restart_delay: float = 2.0,
              poll: float = 1.0, clock: Callable[[], float] = time.time,
              stop: Callable[[], bool] = lambda: False) -> None:
    """Run ``command`` (``{current}`` in it is the current slot's path) like systemd would.

    Restarts it ``restart_delay`` s after it exits, restarts it at once when ``current`` changes
    (an update switched, or a rollback), and settles the trial every ``poll`` seconds.
    """
    child: subprocess.Popen[bytes] | None = None
    started_slot: str | None = None
    next_start = 0.0

    def halt() -> None:
        if child is not None and child.poll() is None:
            child.terminate()
            try:
                child.wait(10)
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait()

    try:
        while not stop():
            outcome = check(layout, health_file, now=clock())
            if outcome in ("rolled_back", "committed"):
                print(f"cherga-slots: trial {outcome}; running {layout.current()}", file=sys.stderr, flush=True)
            cur = layout.current()
            if child is not None and (child.poll() is not None or cur != started_slot):
                if child.poll() is None:
                    halt()
                else:
                    next_start = clock() + restart_delay
                child = None
            if child is None and cur is not None and clock() >= next_start:
                here = str(layout.current_link)
                child = subprocess.Popen([part.replace("{current}", here) for part in command])
                started_slot = cur
            time.sleep(poll)
    finally:
        halt()


def _restart_unit(unit: str | None) -> None:
    if unit:
        subprocess.run(["systemctl", "restart", unit], check=False)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog=SCRIPT, description="Cherga A/B slots: settle a trial, roll back.")
    parser.add_argument("action", choices=["gate", "check", "status", "supervise", "adopt"])
    parser.add_argument("--root", default="/opt/cherga", help="the A/B directory")
    parser.add_argument("--health", default="/var/lib/cherga/" + HEALTH, help="the node's health marker")
    parser.add_argument("--unit", default=None, help="check: the role's systemd unit to restart after a rollback")
    parser.add_argument("--slot", default="slot-a", help="adopt: the slot just installed")
    parser.add_argument("--anchor", default=None, help="adopt: the office's update root.json")
    parser.add_argument("--restart-delay", type=float, default=2.0)
    parser.add_argument("--poll", type=float, default=1.0)
    parser.epilog = "supervise: the node program follows '--'; {current} in it is the current slot's path"
    argv = list(sys.argv[1:] if argv is None else argv)
    # argparse cannot take a command with its own options after positionals: split at "--" ourselves.
    command = argv[argv.index("--") + 1:] if "--" in argv else []
    args = parser.parse_args(argv[:argv.index("--")] if "--" in argv else argv)
    layout = Layout(args.root)
    health = Path(args.health)
    if args.action == "status":
        print(json.dumps({"current": layout.current(), "version": layout.version(), "trial": layout.trial(),
                          "failed": sorted(layout.failed_versions())}))
        return 0
    if args.action == "adopt":
        adopt(layout, args.slot, installed_version(), anchor=Path(args.anchor) if args.anchor else None)
        print(f"cherga-slots: {args.slot} ({layout.version()}) is current", file=sys.stderr)
        return 0
    if args.action == "supervise":
        stopping = {"flag": False}

        def on_term(signum: int, frame: Any) -> None:
            stopping["flag"] = True

        signal.signal(signal.SIGTERM, on_term)
        signal.signal(signal.SIGINT, on_term)
        supervise(layout, health, command, restart_delay=args.restart_delay, poll=args.poll,
                  stop=lambda: stopping["flag"])
        return 0
    outcome = check(layout, health, now=time.time())
    print(f"cherga-slots: {outcome}; current {layout.current()} ({layout.version()})", file=sys.stderr)
    if outcome == "rolled_back" and args.action == "check":
        _restart_unit(args.unit)
    return 0


if __name__ == "__main__":
    sys.exit(main())
