"""The arm64 proof: every role installed by its generated first-boot script into an arm64 Debian
bookworm root (qemu-user-static), started there, and one ticket carried from kiosk to pad to display.

Run as root with the internet (``make arm64-proof``; not part of ``make test``: it takes many
minutes — FACTS: the root ~4.5 min, each role's install ~1 min under qemu). Steps:

1. ``mmdebstrap --arch=arm64 --variant=apt bookworm`` builds a root once (kept in
   ``$CHERGA_ARM64_DIR``, default ``/var/tmp/cherga-arm64-proof``; delete it to start over);
2. ``cherga provision wheels --python 3.11`` gathers the arm64 wheelhouse (the documented command);
3. ``cherga provision bundle`` makes one bundle per role; each goes into its own copy of the root
   under ``/boot/firmware/cherga/`` and its ``firstboot.sh enable-only`` runs there, in a chroot;
4. the office (Mosquitto + the Cherga server) runs on the host, as :class:`cherga.office.Office`
   starts it; each node runs ``/opt/cherga/current/bin/cherga node`` inside its arm64 root (the work
   folder and the control sockets are bind-mounted at the same paths), with emulated hardware;
5. a citizen takes a ticket at the kiosk, the operator presses "next" on the pad, the display
   shows the call. The last line of output is one JSON object with the timings.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from cherga.broker_bridge.embedded import free_port  # noqa: E402
from cherga.office import Layout, Office, _Proc  # noqa: E402
from tests.hil.scenario import press, sign_in, take_ticket, wait_office  # noqa: E402

WORK = Path(os.environ.get("CHERGA_ARM64_DIR", "/var/tmp/cherga-arm64-proof"))
SUITE = "bookworm"
PIN = "1111"  # the demo operator the server creates (CHERGA_DEMO_ACCOUNTS)
LAYOUT = Layout(kiosks=["kiosk-1"], displays=["display-1"], pads={"pad-c1": "c1"})
# mmdebstrap needs arch-test to build a root of a foreign architecture ("E: install arch-test").
TOOLS = {"mmdebstrap": "mmdebstrap", "qemu-aarch64-static": "qemu-user-static", "update-binfmts": "binfmt-support",
         "arch-test": "arch-test"}


def run(*argv: str | Path) -> subprocess.CompletedProcess[str]:
    print("+", " ".join(str(a) for a in argv), flush=True)
    return subprocess.run([str(a) for a in argv], check=True, text=True)


def ensure_tools() -> None:
    missing = sorted({pkg for tool, pkg in TOOLS.items() if shutil.which(tool) is None})
    if missing:
        run("apt-get", "install", "-y", "--no-install-recommends", *missing)
    if not Path("/proc/sys/fs/binfmt_misc/qemu-aarch64").exists():
        subprocess.run(["update-binfmts", "--enable", "qemu-aarch64"], check=False)
    if not Path("/proc/sys/fs/binfmt_misc/qemu-aarch64").exists():
        sys.exit("binfmt_misc has no qemu-aarch64 entry: arm64 programs cannot run here "
                 "(mount binfmt_misc, or run on a host that allows it)")


def build_root(base: Path) -> float:
    if (base / "usr/bin/python3").exists():
        return 0.0
    started = time.monotonic()
    tmp = base.with_name(base.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    run("mmdebstrap", "--arch=arm64", "--variant=apt",
        "--include=python3,python3-venv,ca-certificates,systemd,passwd,adduser,procps", SUITE, tmp)
    tmp.rename(base)
    return time.monotonic() - started


def gather_wheels(wheels: Path) -> float:
    started = time.monotonic()
    wheels.mkdir(parents=True, exist_ok=True)
    for old in wheels.glob("cherga-*.whl"):
        old.unlink()  # this checkout's wheel, not an older one
    run(sys.executable, "-m", "cherga", "provision", "wheels", wheels, "--source", REPO, "--python", "3.11")
    return time.monotonic() - started


@contextlib.contextmanager
def mounted(root: Path, shared: list[Path]) -> Iterator[None]:
    """/proc, /sys, /dev and ``shared`` folders (same path inside) for a chroot; undone on exit."""
    targets = []
    try:
        for src, opts in (("/proc", ["-t", "proc", "proc"]), ("/sys", ["--rbind", "/sys"]),
                          ("/dev", ["--rbind", "/dev"]), *((str(p), ["--bind", str(p)]) for p in shared)):
            dst = root / src.lstrip("/")
            dst.mkdir(parents=True, exist_ok=True)
            run("mount", *opts, dst)
            targets.append(dst)
        shutil.copy("/etc/resolv.conf", root / "etc/resolv.conf")
        yield
    finally:
        for dst in reversed(targets):
            subprocess.run(["umount", "-R", "-l", str(dst)], check=False)


def install_node(base: Path, bundle: Path, root: Path) -> float:
    """A fresh copy of the root, the bundle on its 'boot partition', the generated first boot run in it."""
    shutil.rmtree(root, ignore_errors=True)
    run("cp", "-a", "--reflink=auto", base, root)
    shutil.copytree(bundle, root / "boot/firmware/cherga")
    started = time.monotonic()
    with mounted(root, []):
        result = subprocess.run(["chroot", str(root), "bash", "/boot/firmware/cherga/firstboot.sh", "enable-only"],
                                text=True, capture_output=True)
    took = time.monotonic() - started
    log = (root / "var/log/cherga-firstboot.log").read_text(errors="replace")
    if result.returncode != 0 or not (root / "etc/cherga/firstboot.done").exists():
        sys.exit(f"first boot failed in {root}:\n{result.stdout}{result.stderr}\n{log[-4000:]}")
    print(log[-1500:], flush=True)
    return took


class ArmOffice(Office):
    """The office on the host; each node inside its arm64 root."""

    roots: dict[str, Path] = {}
    _mounts: contextlib.ExitStack

    def start(self) -> None:
        self._mounts = contextlib.ExitStack()
        for root in self.roots.values():
            self._mounts.enter_context(mounted(root, [self.workdir, self.socket_dir]))
        super().start()

    def stop(self) -> None:
        try:
            super().stop()
        finally:
            self._mounts.close()

    def start_node(self, nid: str) -> None:
        node = next(n for n in self.layout.nodes() if n["id"] == nid)
        path = self.workdir / "nodes" / f"{nid}.yaml"
        path.write_text(yaml.safe_dump(self.node_config(node), allow_unicode=True, sort_keys=False), encoding="utf-8")
        sock = self.socket_dir / f"{nid}.sock"
        argv = ["chroot", str(self.roots[nid]), "/opt/cherga/current/bin/cherga", "node", "--config", str(path)]
        env = self._env(CHERGA_TEST_SOCKET=str(sock), PATH="/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin")
        proc = _Proc(nid, argv, env, self.workdir / "logs" / f"{nid}.log")
        proc.start()
        self.procs[nid] = proc

    def wait_nodes_ready(self, timeout: float = 600.0) -> None:  # Python under qemu starts slowly
        super().wait_nodes_ready(timeout)


def main() -> int:
    if os.geteuid() != 0:
        sys.exit("the arm64 proof needs root (mmdebstrap, chroot, mounts)")
    ensure_tools()
    WORK.mkdir(parents=True, exist_ok=True)
    timings: dict[str, float] = {}
    base = WORK / f"{SUITE}-arm64"
    timings["root_s"] = build_root(base)
    wheels = WORK / "wheels"
    timings["wheels_s"] = gather_wheels(wheels)

    port = free_port()
    inventory = WORK / "office.yaml"
    inventory.write_text(yaml.safe_dump({
        # tls: false on purpose: the nodes join the development office's own plain broker (cherga office);
        # what this proves is the arm64 install, TLS is proven in tests/provisioning.
        "office": "demo", "broker": {"host": "127.0.0.1", "port": port, "tls": False}, "timezone": "Europe/Kyiv",
        "network": {}, "nodes": [{"id": n["id"], "role": n["role"], **({"counter": n["counter"]} if "counter" in n else {})}
                                  for n in LAYOUT.nodes()]}, sort_keys=False))
    state = WORK / "state"
    shutil.rmtree(state, ignore_errors=True)
    run(sys.executable, "-m", "cherga", "provision", "bundle", inventory, "--state-dir", state, "--wheels", wheels)
    roots = {}
    for node in LAYOUT.nodes():
        nid = node["id"]
        roots[nid] = WORK / f"node-{nid}"
        timings[f"install_{node['role']}_s"] = install_node(base, state / "bundles" / nid, roots[nid])

    started = time.monotonic()
    ArmOffice.roots = roots
    with ArmOffice(REPO / "examples" / "demo-office.yaml", WORK / "office", layout=LAYOUT, broker_port=port) as office:
        timings["nodes_ready_s"] = time.monotonic() - started
        t0 = time.monotonic()
        label = take_ticket(office, "kiosk-1", "passport")["big"]
        sign_in(office, "pad-c1", PIN)
        press(office, "pad-c1", "next")
        wait_office(lambda: office.node("pad-c1").call("view")["number"] == label, timeout=120, what="pad calls it")
        calls = wait_office(lambda: (c := office.node("display-1").call("calls")) and c[0][0] == label and c,
                            timeout=120, what="the display shows it")
        timings["ticket_to_display_s"] = time.monotonic() - t0
    print(json.dumps({"bench": "arm64_proof", "ticket": label, "display_row": calls[0],
                      **{k: round(v, 1) for k, v in timings.items()}}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
