"""The mobile office kit survives power loss at any moment (issue 21).

The kit runs for real (``cherga mobile run``: Mosquitto, the server on SQLite with its MQTT bridge)
beside a simulated kiosk process that asks for tickets over the kit's broker, exactly as the kiosk
role does (``kiosk/{node}/request/issue``, one command id per ticket, resent unchanged until answered,
printed once answered). Several rounds: a part killed alone (the kit starts it again), then every
process ``kill -9``-ed in a random order at a random moment, then everything started again.

Afterwards: every ticket the kiosk printed is in the database once with the printed label, no
number was given twice, nothing was issued for a request that was not sent, the database passes
``PRAGMA integrity_check``, and the event log has no hole.

``kill -9`` loses what a process held in memory, not what the kernel had accepted: a real power cut
also loses the page cache, which SQLite's ``synchronous=FULL`` (every commit fsynced before it returns,
hence before any kiosk prints) covers; this test cannot cut the power of the machine it runs on.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
import yaml

from tests.support.mosquitto import free_port
from tests.support.wait import wait_until

REPO = Path(__file__).resolve().parents[2]
REGION = REPO / "examples" / "region"
ALL_DAY = {d: [{"start": "00:00", "end": "24:00"}] for d in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")}

# The simulated kiosk: what kiosk/ does with a ticket request, with a durable "next command" file and
# a "printed" file (one fsynced JSON line per ticket handed to the citizen).
KIOSK = r"""
import datetime as dt, json, os, sys, threading
from pathlib import Path
import paho.mqtt.client as mqtt
from cherga.broker_bridge import contract

folder, port, office, node = Path(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4]
services = ["passport", "foreign-passport", "residence"]
state, printed = folder / "next", folder / "printed"
answers, got = {}, threading.Condition()

def on_connect(client, userdata, flags, reason, properties):
    client.subscribe(contract.topic("kiosk_response", office, node=node), qos=1)

def on_message(client, userdata, msg):
    reply = json.loads(msg.payload)
    with got:
        answers[reply["id"]] = reply
        got.notify_all()

client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"sim-{node}")
client.on_connect, client.on_message = on_connect, on_message
client.reconnect_delay_set(0.1, 0.5)
client.connect_async("127.0.0.1", port, keepalive=5)
client.loop_start()

def durable_write(path, text):
    tmp = path.with_suffix(".tmp")
    with open(tmp, "w") as f:
        f.write(text); f.flush(); os.fsync(f.fileno())
    os.replace(tmp, path)

n = int(state.read_text()) if state.exists() else 0
while True:
    cmd = f"{node}-{n}"
    request = contract.IssueTicket(id=cmd, node=node, ts=dt.datetime.now(dt.UTC), service=services[n % 3])
    with got:
        while cmd not in answers:
            if client.is_connected():
                client.publish(contract.topic("kiosk_issue", office, node=node), request.to_bytes(), qos=1)
            got.wait(1.0)  # no answer: the same command again (the server applies it once)
        reply = answers.pop(cmd)
    if reply["status"] != "ok":
        sys.exit(f"refused: {reply}")
    t = reply["ticket"]
    line = json.dumps({"cmd": cmd, "ticket_id": t["ticket_id"], "label": t["label"], "number": t["number"]}) + "\n"
    fd = os.open(printed, os.O_WRONLY | os.O_APPEND | os.O_CREAT)
    os.write(fd, line.encode()); os.fsync(fd); os.close(fd)
    n += 1
    durable_write(state, str(n))
