"""Benchmark: a node's signed update, end to end on loopback.

The real office server (uvicorn) serves a repository made by provisioning's code; the real
``NodeUpdater`` (python-tuf ngclient) checks it and installs a bundle of ``--mb`` megabytes of
incompressible data plus the node program into the other slot. Measured:

* ``check_up_to_date_ms``: a run that finds nothing new (metadata refresh + release record) — what
  the hourly timer costs on every node;
* ``install_s``: a run that installs (download, verify on disk, unpack, fsync, switch);
* ``cli_up_to_date_s``: the whole ``cherga update`` process for "nothing new" (Python start included),
  and its CPU seconds (``cli_up_to_date_cpu_s``).

    .venv/bin/python bench/updates.py [--quick]

The last line is one JSON object.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from cherga.firmware_host.updater.client import NodeUpdater  # noqa: E402
from cherga.firmware_host.updater.slots import Layout  # noqa: E402
from cherga.provisioning.updates import UpdateRepo  # noqa: E402
from cherga.server.app import create_app  # noqa: E402
from cherga.server.siteconfig import load_site_config  # noqa: E402
from tests.support.browser import serving  # noqa: E402
from tests.updates.conftest import install_initial, make_bundle  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--mb", type=float, default=None, help="bundle payload in MB (default 40, quick 8)")
    parser.add_argument("--rounds", type=int, default=None)
    args = parser.parse_args()
    mb = args.mb if args.mb is not None else (8.0 if args.quick else 40.0)
    rounds = args.rounds or (3 if args.quick else 8)
    now = dt.datetime.now(dt.UTC)
    with tempfile.TemporaryDirectory() as tmp_s:
        tmp = Path(tmp_s)
        repo = UpdateRepo(tmp / "repo")
        repo.init(tmp / "root.pem", now=now)
        published = tmp / "served"
        app = create_app(load_site_config(REPO / "examples/demo-office.yaml"), f"sqlite:///{tmp / 'o.sqlite'}",
                         sweep_interval=None)
        app.state.updates_dir = published
        installs, checks, clis, cli_cpu = [], [], [], []
        with serving(app) as url:
            for i in range(rounds):
                version = f"1.{i + 1}.0"
                repo.add(make_bundle(tmp / f"b{i}.tar.gz", version, padding=int(mb * 2**20)), version, now=now)
                repo.publish(published)
                root = tmp / f"node{i}"
                (root / "tuf").mkdir(parents=True)
                (root / "tuf" / "root.json").write_bytes((repo.metadata_dir / "1.root.json").read_bytes())
                install_initial(root, "1.0.0", tmp)
                updater = NodeUpdater(Layout(root), node="kiosk-1", role="kiosk", server=f"{url}/updates/")
                t0 = time.perf_counter()
                outcome = updater.run()
                installs.append(time.perf_counter() - t0)
                assert outcome.outcome == "installed", outcome
                (root / "trial.json").unlink()
                t0 = time.perf_counter()
                again = updater.run()
                checks.append((time.perf_counter() - t0) * 1000)
                assert again.outcome == "up_to_date", again
                config = tmp / f"node{i}.yaml"
                config.write_text("node: kiosk-1\nrole: kiosk\noffice: demo\ndata_dir: data\n")
                t0 = time.perf_counter()
                cpu0 = resource.getrusage(resource.RUSAGE_CHILDREN)
                done = subprocess.run([str(Path(sys.executable).parent / "cherga"), "update", "-c", str(config),
                                       "--root", str(root), "--server", f"{url}/updates/"],
                                      capture_output=True, text=True, check=True)
                clis.append(time.perf_counter() - t0)
                cpu1 = resource.getrusage(resource.RUSAGE_CHILDREN)
                cli_cpu.append(cpu1.ru_utime + cpu1.ru_stime - cpu0.ru_utime - cpu0.ru_stime)
                assert json.loads(done.stdout.splitlines()[-1])["outcome"] == "up_to_date"
    result = {"bench": "updates", "quick": args.quick, "bundle_mb": round(mb, 1), "rounds": rounds,
              "install_s_median": round(statistics.median(installs), 3), "install_s_max": round(max(installs), 3),
              "install_mb_per_s": round(mb / statistics.median(installs), 1),
              "check_up_to_date_ms_median": round(statistics.median(checks), 1),
              "check_up_to_date_ms_max": round(max(checks), 1),
              "cli_up_to_date_s_median": round(statistics.median(clis), 3),
              # CPU of that process: the wall time above includes waiting for a shared, loaded machine.
              "cli_up_to_date_cpu_s_median": round(statistics.median(cli_cpu), 3)}
    print(json.dumps(result))


if __name__ == "__main__":
    main()
