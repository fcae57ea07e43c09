"""Signed updates end to end: a real TUF repository made by provisioning's code, published into the
real office server on uvicorn, and the real ``cherga update`` process on a node's A/B directory.

The bundles hold a small fake node program (``bin/cherga``): building a venv of the whole package
per test would take minutes, and the updater, the slots and the trial are the real code either way.
"""

from __future__ import annotations

import datetime as dt
import io
import json
import os
import subprocess
import sys
import tarfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI

from cherga.firmware_host.updater.slots import RELEASE, Layout, install_script, write_json_atomic
from cherga.provisioning.updates import UpdateRepo
from cherga.server.app import create_app
from cherga.server.siteconfig import load_site_config
from cherga.server.store import Store, sqlite_url

REPO = Path(__file__).resolve().parents[2]
CHERGA = str(Path(sys.executable).parent / "cherga")

# The fake node program. `--version` prints its version; `node` behaves as told: "good" writes the
# health marker (as the real launcher does once connected) and runs until stopped, "crash" dies at
# start like a release with a broken import would.
PROGRAM = '''#!{python}
import json, os, sys, time
VERSION, BEHAVIOUR = {version!r}, {behaviour!r}
if sys.argv[1:2] == ["--version"]:
    print(VERSION)
    sys.exit(0)
if BEHAVIOUR == "crash":
    print("ImportError: cannot import name 'frobnicate'", file=sys.stderr)
    sys.exit(1)
data = sys.argv[sys.argv.index("--data") + 1]
os.makedirs(data, exist_ok=True)
slot = os.path.realpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
tmp = os.path.join(data, ".health.tmp")
with open(tmp, "w") as f:
    json.dump({{"prefix": slot, "version": VERSION, "ts": time.time()}}, f)
os.replace(tmp, os.path.join(data, "health.json"))
while True:
    time.sleep(0.2)
'''


def make_bundle(path: Path, version: str, behaviour: str = "good", *, padding: int = 0) -> Path:
    """A bundle tarball with the fake program (``padding`` bytes of noise make the download take chunks)."""
    with tarfile.open(path, "w:gz") as tar:
        body = PROGRAM.format(python=sys.executable, version=version, behaviour=behaviour).encode()
        info = tarfile.TarInfo("bin/cherga")
        info.size, info.mode = len(body), 0o755
        tar.addfile(info, io.BytesIO(body))
        if padding:
            noise = os.urandom(padding)
            info = tarfile.TarInfo("share/noise.bin")
            info.size = len(noise)
            tar.addfile(info, io.BytesIO(noise))
    return path


def now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@dataclass
class Office:
    """The office's update repository (technician's side) and its server (what nodes reach)."""

    tmp: Path
    repo: UpdateRepo
    app: FastAPI
    url: str
    published: Path

    def release(self, version: str, behaviour: str = "good", *, nodes: list[str] | None = None,
                roles: list[str] | None = None, when: dt.datetime | None = None, padding: int = 0) -> None:
        bundle = make_bundle(self.tmp / f"bundle-{version}.tar.gz", version, behaviour, padding=padding)
        self.repo.add(bundle, version, now=when or now(), nodes=nodes, roles=roles)
        self.repo.publish(self.published)

    @property
    def updates_url(self) -> str:
        return f"{self.url}/updates/"

    def serve(self, directory: Path) -> None:
        """What the office server serves at /updates/ from now on (an attacker's copy, an old one)."""
        self.app.state.updates_dir = directory


@dataclass
class Node:
    """A node's A/B directory and config, with the real ``cherga update`` process."""

    root: Path
    config: Path
    data: Path
    office: Office
    env: dict[str, str] = field(default_factory=lambda: dict(os.environ))

    @property
    def layout(self) -> Layout:
        return Layout(self.root)

    def update_cmd(self, *extra: str) -> list[str]:
        return [CHERGA, "update", "--config", str(self.config), "--root", str(self.root),
                "--server", self.office.updates_url, *extra]

    def update(self, *extra: str) -> dict[str, Any]:
        done = subprocess.run(self.update_cmd(*extra), capture_output=True, text=True, cwd=REPO, env=self.env,
                              timeout=120)
        lines = done.stdout.strip().splitlines()
        assert lines, f"no outcome from cherga update (exit {done.returncode}): {done.stderr}"
        outcome: dict[str, Any] = json.loads(lines[-1])
        outcome["exit"] = done.returncode
        return outcome

    def run_current(self) -> str:
        """What the node would start now: the current slot's program, asked for its version."""
        done = subprocess.run([str(self.root / "current" / "bin" / "cherga"), "--version"], capture_output=True,
                              text=True, timeout=30, check=True)
        return done.stdout.strip()

    def slots_left(self) -> list[str]:
        return sorted(p.name for p in self.root.iterdir() if p.name.startswith("slot-"))


def install_initial(root: Path, version: str, tmp: Path) -> None:
    """The node as provisioning leaves it: release ``version`` in slot-a, current -> slot-a, no trial."""
    slot = root / "slot-a"
    bundle = make_bundle(tmp / f"initial-{version}.tar.gz", version)
    with tarfile.open(bundle) as tar:
        tar.extractall(slot, filter="data")
    write_json_atomic(slot / RELEASE, {"version": version})
    layout = Layout(root)
    layout.switch("slot-a")
    install_script(layout)


@pytest.fixture
def office(tmp_path: Path, demo_config_path: Path) -> Iterator[Office]:
    from tests.support.browser import serving

    repo = UpdateRepo(tmp_path / "updates")
    repo.init(tmp_path / "usb" / "root.pem", now=now())
    published = tmp_path / "served"
    repo.publish(published)
    store = Store(sqlite_url(tmp_path / "office.sqlite"))
    app = create_app(load_site_config(demo_config_path), "sqlite://", store=store, sweep_interval=None)
    app.state.updates_dir = published
    with serving(app) as url:
        yield Office(tmp_path, repo, app, url, published)
    store.close()


def make_node(office: Office, name: str = "kiosk-1", role: str = "kiosk", version: str = "1.0.0") -> Node:
    base = office.tmp / name
    root = base / "opt"
    root.mkdir(parents=True)
    (root / "tuf").mkdir()
    # The trust anchor provisioning puts on the card: the office's first root metadata.
    (root / "tuf" / "root.json").write_bytes((office.repo.metadata_dir / "1.root.json").read_bytes())
    config = base / "node.yaml"
    counter = "counter: c1\n" if role == "pad" else ""
    config.write_text(f"node: {name}\nrole: {role}\noffice: demo\ndata_dir: data\n{counter}")
    install_initial(root, version, base)
    return Node(root, config, base / "data", office)


@pytest.fixture
def node(office: Office) -> Node:
    return make_node(office)