"""


def _kit_config(path: Path) -> Path:
    """The example bus (kr-mobile), open round the clock, with one kiosk node."""
    data = yaml.safe_load((REGION / "kr-mobile.yaml").read_text(encoding="utf-8"))
    data["hours"] = {"days": ALL_DAY, "breaks": []}
    for s in data["services"]:
        s.pop("daily_cap", None)
        s.pop("hours", None)
    data["closing"] = {"warn_walk_ins": False}
    data["appointments"] = {"per_slot": 0}  # round the clock would need more booked numbers; the bus books none
    data["nodes"] = [{"id": "k1", "role": "kiosk"}]
    path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return path


def _children(pid: int) -> list[int]:
    with contextlib.suppress(OSError):
        return [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    return []


def _cmdline(pid: int) -> str:
    with contextlib.suppress(OSError):
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    return ""


def _printed(folder: Path) -> list[dict[str, object]]:
    path = folder / "printed"
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def _gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    # A zombie is dead too (its parent, killed, has not been reaped yet, or it is our own child).
    return "State:\tZ" in Path(f"/proc/{pid}/status").read_text() if Path(f"/proc/{pid}/status").exists() else True


@pytest.mark.slow
@pytest.mark.mosquitto
def test_the_kit_loses_no_printed_ticket_and_repeats_no_number_through_kill_9_rounds(tmp_path: Path) -> None:
    config = _kit_config(tmp_path / "kit.yaml")
    workdir, kiosk_dir = tmp_path / "kit", tmp_path / "kiosk"
    kiosk_dir.mkdir()
    port, broker_port = free_port(), free_port()
    env = {**os.environ, "CHERGA_LOG_LEVEL": "WARNING", "PYTHONUNBUFFERED": "1"}
    kit_argv = [sys.executable, "-m", "cherga", "mobile", "run", "--config", str(config),
                "--home", str(REGION / "kr-central.yaml"), "--workdir", str(workdir), "--host", "127.0.0.1",
                "--port", str(port), "--broker-port", str(broker_port)]
    kiosk_argv = [sys.executable, "-c", KIOSK, str(kiosk_dir), str(broker_port), "kr-mobile", "k1"]
    rng = random.Random(int(os.environ.get("CHERGA_SEED", "21")))
    kit_log = open(tmp_path / "kit.log", "ab")  # noqa: SIM115 - closed at the end
    kiosk_log = open(tmp_path / "kiosk.log", "ab")  # noqa: SIM115
    procs: list[subprocess.Popen[bytes]] = []

    def tails() -> str:
        logs = [tmp_path / "kit.log", tmp_path / "kiosk.log", *sorted((workdir / "logs").glob("*.log"))]
        return "\n".join(f"--- {p.name}\n" + p.read_text(errors="replace")[-1500:] for p in logs if p.exists())

    def progress(more: int) -> None:
        target = len(_printed(kiosk_dir)) + more

        def printed_enough() -> bool:
            assert all(p.poll() is None for p in procs[-2:]), f"the kit or the kiosk exited:\n{tails()}"
            return len(_printed(kiosk_dir)) >= target

        wait_until(printed_enough, timeout=60,
                   what=lambda: f"the kiosk printed {len(_printed(kiosk_dir))} of {target}:\n{tails()}")

    cuts = 0
    try:
        for round_no in range(4):
            kit = subprocess.Popen(kit_argv, env=env, stdout=kit_log, stderr=subprocess.STDOUT)
            kiosk = subprocess.Popen(kiosk_argv, env=env, stdout=kiosk_log, stderr=subprocess.STDOUT)
            procs += [kit, kiosk]
            progress(5)
            if round_no % 2 == 1:
                # One part dies alone (the server, or the broker under it): the kit starts it again.
                part = "cherga server" if round_no == 1 else "mosquitto"
                (pid,) = [c for c in _children(kit.pid) if part in _cmdline(c)]
                os.kill(pid, signal.SIGKILL)
                progress(3)
            time.sleep(rng.uniform(0.0, 0.6))
            # The power cord: every process, in a random order, within a few milliseconds.
            victims = [kit.pid, kiosk.pid, *_children(kit.pid)]
            rng.shuffle(victims)
            for pid in victims:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
                time.sleep(rng.uniform(0.0, 0.01))
            kit.wait(10)
            kiosk.wait(10)
            wait_until(lambda: all(_gone(pid) for pid in victims), timeout=30,  # noqa: B023 - waited for here
                       what="every kit process gone after the cut")
            cuts += 1
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
        kit_log.close()
        kiosk_log.close()

    printed = _printed(kiosk_dir)
    assert cuts == 4 and len(printed) >= 4 * 5 + 2 * 3
    db = sqlite3.connect(workdir / "cherga.db")
    try:
        assert db.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        tickets = {row[0]: row[1:] for row in db.execute(
            "SELECT id, prefix, number, number_service, day FROM tickets WHERE office = 'kr-mobile'")}
        seqs = [row[0] for row in db.execute("SELECT seq FROM events WHERE office = 'kr-mobile' ORDER BY seq")]
        issued = Counter(row[0] for row in db.execute(
            "SELECT ticket_id FROM events WHERE office = 'kr-mobile' AND kind = 'issued'"))
    finally:
        db.close()

    # Every printed ticket is stored, under the label on the paper; a command printed twice (the
    # kiosk died between printing and noting it) is the same ticket both times.
    by_cmd: dict[str, set[str]] = {}
    for paper in printed:
        by_cmd.setdefault(str(paper["cmd"]), set()).add(str(paper["ticket_id"]))
        prefix, number = tickets[str(paper["ticket_id"])][:2]
        assert paper["label"] == f"{prefix}-{number:03d}" and paper["number"] == number
    assert all(len(ids) == 1 for ids in by_cmd.values()), "one request got two tickets"
    # Nothing issued twice: at most the last request of the last round was applied and never answered.
    assert len(by_cmd) <= len(tickets) <= len(by_cmd) + 1
    numbers = [(service, day, number) for _, number, service, day in tickets.values()]
    assert len(numbers) == len(set(numbers)), "a number was given twice the same day"
    assert all(850 <= number <= 919 for _, number, _, _ in tickets.values()), "a number outside the bus's range"
    # The event log: no hole, and exactly one 'issued' for each stored ticket.
    assert seqs == list(range(seqs[0], seqs[0] + len(seqs))) and seqs[0] == 1
    assert issued == Counter(dict.fromkeys(tickets, 1))
