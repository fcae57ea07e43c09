"""Power lost in the middle of an update leaves a node that starts.

The real ``cherga update`` process is stopped at each step (``CHERGA_UPDATER_PAUSE_AT``: it says
where it is in a file and waits) and killed with SIGKILL there, as a power cut would. Then the node
must start a complete release from ``current``, and the next run of the updater must finish the job
(or, past the switch, leave the trial to settle) with nothing half-done left on the card.
"""

from __future__ import annotations

import os
import signal
import subprocess

import pytest

from cherga.firmware_host.updater.client import PAUSE_ENV, STEPS
from tests.support.wait import wait_until
from tests.updates.conftest import REPO, Node, Office


@pytest.mark.parametrize("step", STEPS)
def test_kill_9_at_each_step_leaves_a_node_that_starts_and_the_next_run_finishes(
        office: Office, node: Node, step: str) -> None:
    office.release("1.1.0", padding=300_000)  # several chunks: "download" is cut mid-file
    proc = subprocess.Popen(node.update_cmd(), cwd=REPO, env={**node.env, PAUSE_ENV: step},
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        wait_until(lambda: (node.root / f".paused-{step}").exists() or proc.poll() is not None,
                   what=f"the updater reaching {step}")
        assert proc.poll() is None, f"the updater ended before {step}: {proc.stderr.read().decode() if proc.stderr else ''}"
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    (node.root / f".paused-{step}").unlink()

    switched = step == "restart"  # killed after the rename: the new release is current, on trial
    assert node.layout.current() == ("slot-b" if switched else "slot-a")
    assert node.run_current() == ("1.1.0" if switched else "1.0.0"), "current must hold a complete, runnable release"

    outcome = node.update()
    if switched:
        assert outcome["outcome"] == "waiting_trial"
    else:
        assert outcome["outcome"] == "installed" and outcome["version"] == "1.1.0", outcome
    assert node.layout.current() == "slot-b" and node.run_current() == "1.1.0"
    assert node.layout.trial() is not None and node.layout.trial()["previous"] == "slot-a"  # type: ignore[index]
    assert not (node.root / ".staging").exists()
    assert not list(node.root.glob("downloads/*.part"))
    assert (node.root / "slot-a" / "bin" / "cherga").exists(), "the fallback slot survives"
